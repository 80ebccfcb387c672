"""The catalog contract: the ``ICatalog`` interface, its records and its errors.

Every method of :class:`ICatalog` returns a :class:`~twisted.internet.defer.Deferred`.
Records are plain dataclasses / named tuples; their Python field names are the
snake_case spelling of the catalog column names of PROTOCOL.md §9
(``job_status`` is ``Job.JobStatus``, ``vol_bytes`` is ``Media.VolBytes``...).

Times (``sched_time``, ``start_time``, ``first_written``, ...) are naive
:class:`datetime.datetime` values in local time with whole seconds, as the Bareos
catalog stores them; an aware datetime is converted to local time on the way in.
``job_tdate`` is an integer (seconds since the epoch) that the director sets.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple, Optional

from zope.interface import Attribute, Interface

from bareos.protocol.jobstatus import JobStatus

# --- codes (PROTOCOL.md §9) ---------------------------------------------------

JOB_TYPES = {
    "B": "Backup", "M": "Migrated", "V": "Verify", "R": "Restore", "U": "Console",
    "I": "System", "D": "Admin", "A": "Archive", "C": "Copy of job", "c": "Copy",
    "g": "Migrate", "S": "Scan", "O": "Consolidate",
}
JOB_LEVELS = {
    "F": "Full", "I": "Incremental", "D": "Differential", "S": "Since", "B": "Base",
    "f": "VirtualFull", " ": "None", "C": "Verify catalog", "V": "Verify init",
    "O": "Verify volume to catalog", "d": "Verify disk to catalog", "A": "Verify data",
}
# Job statuses (Job.JobStatus) and which of them count as successful: bareos.protocol.jobstatus.

VOLUME_STATUSES = ("Unlabeled", "Full", "Archive", "Append", "Recycle", "Purged", "Read-Only",
                   "Disabled", "Error", "Busy", "Used", "Cleaning", "Scratch")
POOL_TYPES = ("Backup", "Copy", "Cloned", "Archive", "Migration", "Scratch")


# --- errors -----------------------------------------------------------------

class CatalogError(Exception):
    """Base class of every error the catalog raises on purpose."""


class CatalogConfigError(CatalogError):
    """The Catalog resource cannot be used (unknown DB Driver, missing DB Name...)."""


class CatalogConnectionError(CatalogError):
    """The database server cannot be reached or refused us.

    ``server`` and ``database`` name what we tried; ``retryable`` is False when
    retrying cannot help without an administrator (bad password, unknown
    database or role), True for "server down / not yet up".
    """

    def __init__(self, message, server=None, database=None, retryable=True):
        super().__init__(message)
        self.server = server
        self.database = database
        self.retryable = retryable


class CatalogSchemaError(CatalogError):
    """The schema is newer than this program knows, or an upgrade script failed."""


class CatalogIntegrityError(CatalogError):
    """A uniqueness or reference rule was violated (e.g. a duplicate unique Job name)."""


class CatalogClosedError(CatalogError):
    """The catalog was used after close()."""


class CatalogQueryError(CatalogError):
    """The database refused a console's own SQL (``.sql``); the message is the database's."""


# --- records ----------------------------------------------------------------

@dataclass
class JobRecord:
    """One row of the Job table (plus the client / fileset / pool names when read)."""
    job: str                                  # Job: unique name, "<name>.<date>_<seq>"
    name: str                                 # Name: the Job resource name
    type: str = "B"                           # Type: JOB_TYPES
    level: str = "F"                          # Level: JOB_LEVELS
    client_id: Optional[int] = None
    job_status: str = JobStatus.CREATED       # JobStatus: a bareos.protocol.jobstatus letter
    sched_time: Optional[datetime] = None
    start_time: Optional[datetime] = None
    end_time: Optional[datetime] = None
    real_end_time: Optional[datetime] = None
    job_tdate: int = 0
    vol_session_id: int = 0
    vol_session_time: int = 0
    job_files: int = 0
    job_bytes: int = 0
    read_bytes: int = 0
    job_errors: int = 0
    job_missing_files: int = 0
    pool_id: Optional[int] = None
    fileset_id: Optional[int] = None
    prior_job_id: Optional[int] = None
    purged_files: int = 0
    has_base: int = 0
    reviewed: int = 0
    comment: Optional[str] = None
    job_id: Optional[int] = None              # set by the catalog
    # read-only, filled from the joined tables when a job is read back:
    client: Optional[str] = None
    fileset: Optional[str] = None
    pool: Optional[str] = None


#: JobRecord field -> Job column (the fields create_job writes / update_job accepts).
JOB_COLUMNS = {
    "job": "Job", "name": "Name", "type": "Type", "level": "Level", "client_id": "ClientId",
    "job_status": "JobStatus", "sched_time": "SchedTime", "start_time": "StartTime",
    "end_time": "EndTime", "real_end_time": "RealEndTime", "job_tdate": "JobTDate",
    "vol_session_id": "VolSessionId", "vol_session_time": "VolSessionTime",
    "job_files": "JobFiles", "job_bytes": "JobBytes", "read_bytes": "ReadBytes",
    "job_errors": "JobErrors", "job_missing_files": "JobMissingFiles", "pool_id": "PoolId",
    "fileset_id": "FileSetId", "prior_job_id": "PriorJobId", "purged_files": "PurgedFiles",
    "has_base": "HasBase", "reviewed": "Reviewed", "comment": "Comment",
}


@dataclass
class ClientRecord:
    client_id: int
    name: str
    uname: str = ""
    auto_prune: int = 0
    file_retention: int = 0
    job_retention: int = 0


@dataclass
class PoolRecord:
    pool_id: int
    name: str
    pool_type: str = "Backup"
    label_format: Optional[str] = None
    num_vols: int = 0
    max_vols: int = 0
    max_vol_bytes: int = 0
    vol_use_duration: int = 0
    max_vol_jobs: int = 0
    max_vol_files: int = 0
    vol_retention: int = 0
    recycle: int = 1
    auto_prune: int = 1
    enabled: int = 1
    use_catalog: int = 1
    label_type: int = 0
    next_pool_id: Optional[int] = None


#: PoolRecord field -> Pool column (ensure_pool keyword arguments).
POOL_COLUMNS = {
    "pool_type": "PoolType", "label_format": "LabelFormat", "max_vols": "MaxVols",
    "max_vol_bytes": "MaxVolBytes", "vol_use_duration": "VolUseDuration",
    "max_vol_jobs": "MaxVolJobs", "max_vol_files": "MaxVolFiles", "vol_retention": "VolRetention",
    "recycle": "Recycle", "auto_prune": "AutoPrune", "enabled": "Enabled",
    "use_catalog": "UseCatalog", "label_type": "LabelType", "next_pool_id": "NextPoolId",
}


@dataclass
class VolumeRecord:
    """One row of the Media table (plus the pool and storage names when read)."""
    media_id: int
    volume_name: str
    pool_id: Optional[int]
    media_type: str
    storage_id: Optional[int] = None
    vol_status: str = "Append"
    slot: int = 0
    label_type: int = 0
    first_written: Optional[datetime] = None
    last_written: Optional[datetime] = None
    label_date: Optional[datetime] = None
    vol_jobs: int = 0
    vol_files: int = 0
    vol_blocks: int = 0
    vol_mounts: int = 0
    vol_bytes: int = 0
    vol_errors: int = 0
    vol_writes: int = 0
    vol_capacity_bytes: int = 0
    enabled: int = 1
    recycle: int = 1
    vol_retention: int = 0
    vol_use_duration: int = 0
    max_vol_jobs: int = 0
    max_vol_files: int = 0
    max_vol_bytes: int = 0
    in_changer: int = 0
    end_file: int = 0
    end_block: int = 0
    vol_read_time: int = 0
    vol_write_time: int = 0
    min_block_size: int = 0
    max_block_size: int = 0
    encryption_key: Optional[str] = None
    comment: Optional[str] = None
    pool: Optional[str] = None               # read-only (Pool.Name)
    storage: Optional[str] = None            # read-only (Storage.Name)


#: VolumeRecord field -> Media column (create_volume / update_volume keyword arguments).
MEDIA_COLUMNS = {
    "volume_name": "VolumeName", "pool_id": "PoolId", "media_type": "MediaType",
    "storage_id": "StorageId", "vol_status": "VolStatus", "slot": "Slot",
    "label_type": "LabelType", "first_written": "FirstWritten", "last_written": "LastWritten",
    "label_date": "LabelDate", "vol_jobs": "VolJobs", "vol_files": "VolFiles",
    "vol_blocks": "VolBlocks", "vol_mounts": "VolMounts", "vol_bytes": "VolBytes",
    "vol_errors": "VolErrors", "vol_writes": "VolWrites", "vol_capacity_bytes": "VolCapacityBytes",
    "enabled": "Enabled", "recycle": "Recycle", "vol_retention": "VolRetention",
    "vol_use_duration": "VolUseDuration", "max_vol_jobs": "MaxVolJobs",
    "max_vol_files": "MaxVolFiles", "max_vol_bytes": "MaxVolBytes", "in_changer": "InChanger",
    "end_file": "EndFile", "end_block": "EndBlock", "vol_read_time": "VolReadTime",
    "vol_write_time": "VolWriteTime", "min_block_size": "MinBlockSize",
    "max_block_size": "MaxBlockSize", "encryption_key": "EncryptionKey", "comment": "Comment",
}


# --- file names ---------------------------------------------------------------
#
# A file name is a byte string (anything but NUL), as the file daemon sends it and
# as Bareos keeps it.  The catalog stores Path.Path and File.Name as bytes (BLOB in
# SQLite, bytea in PostgreSQL), so every name survives unchanged.  In Python a name
# is a str: its UTF-8 decoding, each byte that is not part of valid UTF-8 kept as a
# lone surrogate U+DC80..U+DCFF ("surrogateescape", what os.fsdecode does on a
# UTF-8 system).  Valid UTF-8 names are ordinary text; the two functions below are
# the only place that converts between the two forms.

def name_bytes(name: "str | bytes") -> bytes:
    """A file name as the bytes on disk and in the catalog (str: surrogateescape UTF-8)."""
    if isinstance(name, bytes):
        return name
    if isinstance(name, str):
        return name.encode("utf-8", "surrogateescape")
    raise TypeError(f"a file name is str or bytes, not {name!r}")


def name_text(raw: "bytes | memoryview | str") -> str:
    """A file name's bytes (a Path or Name column as read) as the str the catalog returns."""
    if isinstance(raw, str):
        return raw
    return bytes(raw).decode("utf-8", "surrogateescape")


class FileRecord(NamedTuple):
    """One file for ``add_file_records`` (a plain 6-tuple in this order works too).

    ``path`` is the directory with a trailing '/', ``name`` the last component
    (empty for a directory itself), each as bytes or as a str of ``name_text``;
    ``lstat`` the encoded stat of §9; ``md5`` the digest in base64 or '0' when none.
    """
    file_index: int
    path: "str | bytes"
    name: "str | bytes"
    lstat: str
    md5: str = "0"
    delta_seq: int = 0


class FileEntry(NamedTuple):
    """What ``list_files`` returns: one file of a job."""
    filename: str            # path + name, as name_text gives it
    file_index: int
    lstat: str
    md5: str


class SelectedFile(NamedTuple):
    """One file of a restore selection: restore FileIndex ``file_index`` of job ``job_id``."""
    job_id: int
    file_index: int
    filename: str            # as name_text gives it
    lstat: str
    md5: str


@dataclass
class RestoreSelection:
    job_ids: list            # the Full, then the Differential, then the Incrementals, oldest first
    files: list              # SelectedFile, ordered by (job_id, file_index)


class JobMediaEntry(NamedTuple):
    """One JobMedia row joined with its job and volume: a bootstrap building block."""
    job_id: int
    job: str
    volume_name: str
    media_type: str
    media_id: int
    vol_session_id: int
    vol_session_time: int
    first_index: int
    last_index: int
    start_file: int
    end_file: int
    start_block: int
    end_block: int
    vol_index: int
    job_media_id: int


class CopyCandidate(NamedTuple):
    """A successful backup or copy a Copy/Migrate job may select, with one volume it is on."""
    job_id: int
    name: str                      # the Job resource name
    type: str                      # B or C
    client: Optional[str]
    job_bytes: int
    pool: Optional[str]            # the job's pool
    volume_name: Optional[str]     # None: no JobMedia
    vol_status: Optional[str]
    volume_pool: Optional[str]
    last_written: Optional[datetime]
    vol_bytes: int = 0
    vol_enabled: bool = True       # Media.Enabled = 1 (not disabled, not archived)
    real_end_time: Optional[datetime] = None
    copied: bool = False           # a successful copy or migration of it exists (any pool)


class LogEntry(NamedTuple):
    job_id: int
    time: datetime
    text: str


class ConsoleLogEntry(NamedTuple):
    """One Log row with the names of its job and client (``list log``)."""
    log_id: int
    job_name: str
    client: Optional[str]
    time: Optional[datetime]
    text: str


@dataclass
class JobQuery:
    """Which jobs ``query_jobs`` / ``count_jobs`` select; each field given narrows the answer.

    ``statuses``, ``levels`` and ``types`` are sequences of one-letter codes (any of
    them matches); ``filesets`` a sequence of FileSet names (None: any fileset, empty:
    none); ``since`` keeps jobs scheduled after that time; ``last`` only the newest job
    of each Job Name among those selected.  Jobs come in JobId order (``descending``
    reverses it); ``offset`` and ``limit`` page through them.
    """
    job_id: Optional[int] = None
    job: Optional[str] = None                 # the unique Job name
    name: Optional[str] = None                # the Job resource name
    client: "str | int | None" = None         # a name or a ClientId
    statuses: tuple = ()
    levels: tuple = ()
    types: tuple = ()
    volume: Optional[str] = None
    pool: Optional[str] = None
    filesets: Optional[tuple] = None
    since: Optional[datetime] = None
    last: bool = False
    descending: bool = False
    limit: Optional[int] = None
    offset: Optional[int] = None


class FileSetEntry(NamedTuple):
    fileset_id: int
    fileset: str
    md5: str
    create_time: Optional[datetime]
    text: str


class StorageEntry(NamedTuple):
    storage_id: int
    name: str
    auto_changer: int


class SubscriptionBackup(NamedTuple):
    """The newest successful Full backup (with data) of one client and FileSet name: what
    ``status subscription`` counts units from."""
    client_id: int
    client: str
    fileset: str
    fileset_text: str
    read_bytes: int
    job_bytes: int


class JobTotal(NamedTuple):
    """Jobs, files and bytes of the backup-like jobs of one Job name (None: of all)."""
    name: Optional[str]
    jobs: int
    files: int
    bytes: int


class CopyEntry(NamedTuple):
    """A copy job and the job it copied."""
    prior_job_id: int
    job: str
    copy_job_id: int
    media_type: str


# --- the interface ----------------------------------------------------------

class VolumePrune(NamedTuple):
    """What pruning or purging one volume did: ``job_ids`` deleted, whether the volume is
    now ``purged``, and why nothing could be done (``refused``: "archived", "state" --
    its VolStatus does not allow it --, "empty": never written; None when it was done)."""
    volume: VolumeRecord
    job_ids: list
    purged: bool
    refused: Optional[str]


class ICatalog(Interface):
    """The director's catalog (channel 12).  Every method returns a Deferred.

    ``client``, ``fileset`` and ``pool`` arguments take a name (str) or an id (int).
    """

    driver = Attribute("'sqlite3' or 'postgresql'")

    def open():
        """Connect, create the schema on first start, apply pending upgrade scripts.

        Fires with the catalog itself.  Errbacks with CatalogConnectionError
        (server unreachable / refused) or CatalogSchemaError (the database has a
        schema newer than this program knows, or an upgrade script failed).
        """

    def close():
        """Close every connection and stop the worker threads. Idempotent."""

    def schema_version():
        """The VersionId recorded in the Version table (int)."""

    # clients, filesets, pools, storages
    def ensure_client(name, uname=None, auto_prune=None, file_retention=None, job_retention=None):
        """ClientId of client ``name``, created if missing; given attributes are updated."""

    def list_clients():
        """[ClientRecord] ordered by name."""

    def ensure_fileset(name, text, md5):
        """FileSetId of (FileSet=name, MD5=md5), created (CreateTime=now) if missing.

        A changed fileset definition (another md5) gets a new FileSetId.
        """

    def ensure_pool(name, pool_type="Backup", label_format=None, max_volume_bytes=0,
                    volume_use_duration=0, max_volume_jobs=0, **more):
        """PoolId of pool ``name``, created if missing; the given attributes are
        (re)written so that the catalog follows the configuration.  The keyword
        names are those of the Pool directives; ``more`` takes further POOL_COLUMNS
        fields (max_vols, max_vol_files, vol_retention, recycle, auto_prune, enabled,
        label_type, next_pool_id...) or the directive spellings volume_retention,
        max_volume_files, maximum_volumes."""

    def list_pools(name=None, pool_id=None):
        """[PoolRecord] ordered by name; num_vols is the current count of volumes.
        ``name`` or ``pool_id`` keeps only that pool."""

    def list_filesets(fileset_id=None):
        """[FileSetEntry] ordered by FileSetId (only that one when ``fileset_id`` is given)."""

    def list_storages():
        """[StorageEntry] ordered by StorageId."""

    def delete_pool(name):
        """Delete pool ``name`` with its Media rows; fires with True if it existed."""

    def ensure_storage(name, auto_changer=False):
        """StorageId of storage ``name``, created if missing."""

    # jobs
    def create_job(job):
        """Insert a JobRecord (job_id ignored); fires with the new JobId."""

    def update_job(job_id, **fields):
        """Set JOB_COLUMNS fields of a job; fires with True if the job exists."""

    def get_job(job_id):
        """JobRecord or None."""

    def list_jobs(client=None, name=None, status=None, job_id=None, type=None, level=None,
                  limit=None):
        """[JobRecord] ordered by JobId; ``status`` may be one code or a sequence of codes;
        ``limit`` keeps the newest N jobs (still in ascending order)."""

    def query_jobs(query):
        """[JobRecord] selected by a JobQuery (the console's ``list jobs``)."""

    def count_jobs(query):
        """How many jobs a JobQuery selects (its limit and offset are not applied)."""

    def job_totals():
        """([JobTotal] per Job name ordered by name, the JobTotal of all) of the
        backup, archive and copy jobs."""

    def subscription_backups():
        """[SubscriptionBackup] per client and FileSet name, ordered by client and FileSet."""

    def list_copies(job_ids=None):
        """[CopyEntry] of the copy jobs (only those of or copying ``job_ids`` when given),
        newest prior job first."""

    def last_successful_job(job_name, client, fileset, levels=("F",), type="B", before=None):
        """Newest JobRecord with a status in jobstatus.SUCCESSFUL of this job name, client
        and fileset whose Level is in ``levels`` (and StartTime < ``before``), or None.
        Its start_time / job_tdate are the ``since`` of an Incremental (levels F, D, I)
        or Differential (levels F)."""

    def delete_job(job_id):
        """Delete a job with its File, JobMedia and Log rows; fires with True if it existed."""

    # files
    def add_file_records(job_id, records):
        """Store a batch of FileRecord (or 6-tuples) for ``job_id`` in one transaction.

        Fires with the number of records stored.  Names must not contain NUL."""

    def list_files(job_id):
        """[FileEntry] of a job, ordered by FileIndex."""

    def restore_selection(client, fileset=None, before=None):
        """The "select current" restore: the newest version of every file among the
        last successful Full backup of ``client`` (started before ``before``), the
        last Differential after it and the Incrementals after those.  Fires with a
        RestoreSelection (empty when there is no Full).  Versions whose FileIndex
        is <= 0 (deletion markers) are left out."""

    def restore_job_ids(client, fileset=None, before=None):
        """The JobIds of ``restore_selection`` alone (Full, Differential, Incrementals,
        oldest first); empty when there is no Full."""

    def job_chain(job_id, all_filesets=False):
        """The JobIds a restore of the state at backup ``job_id`` reads: its Full, the
        Differential and Incrementals up to it (oldest first); with ``all_filesets`` the
        same for each fileset its client was backed up with.  Empty for an unknown job."""

    def run_operation(op, *args, **kwargs):
        """Run one operation generator of ``bareos.catalog.bvfs`` (restore tree rows, the
        bvfs cache and listings, restore lists) in one transaction; fires with its result."""

    # media
    def create_volume(name, pool, media_type, storage_id=None, **fields):
        """Insert a Media row (defaults from its pool: retention, use duration,
        max jobs/files/bytes, recycle); fires with the MediaId."""

    def get_volume(name):
        """VolumeRecord by VolumeName (or by MediaId when given an int), or None."""

    def update_volume(name, **fields):
        """Set MEDIA_COLUMNS fields; fires with the updated VolumeRecord (None if unknown)."""

    def list_volumes(pool=None):
        """[VolumeRecord] ordered by MediaId, optionally only those of one pool."""

    def delete_volume(name):
        """Delete a volume's Media row, and unless it is Purged the jobs on it (with their
        files, JobMedia and log); fires with (existed, [deleted JobIds])."""

    def update_volumes_from_pool(pool, media_id=None):
        """Copy the pool's volume defaults to all its volumes (or only to ``media_id`` of
        them); fires with how many (None when there is no such pool)."""

    def find_appendable_volume(pool, media_type, exclude=()):
        """An enabled volume of this pool and media type with VolStatus 'Append'
        (the most recently written first, then never written ones), skipping the
        names in ``exclude``; or None."""

    def count_volumes(pool):
        """Number of Media rows in a pool."""

    def next_volume_name(pool):
        """A new, unused volume name from the pool's Label Format: the format as a
        prefix plus a 4-digit number (volumes in the pool + 1, then upwards until unused).
        Fires with None when the pool has no Label Format."""

    # retention (Bareos' prune / purge / recycle).  ``now`` is epoch seconds, by default
    # the catalog's clock; a retention is seconds before ``now`` of a job's JobTDate;
    # ``running`` JobIds are never touched.
    def prune_files(client, pool, retention, now=None, running=()):
        """Delete the File rows of the jobs of ``client`` (and ``pool``, when not None)
        older than ``retention``, marking them PurgedFiles; fires with their JobIds."""

    def purge_files(client=None, job_ids=(), running=()):
        """Delete the File rows of ``job_ids`` or of every job of ``client``, whatever
        their age; fires with the JobIds."""

    def prune_jobs(client, pool, retention, now=None, running=()):
        """Delete the jobs of ``client`` (and ``pool``) older than ``retention``, keeping
        the newest Full/Differential/Incrementals chain of each client and fileset and the
        newest Verify InitCatalog; Archive jobs are never pruned.  Fires with the JobIds."""

    def purge_jobs(client=None, pool=None, running=()):
        """Delete every job of ``client`` or with data in ``pool`` (whose emptied volumes
        become Purged); fires with the JobIds."""

    def prune_volume(name, now=None, running=()):
        """Delete the jobs on a Full or Used volume older than its Volume Retention (and
        their copy/migrate jobs); Purged when none is left.  Fires with a VolumePrune or None."""

    def purge_volume(name, running=()):
        """Delete every job on an Append, Full, Used or Error volume and mark it Purged;
        fires with a VolumePrune or None."""

    def expire_volume(name, now=None):
        """Mark a written Append volume Full or Used when it reached Maximum Volume Bytes /
        Jobs / Files or Volume Use Duration; fires with the new VolStatus or None."""

    def recycle_volume(name):
        """Make a Purged volume Recycle (counters and write times reset); fires with it."""

    def reusable_volumes(pool, media_type, states, exclude=()):
        """[VolumeRecord] enabled, Recycle = yes, in ``states``, least recently written first."""

    def create_jobmedia(job_id, media_id, first_index, last_index, start_file, end_file,
                        start_block, end_block, vol_index=None, job_bytes=0):
        """Insert a JobMedia row; vol_index None means "next for this job". Fires with its id."""

    def jobmedia_for_jobs(job_ids):
        """[JobMediaEntry] ordered by JobId then JobMediaId."""

    # copy and migrate
    def copy_candidates(pool):
        """[CopyCandidate] of ``pool``, oldest job first: what Selection Types choose from."""

    def job_ids_from_query(sql):
        """The JobIds in the first column of the rows ``sql`` (a Selection Pattern) returns."""

    def copied_to_pool(job_ids, pool):
        """The set of ``job_ids`` of which a successful copy or migration is in ``pool``."""

    def finish_copy(prior_job_id, new_job_id, migrated=False):
        """The new job takes the original's times; ``migrated``: the original becomes Type M
        and its File records are purged."""

    def list_jobmedia(job_id=None):
        """[JobMediaEntry] of every job (or of ``job_id``) ordered by JobId then JobMediaId."""

    # job log
    def add_log(job_id, time, text):
        """Append a job message to the Log table."""

    def job_log(job_id):
        """[LogEntry] of a job in insertion order."""

    def recent_log(client=None, limit=None, offset=0):
        """[ConsoleLogEntry] of the jobs (copy jobs left out; only those of ``client``
        when given), newest first: the ``limit`` newest after skipping ``offset``."""
