"""keep_freed_memory: buffers of the data daemons' sizes come from the reused heap, not
from an mmap of their own (checked in a fresh interpreter through glibc's mallinfo2)."""

import subprocess
import sys

import pytest

PROBE = r"""
import ctypes, sys
from bareos.daemon.memory import keep_freed_memory

class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
        "uordblks", "fordblks", "keepcost")]

libc = ctypes.CDLL(None)
libc.mallinfo2.restype = MallInfo2
if sys.argv[1] == "tuned":
    assert keep_freed_memory()
before = libc.mallinfo2().hblks  # chunks that have their own mmap
buffer = bytes(1 << 20)          # a storage daemon's socket read
print(libc.mallinfo2().hblks - before)
"""


def own_mmaps(mode):
    out = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True)
    return int(out.stdout)


def test_large_buffers_come_from_the_heap_once_tuned():
    try:
        own_mmaps("default")
    except subprocess.CalledProcessError as exc:
        if "mallinfo2" in exc.stderr:
            pytest.skip("not glibc 2.33 or later")
        raise
    assert own_mmaps("default") == 1    # glibc's default: a 1 MiB buffer is an mmap of its own
    assert own_mmaps("tuned") == 0
