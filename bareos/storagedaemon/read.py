"""Restore: the records a bootstrap selects, from the volumes to the file daemon.

The job's worker thread reads blocks, reassembles records (split across
blocks and volumes), applies the bootstrap's filters (session, address
ranges, FileIndex ranges; labels are never sent) and frames each record as
``rechdr <sid> <stime> <FileIndex> <Stream> <len>`` + one data packet, in
batches of a few MiB.  The reactor writes one batch to the transport and asks
for the next batch only when the transport has drained (a push producer
registered on it), while the worker already prepares the batch after it: at
most about three batches are ever in memory, whatever the size of the restore.

A copy or migration between storage daemons reads the same way and sends the records in
the file daemon's append format instead (``ReplicaSource``: a header per piece of a
file, its data packets, EOD), to the storage daemon that writes them (sd_replicate.py).
"""

import os
import struct

from twisted.internet import defer
from twisted.internet.interfaces import IPushProducer
from zope.interface import implementer

from bareos.protocol.framing import Signal
from bareos.protocol.jobstatus import JobStatus
from bareos.storagedaemon import protocol as P
from bareos.volume import FileVolume, RecordAssembler, VolumeError

BATCH_BYTES = 4 << 20
_LENGTH = struct.Struct("!i")


def find_volume_directory(entry, devices, preferred=None):
    """The Archive Device directory holding ``entry.volume``; VolumeError if none does."""
    order = []
    named = next((d for d in devices if d.name == entry.device), None) if entry.device else None
    for device in (named, preferred):
        if device is not None and device not in order:
            order.append(device)
    order += [d for d in devices if d not in order
              and (entry.media_type is None or d.media_type == entry.media_type)]
    for device in order:
        if os.path.isfile(os.path.join(device.archive_device, entry.volume)):
            return device
    looked = ", ".join(d.archive_device for d in order) or "no device of that media type"
    raise VolumeError(f"volume file not found (looked in {looked})", volume=entry.volume)


class RecordSource:
    """Worker side: ``next_batch()`` -> (framed bytes, files, data bytes) or None at the end."""

    def __init__(self, entries, devices, preferred=None, batch_bytes=BATCH_BYTES):
        self.entries = entries
        self.devices = devices
        self.preferred = preferred
        self.batch_bytes = batch_bytes
        self.volume_name = None
        self._records = self._iter_records()
        self._last_file = None
        self._failure = None        # a read error, raised once the records before it went out

    def _iter_records(self):
        assembler = RecordAssembler()
        for entry in self.entries:
            self.volume_name = entry.volume         # named in the error if it cannot be read
            device = find_volume_directory(entry, self.devices, self.preferred)
            volume = FileVolume.open(device.archive_device, entry.volume, writable=False)
            assembler.volume = entry.volume
            try:
                for start, end in entry.address_ranges():
                    for block in volume.iter_blocks(start, end):
                        if not entry.wants_session(block.session_id, block.session_time):
                            continue
                        for sid, stime, record in assembler.feed(block):
                            if record.file_index < 0 or not entry.wants_file_index(record.file_index):
                                continue
                            yield sid, stime, record
            finally:
                volume.close()

    def _frame(self, sid, stime, record):
        """The packets (as length-prefixed parts) that carry ``record`` to the file daemon."""
        data = record.data
        header = P.rechdr(sid, stime, record.file_index, record.stream, len(data))
        return (_LENGTH.pack(len(header)), header, _LENGTH.pack(len(data)), data)

    def next_batch(self):
        """The next batch; a damaged block raises VolumeError, but only after the records
        read before it were handed out (so a verify job can tell which file is damaged)."""
        if self._failure is not None:
            raise self._failure
        parts = []
        size = files = nbytes = 0
        limit = self.batch_bytes
        try:
            for sid, stime, record in self._records:
                framed = self._frame(sid, stime, record)
                parts += framed
                key = (sid, stime, record.file_index)
                if key != self._last_file:
                    self._last_file = key
                    files += 1
                nbytes += len(record.data)
                size += sum(len(part) for part in framed)
                if size >= limit:
                    break
        except (VolumeError, OSError) as exc:
            if not parts:
                raise
            self._failure = exc
        if not parts:
            return None
        return b"".join(parts), files, nbytes


class ReplicaSource(RecordSource):
    """The records as the append stream a file daemon sends (PROTOCOL.md §7.2, §7.4): a
    header ``<FileIndex> <Stream> 0`` whenever the file or stream changes, after an EOD
    that ends the piece before; the caller ends the last piece and the stream (two EODs)."""

    _EOD = _LENGTH.pack(Signal.EOD)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._piece = None

    def _frame(self, sid, stime, record):
        data = record.data
        piece = (sid, stime, record.file_index, record.stream)
        if piece == self._piece:
            return (_LENGTH.pack(len(data)), data)
        header = b"%d %d 0" % (record.file_index, record.stream)
        opening = () if self._piece is None else (self._EOD,)
        self._piece = piece
        return opening + (_LENGTH.pack(len(header)), header, _LENGTH.pack(len(data)), data)


@implementer(IPushProducer)
class _Pacer:
    """Registered on the FD transport: tells when its write buffer has drained."""

    def __init__(self):
        self.paused = False
        self._waiters = []

    def pauseProducing(self):
        self.paused = True

    def resumeProducing(self):
        self.paused = False
        self._wake()

    def stopProducing(self):
        self.paused = False
        self._wake()

    def _wake(self):
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            waiter.callback(None)

    def wait(self):
        if not self.paused:
            return defer.succeed(None)
        waiter = defer.Deferred()
        self._waiters.append(waiter)
        return waiter


async def stream_records(job, conn, worker, source):
    """Send ``source``'s batches on ``conn`` as fast as it takes them; True if all went.

    A volume that cannot be read fails the job (the reason goes to the director)."""
    transport = conn.transport
    pacer = _Pacer()
    transport.registerProducer(pacer, True)
    ok = True
    pending = worker.call(source.next_batch)
    try:
        while True:
            try:
                batch = await pending
            except (VolumeError, OSError) as exc:
                pending = None
                job.fatal(f"Error reading Volume \"{source.volume_name}\": {exc}")
                ok = False
                break
            pending = None
            if batch is None or job.canceled or not conn.is_open:
                break
            pending = worker.call(source.next_batch)
            blob, files, nbytes = batch
            job.volume_name = source.volume_name
            transport.write(blob)
            job.files += files
            job.bytes += nbytes
            await pacer.wait()      # the connection's loss stops the pacer too
    finally:
        try:
            transport.unregisterProducer()
        except Exception:
            pass
        if pending is not None:
            try:
                await pending
            except Exception:
                pass
    return ok and not job.canceled and conn.is_open


class ReadSession:
    """One ``read data`` of a restore job."""

    def __init__(self, job, conn, worker):
        self.job = job
        self.conn = conn
        self.worker = worker

    async def run(self):
        job, conn = self.job, self.conn
        if not job.bootstrap:
            job.fatal("No Volume names found for restore.")
            conn.send(P.FD_READ_ERROR)
            return False
        source = RecordSource(job.bootstrap, job.daemon.devices.devices, job.device)
        conn.send(P.OK_DATA)
        job.set_status(JobStatus.RUNNING, announce=True)
        ok = await stream_records(job, conn, self.worker, source)
        if job.canceled or not conn.is_open:
            if not job.canceled:
                job.fatal("Connection to the File daemon lost during restore.")
            return False
        conn.send_signal(Signal.EOD)
        if ok:
            job.set_status(JobStatus.TERMINATED)
        return ok
