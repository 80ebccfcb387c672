"""CPU cost of the streaming paths, in process: instructions (or CPU seconds) per GiB.

Two paths, each measured alone so the figure is the daemon's own work:

* ``sd``: the storage daemon's append path.  64 KiB records, batched as
  ``append._receive`` batches them, go through ``append._write_records`` into a
  ``SessionWriter`` on a real ``FileVolume`` in a temporary directory (blocks of
  64,512 bytes, CRC, ``pwritev``), then flush.
* ``sd-recv`` / ``sd-recv-tls``: the storage daemon's packet decoder
  (``framing.PacketDecoder``) on the FD's packets for 64 KiB records, fed in
  1 MiB pieces (the SD's reads of a TCP transport) or 16 KiB ones (TLS records).
* ``write-size`` (CPU seconds only): buffered ``pwrite`` of 64,512 bytes (one block
  per call, as the SD writes now) against 1 MiB (16 blocks per call, as before),
  in turns, into a new file: the kernel's page-cache cost alone.
* ``fd`` / ``fd-nosig``: the file daemon's read -> digest (MD5, or none) -> frame
  path: ``backup_records`` over files in a temporary directory, framed and batched
  by ``BackupStreamer._produce`` into a sink that drops the batches (the reactor
  and transport are replaced by direct calls; the socket send is not counted).

``--callgrind`` runs each path under ``valgrind --tool=callgrind`` twice (N MiB and
0 MiB) and prints (instructions(N) - instructions(0)) scaled to one GiB: repeatable
on a loaded machine, unlike wall or CPU time; it counts user space only (the
kernel's side of ``pwritev``/``read`` is not in it), and the whole process, so
making the input is in it too (for ``sd-recv*``, one join of the framed stream:
compare figures of one path, before and after a change).  Without it the user and
system CPU seconds per GiB of the work alone are printed (noisy when the machine
is busy; here the kernel's page-cache writes dominate the SD's system time).

    .venv/bin/python bench/stream_cpu.py --callgrind --mib 64
    .venv/bin/python bench/stream_cpu.py --path sd --mib 512
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from bareos.filedaemon.datachannel import BackupStreamer, frame_records  # noqa: E402
from bareos.filedaemon.fileset import FileSetSpec  # noqa: E402
from bareos.filedaemon.walk import backup_records  # noqa: E402
from bareos.protocol.framing import PacketDecoder  # noqa: E402
from bareos.storagedaemon.append import BATCH_BYTES, _write_records  # noqa: E402
from bareos.volume import FileVolume, Record, VolumeLabel  # noqa: E402

MIB = 1 << 20
GIB = 1 << 30
CHUNK = 64 * 1024  # the FD's read size, so the size of the SD's data records
PATHS = ("sd", "sd-recv", "sd-recv-tls", "fd", "fd-nosig")
# write-size: not a code path but the kernel's side of the SD's writes (CPU seconds only)
WRITE_SIZES = (64512, 1 << 20)       # one block per call (as now), 16 blocks per call (before)
WRITE_REGION = 32 * MIB
# what one dataReceived brings: the SD's 1 MiB reads of a TCP transport, a TLS record
RECV_CHUNKS = {"sd-recv": 1 << 20, "sd-recv-tls": 16 * 1024}


def _cpu_since(started):
    """(user, system) CPU seconds since ``started`` (an ``os.times()``)."""
    now = os.times()
    return now.user - started.user, now.system - started.system


def sd_path(work, mib):
    label = VolumeLabel("Bench-0001", pool_name="Full", media_type="File", host_name="bench",
                        label_prog="bench", prog_version="0", prog_date="0", label_btime=1, write_btime=1)
    payload = os.urandom(CHUNK)
    with FileVolume.create(work, "Bench-0001", label) as volume:
        writer = volume.append_session(1, 1)
        started = os.times()
        batch, size = [], 0
        file_index = 1
        for n in range(mib * MIB // CHUNK):
            if n % 16 == 0:  # a 1 MiB file: its attributes record, then its data
                file_index += 1
                batch.append(Record(file_index, 1, b"x" * 120))
            batch.append(Record(file_index, 2, payload))
            size += CHUNK + 12
            if size >= BATCH_BYTES:
                _write_records(writer, batch)
                batch, size = [], 0
        _write_records(writer, batch)
        writer.flush()
        return _cpu_since(started)


def sd_recv_path(mib, piece):
    payload = os.urandom(CHUNK)
    stream = b"".join(b"".join(pieces) for pieces in frame_records(
        Record(1 + n // 16, 2, payload) for n in range(mib * MIB // CHUNK)))
    decoder = PacketDecoder()
    with memoryview(stream) as view:
        started = os.times()
        for pos in range(0, len(stream), piece):
            decoder.feed(view[pos:pos + piece])
        return _cpu_since(started)


class _Inline:
    """Stands in for the reactor, the connection and its transport: calls go straight through.

    The transport copies what it is given into one buffer, as Twisted's TCP transport
    does (``abstract._concatenate``), and drops it.
    """

    is_open = True

    def __init__(self):
        self.transport = self
        self.sent = 0

    def callFromThread(self, fn, *args):
        fn(*args)

    def write(self, data):
        self.writeSequence([data])

    def writeSequence(self, parts):
        self.sent += len(b"".join([memoryview(b"")] + parts))


def fd_path(work, mib, signature):
    top = os.path.join(work, "data")
    os.mkdir(top)
    block = os.urandom(MIB)
    for n in range(mib):
        with open(os.path.join(top, f"f{n:04d}"), "wb") as f:
            f.write(block)
    spec = FileSetSpec.parse(["I\n", f"O {signature}\n", "N\n", f"F {top}", "N\n", "N\n"])
    inline = _Inline()
    streamer = BackupStreamer(inline, inline, None, None)
    started = os.times()
    streamer._produce(backup_records(spec))
    return _cpu_since(started)


def write_size_path(work, mib):
    """System CPU s per GiB of buffered pwrites into a new file, by write size.

    The sizes take turns region by region, so both meet the same state of the
    machine's memory (which moves the figures by a factor of ten here)."""
    buffers = {size: os.urandom(size) for size in WRITE_SIZES}
    spent = dict.fromkeys(WRITE_SIZES, 0.0)
    written = dict.fromkeys(WRITE_SIZES, 0)
    fd = os.open(os.path.join(work, "written"), os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        offset = 0
        for turn in range(max(1, mib * MIB // WRITE_REGION)):
            size = WRITE_SIZES[turn % len(WRITE_SIZES)]
            started, end = os.times(), offset + WRITE_REGION
            while offset < end:
                offset += os.pwrite(fd, buffers[size], offset)
            spent[size] += _cpu_since(started)[1]
            written[size] += WRITE_REGION
    finally:
        os.close(fd)
    return {size: spent[size] * GIB / written[size] for size in WRITE_SIZES if written[size]}


def run_path(path, mib):
    with tempfile.TemporaryDirectory(prefix="stream-cpu-") as work:
        if path == "sd":
            return sd_path(work, mib)
        if path in RECV_CHUNKS:
            return sd_recv_path(mib, RECV_CHUNKS[path])
        return fd_path(work, mib, "M" if path == "fd" else "")


def instructions(path, mib):
    cmd = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
           sys.executable, os.path.abspath(__file__), "--path", path, "--mib", str(mib)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stderr
    return int(re.search(r"Collected : (\d+)", out).group(1))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--path", choices=PATHS + ("write-size",), action="append",
                        help="path(s) to measure (default: all but write-size)")
    parser.add_argument("--dir", default="/var/tmp", help="where write-size writes (a disk, not a tmpfs)")
    parser.add_argument("--mib", type=int, default=64, help="MiB pushed through each path")
    parser.add_argument("--callgrind", action="store_true", help="count instructions under callgrind")
    args = parser.parse_args()
    for path in args.path or PATHS:
        if path == "write-size":
            with tempfile.TemporaryDirectory(prefix="stream-cpu-", dir=args.dir) as work:
                figures = write_size_path(work, args.mib)
            print("write-size " + ", ".join(f"{size:,}-byte writes {s:.2f}" for size, s in figures.items())
                  + f" system CPU s per GiB ({args.mib} MiB in turns of {WRITE_REGION // MIB} MiB)")
            continue
        if args.callgrind:
            per_gib = (instructions(path, args.mib) - instructions(path, 0)) * GIB / (args.mib * MIB)
            print(f"{path:9s} {per_gib / 1e9:8.3f} G instructions per GiB ({args.mib} MiB under callgrind)")
        else:
            user, system = run_path(path, args.mib)
            if not args.mib:  # the baseline run of --callgrind
                continue
            scale = GIB / (args.mib * MIB)
            print(f"{path:9s} {user * scale:8.3f} user + {system * scale:8.3f} system CPU s per GiB "
                  f"({args.mib} MiB)")


if __name__ == "__main__":
    main()
