"""Backup: records from the file daemon onto volumes (PROTOCOL.md §7.2, §8).

The reactor reads the FD's packets (header, data..., EOD per piece of a file),
turns each data packet into a record and collects records into batches of a
few MiB; the job's worker thread writes a batch while the reactor collects the
next one (one batch in flight, so memory stays flat; when the worker is behind,
the connection's queue fills and it pauses its transport, which slows the FD).

Volumes come from the director (``CatReq FindMedia``); a volume that does not
exist yet is labelled here.  When a volume reaches its ``MaxVolBytes`` it is
reported Full, the JobMedia for the part written is created and the session
continues on the next volume (a record split at the boundary continues there).
A full disk ends the job with a fatal error; the volume keeps every complete
block written before.
"""

import os
import socket
import time

from twisted.internet import defer

import bareos
from bareos.protocol.connection import ConnectionClosed
from bareos.protocol.framing import Signal, signal_name
from bareos.protocol.jobstatus import JobStatus
from bareos.storagedaemon import protocol as P
from bareos.storagedaemon.devices import OpenVolume
from bareos.storagedaemon.job import DirectorGone, JobFailed
from bareos.volume import (
    EOS_LABEL, PRE_LABEL, SOS_LABEL, FileVolume, Record, SessionLabel, VolumeError, VolumeFull,
    VolumeLabel, btime_now)

BATCH_BYTES = 4 << 20          # records handed to the worker at once
MAX_VOLUME_TRIES = 5           # FindMedia answers we try before giving up


class DiskFull(Exception):
    def __init__(self, cause):
        super().__init__(str(cause))
        self.cause = cause


def device_text(device):
    return f'"{device.name}" ({device.archive_device})'


# -- blocking parts (worker thread) ---------------------------------------------------

def _write_records(writer, records):
    """Write records; stop at VolumeFull: (number accepted, the VolumeFull or None)."""
    for index, record in enumerate(records):
        try:
            writer.write(record)
        except VolumeFull as exc:
            return index + 1, exc
    return len(records), None


def _catch_full(fn, *args):
    try:
        fn(*args)
    except VolumeFull as exc:
        return exc
    return None


def _only_label_block(volume):
    first = next(volume.iter_blocks(), None)
    return first is not None and first.size == volume.size


def open_or_label(device, info, pool_name, pool_type, sd_name):
    """Open the volume file for appending, labelling it when new, prelabelled or recycled.

    Returns (FileVolume, how) with how in opened / labeled / prelabeled / recycled.
    """
    directory = device.archive_device
    name = info.name
    path = os.path.join(directory, name)
    max_bytes = info.max_bytes or None

    def new_label(pool=None, media_type=None):
        now = btime_now()
        return VolumeLabel(
            volume_name=name, pool_name=pool or "", pool_type=pool_type or "Backup",
            media_type=media_type or device.media_type, host_name=socket.gethostname()[:127],
            label_prog=sd_name[:49], prog_version=f"Ver. {bareos.VERSION} {bareos.VERSION_DATE}"[:49],
            prog_date=time.strftime("Build %b %d %Y %H:%M:%S")[:49],
            label_btime=now, write_btime=now)

    if not os.path.isdir(directory):
        raise VolumeError(f"Archive Device {directory} is not a directory", volume=name)
    if os.path.exists(path):
        if info.status in ("Recycle", "Purged"):
            return FileVolume.create(directory, name, new_label(pool_name),
                                     max_volume_bytes=max_bytes, overwrite=True), "recycled"
        volume = FileVolume.open(directory, name, writable=True, max_volume_bytes=max_bytes)
        if volume.label_type == PRE_LABEL and _only_label_block(volume):
            old = volume.label
            volume.close()
            return FileVolume.create(directory, name, new_label(old.pool_name, old.media_type),
                                     max_volume_bytes=max_bytes, overwrite=True), "prelabeled"
        end, _blocks = volume.find_end()
        if end < info.bytes:
            # Data the catalog counts on is gone: never append after it (Bareos marks such
            # a volume in error).  The other way round see AppendSession._correct_catalog.
            volume.close()
            raise VolumeError(f"the sizes do not match: the volume file ends at {end} bytes, "
                              f"the catalog says {info.bytes}; not appending to it", volume=name)
        return volume, "opened"
    if info.bytes > 0:
        raise VolumeError(f"the catalog says it holds {info.bytes} bytes, but there is no file {path}",
                          volume=name)
    if not device.label_media:
        raise VolumeError(f"there is no volume file {path}, and the device has Label Media = no: "
                          f"label the volume with the console's label command, or set "
                          f"Label Media = yes", volume=name)
    return FileVolume.create(directory, name, new_label(pool_name),
                             max_volume_bytes=max_bytes), "labeled"


#: The answers at the end of the data, by who sends it: a file daemon's ``append data`` or
#: the reading storage daemon's ``replicate data`` of a copy (stored/append.cc).
_ENDINGS = {
    "FD": (P.OK_APPEND, P.FAILED_APPEND, b"3903 Error append data\n"),
    "SD": (b"3000 OK replicate data\n", b"3903 Error replicate data\n",
           b"3903 Error replicate data\n"),
}


class AppendSession:
    """One ``append data`` (``replicate data``) of a job: from FindMedia to the last JobMedia.

    ``peer``: who sends the records, "FD" or "SD" (the reading storage daemon of a copy)."""

    def __init__(self, job, conn, worker, peer="FD"):
        self.peer = peer
        self.ok_reply, self.failed_reply, self.error_reply = _ENDINGS[peer]
        self.job = job
        self.daemon = job.daemon
        self.conn = conn
        self.worker = worker
        self.use = next((u for u in job.use if u.append), job.use[0] if job.use else None)
        self.device = job.device
        self.ov = None               # OpenVolume being written
        self.writer = None           # SessionWriter on it
        self.broken = None           # None, "full" (disk full) or "error" (I/O error)
        self.unwanted = []
        self.last_file_index = 0

    # -- the whole command ----------------------------------------------------------
    async def run(self):
        """Serve ``append data``; True if the FD dialogue may go on."""
        job = self.job
        try:
            await self._start()
        except (JobFailed, DiskFull) as exc:
            if isinstance(exc, DiskFull):
                self.broken = "full"
                self._disk_full(exc)
            try:
                await self._end_session(ok=False)
            except JobFailed:
                pass
            if not job.canceled:
                self.conn.send(self.error_reply)
            return False
        self.conn.send(P.OK_DATA)
        ok = True
        try:
            await self._receive()
        except JobFailed:
            ok = False
        if ok and not job.canceled:
            job.set_status(JobStatus.TERMINATED)
        try:
            await self._end_session(ok)
        except JobFailed:
            ok = False
        if job.canceled:
            return False
        if ok and not job.failed:
            self.conn.send(self.ok_reply)
            return True
        self.conn.send(self.failed_reply)
        return False

    def _fail(self, text, status=JobStatus.FATAL):
        self.job.fatal(text, status)
        return JobFailed(text, status)

    async def _catreq(self, line):
        try:
            return await self.job.link.request(line)
        except DirectorGone as exc:
            raise self._fail(f"Lost the director: {exc}") from None

    # -- volumes ----------------------------------------------------------------------
    async def _start(self):
        job = self.job
        if self.use is None or self.device is None:
            raise self._fail("No device reserved for writing (no \"use storage\" command).")
        job.set_status(JobStatus.RUNNING, announce=True)
        self.ov = await self._mount_next()
        self.writer = self.ov.volume.append_session(job.session_id, job.session_time)
        self._started_on(self.ov)
        await self._write([self._session_label().to_record(SOS_LABEL)])

    def _session_label(self, eos=False):
        job, cmd = self.job, self.job.command
        label = SessionLabel(
            job_id=job.job_id, write_btime=btime_now(), pool_name=self.use.pool_name,
            pool_type=self.use.pool_type, job_name=cmd.job_name, client_name=cmd.client_name,
            job=job.job, fileset_name=cmd.fileset, job_type=cmd.job_type, job_level=cmd.job_level,
            fileset_md5=cmd.fileset_md5)
        if eos:
            label.job_files = job.files
            label.job_bytes = job.bytes
            label.job_errors = job.errors
            label.job_status = ord(job.status)
        return label

    def _started_on(self, ov):
        ov.writers.append(self.writer)
        if ov.catalog is not None:
            ov.catalog.jobs += 1
        if not ov.first_written:
            ov.first_written = int(time.time())
        self.job.volume_name = ov.name

    async def _mount_next(self):
        """FindMedia until a volume opens (labelling a new one); returns the OpenVolume.

        Each try holds the device's volume lock from the question to the director
        until the volume is open and, if new, its label is in the catalog.
        """
        lock = self.daemon.volumes.lock_for(self.device)
        for _ in range(MAX_VOLUME_TRIES):
            await lock.acquire()
            try:
                opened = await self._try_volume()
            finally:
                lock.release()
            if opened is not None:
                return opened
        raise self._fail(f"No usable Volume found after {MAX_VOLUME_TRIES} tries.")

    async def _try_volume(self):
        """One FindMedia and the volume it names, open; None (and the name unwanted) if unusable."""
        job, use, device = self.job, self.use, self.device
        reply = await self._catreq(P.format_find_media(
            job.job, use.pool_name, use.media_type, self.unwanted))
        try:
            info = P.parse_media_reply(reply)
        except P.MalformedMediaReply as exc:
            raise self._fail(
                f'Error getting Volume info from the director for Pool "{use.pool_name}": '
                f'incomplete answer to FindMedia: {exc}.') from None
        except P.CatalogRefused as exc:
            raise self._fail(
                f'No appendable Volume in Pool "{use.pool_name}" for Media Type '
                f'"{use.media_type}" on device {device_text(device)}: the director answered '
                f'"{exc}".') from None
        elsewhere = self.daemon.volumes.open_elsewhere(device, info.name)
        if elsewhere is not None:
            # Bareos' "volume in use on another device": not an error, ask for another one.
            job.info(f'Volume "{info.name}" is being written on device '
                     f'{device_text(elsewhere.device)}; asking for another volume.')
            self.unwanted.append(info.name)
            return None
        try:
            return await self._open(info)
        except VolumeFull as exc:
            self.broken = "full"
            raise self._fail(
                f'Disk full on device {device_text(device)}: cannot label Volume "{info.name}": '
                f'{exc.reason}') from None
        except (VolumeError, OSError, ValueError) as exc:
            job.error(f'Cannot use Volume "{info.name}" on device {device_text(device)}: {exc}')
            self.unwanted.append(info.name)
            return None

    async def _open(self, info):
        """The volume ``info`` names, open on our device (under its volume lock)."""
        registry = self.daemon.volumes
        ov = registry.get(self.device, info.name)
        if ov is not None:
            # Open for another job: our counters are newer than the catalog's answer.
            ov.volume.max_volume_bytes = info.max_bytes or None
            ov.catalog.max_bytes = info.max_bytes
            return registry.add(ov)
        volume, how = await self.worker.call(
            open_or_label, self.device, info, self.use.pool_name, self.use.pool_type,
            self.daemon.name)
        ov = OpenVolume(self.device, volume)
        ov.catalog = info
        ov.base_blocks = 1 if how != "opened" else max(info.blocks, 1)
        where = device_text(self.device)
        if how == "opened":
            self.job.info(f'Volume "{info.name}" previously written, moving to end of data.')
            await self._correct_catalog(ov)
            return registry.add(ov)
        if how == "labeled":
            self.job.info(f'Labeled new Volume "{info.name}" on device {where}.')
        elif how == "prelabeled":
            self.job.info(f'Wrote label to prelabeled Volume "{info.name}" on device {where}')
        else:
            self.job.info(f'Recycled volume "{info.name}" on device {where}, all previous data lost.')
        info.jobs = info.files = info.errors = info.writes = 0
        info.status = "Append"
        try:
            await self._update_media(ov, "Append", relabel=True)
        except JobFailed:
            await self.worker.call(volume.close)
            raise
        # Only now may other jobs find it: labelled, counters reset, catalog told.
        return registry.add(ov)

    async def _correct_catalog(self, ov):
        """A volume longer than the catalog says (a job writing it was interrupted: the
        storage daemon was killed before it reported the volume's size) is taken as it
        is, as Bareos does: the catalog is told its real size and block count now, and
        appending goes on after the last complete block.  The blocks of the interrupted
        job stay, unused: no JobMedia points at them."""
        end, blocks = ov.volume.find_end()
        if end == ov.catalog.bytes:
            return
        self.job.warning(f'Volume "{ov.name}": the sizes do not match: the volume file holds '
                         f'{end} bytes, the catalog says {ov.catalog.bytes} (a job writing it '
                         f'was interrupted). Correcting the catalog.')
        ov.base_blocks = blocks
        try:
            await self._update_media(ov, "Append")
        except JobFailed:
            await self.worker.call(ov.volume.close)     # not registered yet: nobody else has it
            raise

    async def _update_media(self, ov, status, relabel=False):
        current = ov.catalog
        current.status = status
        current.bytes = ov.volume.size
        current.files = ov.volume.size >> 32
        current.blocks = ov.blocks()
        current.writes = max(current.writes, current.blocks)
        reply = await self._catreq(P.format_update_media(
            self.job.job, current, end_time=time.time(), relabel=relabel,
            first_written=ov.first_written))
        try:
            updated = P.parse_media_reply(reply)
        except P.CatalogRefused as exc:
            raise self._fail(f'Error updating Volume "{ov.name}" in the catalog: {exc}') from None
        # The SD's counters stay the reference while the volume is open (several jobs may
        # update it at once); from the answer we only take what the director decides.
        current.media_id = updated.media_id or current.media_id

    async def _create_jobmedia(self, ov, writer):
        if writer is None or writer.start_address is None or not writer.first_index:
            return
        reply = await self._catreq(P.format_create_jobmedia(
            self.job.job, writer.first_index, writer.last_index, writer.start_address,
            writer.end_address, ov.catalog.media_id))
        if reply.rstrip("\n") != P.OK_CREATE_JOBMEDIA:
            raise self._fail(f"Error creating JobMedia record: {reply.strip()}")

    async def _release(self, ov):
        if ov is not None and self.daemon.volumes.release(ov):
            await self.worker.call(ov.volume.close)

    async def _finish_volume(self, status):
        """UpdateMedia + JobMedia for the volume just written, then let go of it.

        Under the device's volume lock: the updates of one volume reach the director
        one at a time, each with the counters of its moment, and a volume closed here
        is in the catalog as written before anyone can ask for it again.
        """
        ov, writer = self.ov, self.writer
        self.ov = None
        lock = self.daemon.volumes.lock_for(ov.device)
        await lock.acquire()
        try:
            await self._update_media(ov, status)
            await self._create_jobmedia(ov, writer)
        finally:
            ov.retire(writer)
            try:
                await self._release(ov)
            finally:
                lock.release()

    async def _next_volume(self, full):
        """After VolumeFull: finish this volume, continue the session on the next one."""
        if isinstance(full.__cause__, OSError):
            raise DiskFull(full)
        old = self.ov
        self.job.info(f'End of Volume "{old.name}" at {old.volume.size} bytes on device '
                      f'{device_text(self.device)}: maximum volume bytes reached. '
                      f'Marking Volume "{old.name}" Full.')
        await self._finish_volume("Full")
        self.unwanted.append(old.name)
        ov = await self._mount_next()
        self.writer = self.writer.continue_on(ov.volume)
        self.ov = ov
        self._started_on(ov)
        self.job.info(f'New volume "{ov.name}" mounted on device {device_text(self.device)} '
                      f'at {time.strftime("%d-%b-%Y %H:%M")}.')

    # -- writing ----------------------------------------------------------------------
    async def _volume_work(self, function, *args):
        """Run volume work in the job's thread; a VolumeError fails the job."""
        try:
            return await self.worker.call(function, *args)
        except VolumeError as exc:
            self.broken = "error"
            raise self._fail(f"Fatal append error on device {device_text(self.device)}: {exc}") \
                from None

    async def _write(self, records):
        while records:
            accepted, full = await self._volume_work(_write_records, self.writer, records)
            if full is None:
                return
            records = records[accepted:]
            await self._next_volume(full)

    async def _write_call(self, name, *args, repeat=True):
        """``writer.<name>(*args)`` (flush, EOS label), moving to the next volume when full.

        After VolumeFull the writer has taken everything; only a flush must be
        repeated on the next volume (``repeat``), a label must not be written twice.
        """
        while True:
            full = await self._volume_work(_catch_full, getattr(self.writer, name), *args)
            if full is None:
                return
            await self._next_volume(full)
            if not repeat:
                return

    async def _receive(self):
        """Records from the FD until the EOD that ends the data; batches to the worker.

        Whatever arrived before an error (the FD vanished, a protocol error) is still
        written, as Bareos writes every record it received.
        """
        job, conn = self.job, self.conn
        batch, size, pending = [], 0, None
        last = self.last_file_index
        file_index = stream = 0
        expect_header = True
        forward = False
        link_send = job.link.send
        sid, stime, name = job.session_id, job.session_time, job.job
        rerun = bool(job.command.rerunning)
        failure = None
        writer_ok = True
        try:
            ended = False
            while not ended and not job.canceled:
                try:
                    # bounded like serve_file_daemon's wait: the FD closing, or a cancel
                    packets = await conn.receive_many()
                except ConnectionClosed as exc:
                    if job.canceled:
                        break
                    raise self._fail(f"Network error reading from {self.peer}: {exc}") from None
                for position, packet in enumerate(packets):
                    if expect_header:
                        if not isinstance(packet, bytes):
                            if packet == Signal.EOD:
                                ended = True
                                conn.unreceive(packets[position + 1:])
                                break
                            raise self._fail(f"Unexpected signal from {self.peer}: {signal_name(packet)}")
                        try:
                            file_index, stream = P.parse_data_header(packet)
                        except P.CommandError:
                            raise self._fail(f"Malformed data header from {self.peer}: {packet[:60]!r}") from None
                        if file_index != last:
                            if file_index <= 0 or not (file_index == last + 1 or (rerun and last == 0)):
                                raise self._fail(f"FileIndex={file_index} from {self.peer} not positive or "
                                                 f"sequential={last}")
                            last = file_index
                            job.files += 1
                        forward = (stream & P.STREAM_MASK) in P.ATTRIBUTE_STREAMS
                        expect_header = False
                        continue
                    if not isinstance(packet, bytes):
                        if packet == Signal.EOD:
                            expect_header = True
                            continue
                        raise self._fail(f"Unexpected signal from {self.peer}: {signal_name(packet)}")
                    batch.append(Record(file_index, stream, packet))
                    length = len(packet)
                    size += length + 12
                    job.bytes += length
                    if forward:
                        link_send(P.format_file_attributes(name, sid, stime, file_index, stream, packet))
                    if size >= BATCH_BYTES:
                        if pending is not None:
                            waiting, pending = pending, None
                            try:
                                await waiting
                            except BaseException:
                                writer_ok = False
                                raise
                        pending = defer.ensureDeferred(self._write(batch))
                        batch, size = [], 0
        except (JobFailed, DiskFull) as exc:
            failure = exc
        finally:
            self.last_file_index = last
        if pending is not None:
            try:
                await pending
            except (JobFailed, DiskFull) as exc:
                writer_ok = False
                failure = failure or exc
        if batch and writer_ok and self.broken is None:
            try:
                await self._write(batch)
            except (JobFailed, DiskFull) as exc:
                failure = failure or exc
        if isinstance(failure, DiskFull):
            self.broken = "full"
            raise self._disk_full(failure)
        if failure is not None:
            raise failure

    def _disk_full(self, exc):
        ov = self.ov
        where = device_text(self.device)
        name = ov.name if ov else "?"
        size = ov.volume.size if ov else 0
        return self._fail(
            f'Disk full on device {where}: cannot write Volume "{name}" beyond {size} bytes '
            f"({exc.cause.reason}). The volume is readable up to its last complete block; "
            f"free space or add a device on another file system.")

    async def _end_session(self, ok):
        """EOS label, flush, UpdateMedia, JobMedia -- as far as the volume still takes it."""
        if self.ov is None:
            return
        job = self.job
        failure = None
        if self.broken is None:
            try:
                if not ok and not job.failed:
                    job.set_status(JobStatus.FATAL)
                label = self._session_label(eos=True)
                await self._write_call("write_session_label", EOS_LABEL, label, repeat=False)
                await self._write_call("flush")
            except DiskFull as exc:
                self.broken = "full"
                failure = self._disk_full(exc)
            except JobFailed as exc:
                failure = exc
        if self.ov is not None:
            try:
                await self._finish_volume({"full": "Full", "error": "Error"}.get(self.broken, "Append"))
            except JobFailed as exc:
                failure = failure or exc
        if failure is not None:
            raise failure
