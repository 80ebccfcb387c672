"""The director's side of a job on a storage daemon, once ``run`` was sent.

The storage daemon reports on the director's connection: job status, job
messages, catalog requests (volumes and JobMedia, answered at once) and the
attributes of every saved file, and finally ``3099 Job ... end``.
"""

import base64
import re
import weakref

from twisted.internet import defer
from twisted.logger import Logger

from bareos.catalog.api import CatalogError, FileRecord
from bareos.director import retention
from bareos.director.jobs.common import local_time
from bareos.director.links import ProtocolViolation
from bareos.protocol.connection import ConnectionClosed
from bareos.protocol.cram import bash_spaces, unbash_spaces
from bareos.protocol.framing import ATTRIBUTE_HEADER, Signal
from bareos.protocol.jobstatus import JobStatus

log = Logger(namespace="bareos.director.jobs")

_UPDCAT = re.compile(rb"^UpdCat Job=\S+ FileAttributes ")
_KEYVALUE = re.compile(r"(\w+)=(\S*)")
_END = re.compile(r"^3099 Job \S+ end JobStatus=(\d+) JobFiles=(\d+) JobBytes=(\d+) JobErrors=(\d+)")
_STATUS = re.compile(r"^Status Job=\S+ JobStatus=(\d+)")

STREAM_ATTRIBUTES = 1
FT_DELETED = 23
DIGEST_STREAMS = (3, 10, 17, 18)
FILE_BATCH = 10_000


def fields(line):
    return {key: value for key, value in _KEYVALUE.findall(line)}


def volume_info_line(volume):
    """The ``1000 OK VolName=...`` answer that tells a storage daemon all about a volume."""
    return (
        f"1000 OK VolName={bash_spaces(volume.volume_name)} VolJobs={volume.vol_jobs} "
        f"VolFiles={volume.vol_files} VolBlocks={volume.vol_blocks} VolBytes={volume.vol_bytes} "
        f"VolMounts={volume.vol_mounts} VolErrors={volume.vol_errors} VolWrites={volume.vol_writes} "
        f"MaxVolBytes={volume.max_vol_bytes} VolCapacityBytes={volume.vol_capacity_bytes} "
        f"VolStatus={volume.vol_status} Slot={volume.slot} MaxVolJobs={volume.max_vol_jobs} "
        f"MaxVolFiles={volume.max_vol_files} InChanger={volume.in_changer} "
        f"VolReadTime={volume.vol_read_time} VolWriteTime={volume.vol_write_time} "
        f"EndFile={volume.end_file} EndBlock={volume.end_block} LabelType={volume.label_type} "
        f"MediaId={volume.media_id} EncryptionKey={volume.encryption_key or ''} "
        f"MinBlocksize={volume.min_block_size} MaxBlocksize={volume.max_block_size}\n"
    )


class FileAttributes:
    """Collects the attributes the storage daemon forwards and stores them in batches.

    A file's digest record follows its attribute record, so a file is complete
    when the next file's attributes (or the end of the job) arrive.
    """

    def __init__(self, catalog, job_id, store=None):
        """``store(batch)`` takes each batch of FileRecords (a Deferred or None); by
        default the batch goes into the catalog as ``job_id``'s files."""
        self.catalog = catalog
        self.job_id = job_id
        self.store = store or (lambda batch: catalog.add_file_records(job_id, batch))
        self._current = None        # [FileIndex, path, name, lstat, md5] of the newest file
        self._ready = []
        self._writes = defer.succeed(None)
        self.failure = None

    def add(self, payload):
        """Take one forwarded record; ProtocolViolation if it is not one."""
        if len(payload) < ATTRIBUTE_HEADER.size:
            raise ProtocolViolation(f"Daemon sent file attributes without their header: "
                                    f"{bytes(payload[:80])!r}")
        _session_id, _session_time, file_index, stream, length = ATTRIBUTE_HEADER.unpack_from(payload)
        data = payload[ATTRIBUTE_HEADER.size:ATTRIBUTE_HEADER.size + length]
        if stream == STREAM_ATTRIBUTES:
            self._complete_current()
            path, name, lstat, file_type = parse_attribute_record(data)
            if file_type == FT_DELETED:
                file_index = 0           # the catalog's mark of a file deleted since the base
            self._current = [file_index, path, name, lstat, "0"]
        elif stream in DIGEST_STREAMS and self._current is not None:
            self._current[4] = base64.b64encode(data).decode("ascii").rstrip("=")

    def _complete_current(self):
        if self._current is not None:
            self._ready.append(FileRecord(*self._current))
            self._current = None
        if len(self._ready) >= FILE_BATCH:
            self._flush()

    def _flush(self):
        batch, self._ready = self._ready, []
        if not batch:
            return
        self._writes.addCallback(lambda _: self.store(batch))
        self._writes.addErrback(self._remember_failure)

    def _remember_failure(self, failure):
        self.failure = failure
        log.failure("Storing file records of JobId {jobid} failed", failure, jobid=self.job_id)

    async def finish(self):
        """Store what is left; fires when every batch is in the catalog."""
        self._complete_current()
        self._flush()
        await self._writes
        if self.failure is not None:
            raise self.failure.value


def parse_attribute_record(data):
    """``(path, name, lstat, file type)`` of a stream-1 record, split as the catalog stores files.

    Path and name stay the bytes the file daemon sent: the catalog stores any name."""
    header, _, rest = data.partition(b"\x00")
    fields = header.split(b" ", 2)
    try:
        _index, file_type, fname = fields
        file_type = int(file_type)
    except ValueError:
        raise ProtocolViolation(f"Storage daemon sent a malformed attribute record: "
                                f"{bytes(data[:80])!r}") from None
    lstat = rest.split(b"\x00", 1)[0].decode("ascii", "replace")
    if fname.endswith(b"/"):
        return fname, b"", lstat, file_type
    slash = fname.rfind(b"/")
    return fname[:slash + 1], fname[slash + 1:], lstat, file_type


class StorageJobSession:
    """Serves one job's storage daemon connection until ``3099 Job ... end`` and EOD."""

    def __init__(self, director, job, link, attributes=None):
        self.director = director
        self.catalog = director.catalog
        self.job = job
        self.link = link
        self.attributes = attributes
        self.ended = False
        self.started = defer.Deferred()

    async def serve(self):
        job = self.job
        while True:
            try:
                # as long as the job runs; bounded by the connection, and by
                # wait_for_both_daemons once the file daemon failed the job
                packet = await self.link.receive(timeout=None)
            except ConnectionClosed as exc:
                if not self.ended:          # no report from the SD: daemons_outcome says E
                    self.director.messages.job_message(
                        job, "error", f"Storage daemon {self.link.name} closed the connection "
                                      f"before the job ended: {exc}")
                return
            if packet == Signal.EOD and self.ended:
                return
            if packet == Signal.TERMINATE:
                return
            if not isinstance(packet, bytes):
                continue
            if _UPDCAT.match(packet):
                if self.attributes is not None:
                    self.attributes.add(packet[_UPDCAT.match(packet).end():])
                continue
            line = packet.decode("utf-8", "replace").rstrip("\x00")
            await self._handle_line(line)

    async def _handle_line(self, line):
        job = self.job
        if line.lower().startswith("catreq "):
            self.link.send(await self._catalog_request(line))
        elif line.startswith("3010 Job"):
            if not self.started.called:
                self.started.callback(None)
        elif _END.match(line):
            status, files, byte_count, errors = _END.match(line).groups()
            try:
                job.sd_status = JobStatus.from_code(int(status))
            except ValueError:
                raise ProtocolViolation(f"Storage daemon {self.link.name} ended the job with an "
                                        f"unknown status: {line!r}") from None
            job.sd_files = int(files)
            job.sd_bytes, job.sd_errors = int(byte_count), int(errors)
            self.ended = True
        elif _STATUS.match(line):
            pass
        else:
            log.debug("Storage daemon said {line!r}", line=line)

    async def _catalog_request(self, line):
        values = fields(line)
        try:
            if "FindMedia" in values:
                return await self._find_media(values)
            if " UpdateMedia " in line:
                return await self._update_media(values)
            if " CreateJobMedia " in line:
                return await self._create_jobmedia(values)
            if " GetVolInfo " in line:
                volume = await self.catalog.get_volume(unbash_spaces(values.get("VolName", "")))
                if volume is None:
                    return f'1997 Volume "{values.get("VolName")}" not in catalog.\n'
                return volume_info_line(volume)
            if " UpdateJobRecord " in line or " UpdateFileList" in line:
                return "1000 OK UpdateJobRecord\n"
            if " DeleteNullJobmediaRecords " in line:
                return "1000 OK DeleteNullJobmediaRecords\n"
        except CatalogError as exc:
            problem = self.director.catalog_problem(exc)
            log.warn("Catalog request {line!r} failed: {problem}", line=line, problem=problem)
            return f"1990 Invalid Catalog Request: {problem}\n"
        except Exception as exc:
            log.failure("Catalog request {line!r} failed", line=line)
            return f"1990 Invalid Catalog Request: {exc}\n"
        return f"1990 Invalid Catalog Request: {line}\n"

    async def _find_media(self, values):
        job = self.job
        pool_name = unbash_spaces(values.get("pool_name", job.pool.name))
        media_type = unbash_spaces(values.get("media_type", ""))
        unwanted = [unbash_spaces(v) for v in values.get("unwanted_volumes", "").split(",") if v]
        volume = await appendable_volume(self.director, pool_name, media_type, job.storage,
                                          unwanted, job)
        if volume is None:
            self.director.messages.job_message(
                job, "error", f'No appendable volume in pool "{pool_name}" and none can be '
                              f'created (check Label Format and Maximum Volumes).')
            return "1901 No Media.\n"
        return volume_info_line(volume)

    async def _update_media(self, values):
        name = unbash_spaces(values["VolName"])
        volume = await self.catalog.get_volume(name)
        if volume is None:
            return f'1997 Volume "{name}" not in catalog.\n'
        changes = {column: int(values[key]) for key, column in (
            ("VolJobs", "vol_jobs"), ("VolFiles", "vol_files"), ("VolBlocks", "vol_blocks"),
            ("VolBytes", "vol_bytes"), ("VolMounts", "vol_mounts"), ("VolErrors", "vol_errors"),
            ("VolWrites", "vol_writes")) if key in values}
        if values.get("VolStatus"):
            changes["vol_status"] = values["VolStatus"]
        now = local_time(self.director.clock.seconds())
        changes["last_written"] = now
        if volume.first_written is None:
            changes["first_written"] = now
        if volume.label_date is None:
            changes["label_date"] = now
        volume = await self.catalog.update_volume(name, **changes)
        return volume_info_line(volume)

    async def _create_jobmedia(self, values):
        job = self.job
        media_id = int(values["MediaId"])
        await self.catalog.create_jobmedia(
            job.jobid, media_id, int(values["FirstIndex"]), int(values["LastIndex"]),
            int(values["StartFile"]), int(values["EndFile"]), int(values["StartBlock"]),
            int(values["EndBlock"]))
        volume = await self.catalog.get_volume(media_id)
        if volume is not None and volume.volume_name not in job.volumes:
            job.volumes.append(volume.volume_name)
        return "1000 OK CreateJobMedia\n"


# Finding or creating a pool's volume is one step per pool: two jobs asking at once must not
# both find none and both create the next volume from the Label Format.  One lock per pool
# name, per director (a process may run several in tests).
_pool_locks: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def pool_lock(director, pool_name):
    """The DeferredLock that serializes volume selection and creation in ``pool_name``."""
    return _pool_locks.setdefault(director, {}).setdefault(pool_name, defer.DeferredLock())


async def appendable_volume(director, pool_name, media_type, storage, unwanted, job):
    """A volume the job may append to, in Bareos' order: an open one of the pool (one past
    its limits is marked Full or Used on the way), a recycled one, one from the Scratch
    Pool, a new one from the Label Format, or the oldest volume purged or pruned
    (Purge / Recycle Oldest Volume).  One job of a pool at a time: a volume created or
    recycled here is what the next job of the pool finds.
    """
    lock = pool_lock(director, pool_name)
    await lock.acquire()
    try:
        return await _select_or_create_volume(director, pool_name, media_type, storage, unwanted,
                                              job)
    finally:
        lock.release()


async def _select_or_create_volume(director, pool_name, media_type, storage, unwanted, job):
    catalog = director.catalog
    pool = director.config.get("pool", pool_name)
    excluded = list(unwanted)
    if pool is not None:
        volume = await retention.recycled_current_volume(director, pool, media_type, excluded,
                                                         job)
        if volume is not None:
            return volume
    while True:
        volume = await catalog.find_appendable_volume(pool_name, media_type, excluded)
        if volume is None:
            break
        status = await catalog.expire_volume(volume.media_id, now=retention.now(director))
        if status is not None:
            director.messages.job_message(
                job, "info", f'Volume "{volume.volume_name}" reached a limit of its pool: '
                             f'marked "{status}".')
            excluded.append(volume.volume_name)
            continue
        return volume
    if pool is None:
        return None
    volume = await retention.reusable_volume(director, pool, media_type, excluded)
    if volume is not None:
        director.messages.job_message(job, "info", f'Recycled volume "{volume.volume_name}"')
        return volume
    storage_id = await catalog.ensure_storage(storage.name)
    volume = await retention.scratch_volume(director, pool, media_type, storage_id, job)
    if volume is not None:
        return volume
    if pool.label_format and not (pool.maximum_volumes and
                                  await catalog.count_volumes(pool_name) >= pool.maximum_volumes):
        name = await catalog.next_volume_name(pool_name)
        await catalog.create_volume(name, pool_name, media_type, storage_id=storage_id)
        return await catalog.get_volume(name)
    return await retention.oldest_volume(director, pool, media_type, excluded, job)
