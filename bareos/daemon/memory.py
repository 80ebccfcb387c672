"""Keep the memory a data daemon frees for its next allocations (glibc's malloc).

The file and storage daemons allocate and free buffers of 64 KiB to 1 MiB all the
time (file reads, socket reads, record batches).  By default glibc gives the top of
its heaps back to the kernel once 128 KiB of it is free, and serves the larger
buffers with fresh ``mmap``s; every later allocation then touches new pages, which
the kernel must zero (and which, on a VM with free page reporting, the host must
supply again): in the file daemon that was about a tenth of its CPU for a large
backup.  With these settings freed memory is reused; up to ``KEEP_FREE_BYTES`` of it
stays with the process between jobs (peak RSS is unchanged).
"""

import ctypes

M_TRIM_THRESHOLD = -1          # mallopt parameters (malloc.h)
M_MMAP_THRESHOLD = -3
KEEP_FREE_BYTES = 64 << 20     # free heap top kept before it is given back
MMAP_ABOVE_BYTES = 32 << 20    # only allocations larger than this get their own mmap


def keep_freed_memory() -> bool:
    """Tune glibc's malloc as above; False where it cannot be (not glibc)."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    # a fixed trim threshold also turns off glibc's adaptive mmap threshold: set both
    return bool(mallopt(M_TRIM_THRESHOLD, KEEP_FREE_BYTES)) and bool(mallopt(M_MMAP_THRESHOLD, MMAP_ABOVE_BYTES))
