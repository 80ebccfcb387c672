"""The storage daemon's lines, parsed and formatted: pure functions, no I/O.

Director -> SD commands (PROTOCOL.md §7.1), the SD's catalog requests and the
director's answers, job messages, the bootstrap (bsr) text and the FD data
channel headers (§7.2).  Names travel "bashed" (spaces as ``\\x01``) and are
unbashed here.
"""

import dataclasses
import re
import secrets
from typing import List, Optional, Tuple

from bareos.protocol.framing import ATTRIBUTE_HEADER
from bareos.protocol.cram import bash_spaces, unbash_spaces

# Job statuses (sent as the int of their letter): bareos.protocol.jobstatus.

# -- job message types (lib/message_severity.h) -------------------------------
M_FATAL = 3
M_ERROR = 4
M_WARNING = 5
M_INFO = 6
M_VOLMGMT = 16

# -- streams the SD forwards to the director as file attributes ---------------
STREAM_MASK = 0x7FF
STREAM_UNIX_ATTRIBUTES = 1
DIGEST_STREAMS = (3, 10, 17, 18)        # MD5, SHA1, SHA256, SHA512
ATTRIBUTE_STREAMS = frozenset((STREAM_UNIX_ATTRIBUTES,) + DIGEST_STREAMS)

# -- replies to the director --------------------------------------------------
OK_BOOTSTRAP = b"3000 OK bootstrap\n"
ERROR_BOOTSTRAP = b"3904 Error bootstrap\n"
OK_SECURE_ERASE = b"2000 OK SDSecureEraseCmd *None* \n"

# -- replies to the file daemon -----------------------------------------------
OK_DATA = b"3000 OK data\n"
OK_APPEND = b"3000 OK append data\n"
OK_END = b"3000 OK end\n"
FAILED_APPEND = b"3999 Failed append\n"
NO_OPEN = b"3901 Error session already open\n"
NOT_OPENED = b"3902 Error session not opened\n"
FD_INVALID_COMMAND = b"3900 Invalid command\n"
FD_READ_ERROR = b"3000 error\n"


class CommandError(ValueError):
    """A command line that does not parse; ``fields`` counts the fields that did."""

    def __init__(self, message, fields=0):
        super().__init__(message)
        self.fields = fields


def _text(line):
    if isinstance(line, bytes):
        line = line.decode("utf-8", "replace")
    return line.rstrip("\x00").rstrip("\n")


# -- session key ---------------------------------------------------------------

def make_session_key(random_bytes=None):
    """16 random bytes as ``XXXX-XXXX-...`` (letters A-P): low nibble, high nibble, '-' per 2 bytes."""
    data = random_bytes if random_bytes is not None else secrets.token_bytes(16)
    groups = []
    for i in range(0, 16, 2):
        groups.append("".join(chr(65 + (b & 0xF)) + chr(65 + (b >> 4)) for b in data[i:i + 2]))
    return "-".join(groups)


# -- JobId= --------------------------------------------------------------------

_JOB_FIELDS = (
    ("JobId", int), ("job", str), ("job_name", str), ("client_name", str), ("type", int),
    ("level", int), ("FileSet", str), ("NoAttr", int), ("SpoolAttr", int), ("FileSetMD5", str),
    ("SpoolData", int), ("PreferMountedVols", int), ("SpoolSize", str), ("rerunning", int),
    ("VolSessionId", int), ("VolSessionTime", int), ("Quota", int), ("Protocol", int),
    ("BackupFormat", str),
)


@dataclasses.dataclass
class JobCommand:
    job_id: int
    job: str
    job_name: str
    client_name: str
    job_type: int
    job_level: int
    fileset: str
    no_attr: int
    spool_attr: int
    fileset_md5: str
    spool_data: int
    prefer_mounted_vols: int
    spool_size: str
    rerunning: int
    vol_session_id: int
    vol_session_time: int
    quota: int
    protocol: int
    backup_format: str


def parse_job_command(line):
    """``JobId=... BackupFormat=...``: all 19 fields, in order, else CommandError."""
    tokens = _text(line).split()
    values = []
    for index, (key, kind) in enumerate(_JOB_FIELDS):
        if index >= len(tokens):
            raise CommandError(f"missing {key}=", index)
        name, sep, value = tokens[index].partition("=")
        if not sep or name != key or (kind is str and not value):
            raise CommandError(f"expected {key}=, got {tokens[index][:40]!r}", index)
        if kind is int:
            try:
                value = int(value)
            except ValueError:
                raise CommandError(f"{key}= is not a number", index) from None
        else:
            value = unbash_spaces(value)
        values.append(value)
    return JobCommand(*values)


def format_job_ok(session_id, session_time, key):
    return f"3000 OK Job SDid={session_id} SDtime={session_time} Authorization={key}\n"


def format_bad_job(fields, line):
    return f"3915 Bad Job command. stat={fields} CMD: {_text(line)}\n"


# -- use storage= / use device= -----------------------------------------------

_USE_STORAGE = re.compile(
    r"use storage=(?P<storage>\S+) media_type=(?P<media_type>\S+) pool_name=(?P<pool_name>\S+) "
    r"pool_type=(?P<pool_type>\S+) append=(?P<append>-?\d+) copy=(?P<copy>-?\d+) "
    r"stripe=(?P<stripe>-?\d+)\s*$")
_USE_DEVICE = re.compile(r"use device=(?P<device>\S+)\s*$")


@dataclasses.dataclass
class UseStorage:
    storage: str
    media_type: str
    pool_name: str
    pool_type: str
    append: bool
    copy: int = 0
    stripe: int = 0
    devices: List[str] = dataclasses.field(default_factory=list)


def parse_use_storage(line):
    match = _USE_STORAGE.match(_text(line))
    try:
        append, copy, stripe = (int(match[key]) for key in ("append", "copy", "stripe"))
    except (TypeError, ValueError):          # no match, or more digits than int() takes
        raise CommandError(f"bad use storage command: {_text(line)[:200]}") from None
    return UseStorage(
        storage=unbash_spaces(match["storage"]), media_type=unbash_spaces(match["media_type"]),
        pool_name=unbash_spaces(match["pool_name"]), pool_type=unbash_spaces(match["pool_type"]),
        append=append != 0, copy=copy, stripe=stripe)


def parse_use_device(line):
    match = _USE_DEVICE.match(_text(line))
    if not match:
        raise CommandError(f"bad use device command: {_text(line)[:200]}")
    return unbash_spaces(match["device"])


def format_use_ok(device_name):
    return f"3000 OK use device device={bash_spaces(device_name)}\n"


def format_no_device(device_name):
    return f'3924 Device "{device_name}" not in SD Device resources or no matching Media Type.\n'


def format_bad_use(line):
    return f"3913 Bad use command: {_text(line)}\n"


# -- cancel ---------------------------------------------------------------------

def parse_cancel(line):
    """The job of ``cancel Job=<Job>`` (a unique job name, or a JobId number)."""
    match = re.match(r"cancel Job=(\S+)", _text(line))
    if not match:
        raise CommandError("bad cancel command")
    return match[1]


def format_canceled(job_id, job):
    return f'3000 JobId={job_id} Job="{job}" marked to be canceled.\n'


# -- label ----------------------------------------------------------------------

@dataclasses.dataclass
class LabelCommand:
    device: str           # a Device name (Bareos form), or ""
    volume: str
    pool: str
    media_type: Optional[str] = None
    slot: int = 0
    drive: int = 0
    storage: str = ""     # ``storage=`` (console-like form): the director's name for this SD
    old_volume: str = ""  # relabel: the volume whose file is relabelled (== volume: truncate)


def parse_label_command(line):
    """Bareos' ``label <dev> VolumeName=.. PoolName=.. MediaType=.. Slot=.. drive=.. ...``,
    ``relabel <dev> OldName=.. NewName=.. PoolName=.. ...`` (the director's relabel and
    truncate, which relabels a volume with its own name) or the console-like
    ``label storage=.. volume=.. pool=.. [media_type=..]``."""
    tokens = _text(line).split()
    if not tokens or tokens[0] not in ("label", "relabel"):
        raise CommandError("not a label command")
    relabel = tokens[0] == "relabel"
    device = ""
    pairs = {}
    for token in tokens[1:]:
        key, sep, value = token.partition("=")
        if sep:
            pairs[key.lower()] = unbash_spaces(value)
        elif not device and not pairs:
            device = unbash_spaces(token)
        else:
            raise CommandError(f"unexpected {token[:40]!r} in label command")
    volume = pairs.get("newname") if relabel else pairs.get("volumename", pairs.get("volume"))
    old_volume = pairs.get("oldname", "") if relabel else ""
    if relabel and not old_volume:
        raise CommandError("relabel command needs OldName")
    pool = pairs.get("poolname", pairs.get("pool"))
    device = device or pairs.get("device", "")
    if not volume or not pool:
        raise CommandError("label command needs a volume name and a pool")
    try:
        slot = int(pairs.get("slot", 0))
        drive = int(pairs.get("drive", 0))
    except ValueError:
        raise CommandError("Slot/drive must be numbers") from None
    return LabelCommand(device, volume, pool, pairs.get("mediatype", pairs.get("media_type")),
                        slot, drive, pairs.get("storage", ""), old_volume)


def format_label_ok(vol_bytes, volume, device_name, archive_device):
    # Bareos-25 form (master adds "VolFiles=%u " before VolBytes; directors accept both).
    return (f'3000 OK label. VolBytes={vol_bytes} Volume="{volume}" '
            f'Device="{device_name}" ({archive_device})\n')


# -- catalog requests (SD -> director) and answers ------------------------------

def format_find_media(job, pool_name, media_type, unwanted=(), index=1):
    return (f"CatReq Job={job} FindMedia={index} pool_name={bash_spaces(pool_name)} "
            f"media_type={bash_spaces(media_type)} "
            f"unwanted_volumes={bash_spaces(','.join(unwanted))}\n")


def format_update_media(job, info, *, end_time, relabel=False, first_written=0):
    """``info`` is a MediaInfo with the values to store."""
    return (f"CatReq Job={job} UpdateMedia VolName={bash_spaces(info.name)} "
            f"VolJobs={info.jobs} VolFiles={info.files} VolBlocks={info.blocks} "
            f"VolBytes={info.bytes} VolMounts={info.mounts} VolErrors={info.errors} "
            f"VolWrites={info.writes} MaxVolBytes={info.max_bytes} EndTime={int(end_time)} "
            f"VolStatus={info.status} Slot={info.slot} relabel={int(bool(relabel))} "
            f"InChanger={info.in_changer} VolReadTime={info.read_time} "
            f"VolWriteTime={info.write_time} VolFirstWritten={int(first_written)}\n")


def format_create_jobmedia(job, first_index, last_index, start, end, media_id):
    """JobMedia for disk addresses: file = high 32 bits, block = low 32 bits (end inclusive)."""
    return (f"CatReq Job={job} CreateJobMedia FirstIndex={first_index} LastIndex={last_index} "
            f"StartFile={start >> 32} EndFile={end >> 32} StartBlock={start & 0xFFFFFFFF} "
            f"EndBlock={end & 0xFFFFFFFF} Copy=0 Strip=0 MediaId={media_id}\n")


OK_CREATE_JOBMEDIA = "1000 OK CreateJobMedia"

_MEDIA_KEYS = {
    "VolName": ("name", str), "VolJobs": ("jobs", int), "VolFiles": ("files", int),
    "VolBlocks": ("blocks", int), "VolBytes": ("bytes", int), "VolMounts": ("mounts", int),
    "VolErrors": ("errors", int), "VolWrites": ("writes", int),
    "MaxVolBytes": ("max_bytes", int), "VolCapacityBytes": ("capacity_bytes", int),
    "VolStatus": ("status", str), "Slot": ("slot", int), "MaxVolJobs": ("max_jobs", int),
    "MaxVolFiles": ("max_files", int), "InChanger": ("in_changer", int),
    "VolReadTime": ("read_time", int), "VolWriteTime": ("write_time", int),
    "EndFile": ("end_file", int), "EndBlock": ("end_block", int),
    "LabelType": ("label_type", int), "MediaId": ("media_id", int),
    "EncryptionKey": ("encryption_key", str), "MinBlocksize": ("min_blocksize", int),
    "MaxBlocksize": ("max_blocksize", int),
}


@dataclasses.dataclass
class MediaInfo:
    """A volume's catalog record as the director sends it (``1000 OK VolName=...``)."""
    name: str
    jobs: int = 0
    files: int = 0
    blocks: int = 0
    bytes: int = 0
    mounts: int = 0
    errors: int = 0
    writes: int = 0
    max_bytes: int = 0
    capacity_bytes: int = 0
    status: str = "Append"
    slot: int = 0
    max_jobs: int = 0
    max_files: int = 0
    in_changer: int = 0
    read_time: int = 0
    write_time: int = 0
    end_file: int = 0
    end_block: int = 0
    label_type: int = 0
    media_id: int = 0
    encryption_key: str = ""
    min_blocksize: int = 0
    max_blocksize: int = 0


class CatalogRefused(Exception):
    """The director answered a catalog request with an error line."""


class MalformedMediaReply(CatalogRefused):
    """A ``1000 OK VolName=...`` answer that does not carry the whole volume record."""


def parse_media_reply(reply):
    """``1000 OK VolName=... key=value ...`` -> MediaInfo; an error line -> CatalogRefused.

    Every field of the record is required (Bareos' storage daemon refuses an answer
    its scan does not fill completely): a volume whose counters, limits or MediaId
    were guessed would be written and reported wrongly.  Only EncryptionKey (and
    VolStatus) may be empty; unknown keys are ignored.
    """
    text = _text(reply)
    if not text.startswith("1000 OK VolName="):
        raise CatalogRefused(text.strip() or "empty answer")
    values = {}
    for token in text[len("1000 OK "):].split():
        key, sep, value = token.partition("=")
        if not sep or key not in _MEDIA_KEYS:
            continue
        attr, kind = _MEDIA_KEYS[key]
        if kind is int:
            try:
                value = int(value)
            except ValueError:
                raise MalformedMediaReply(f"bad {key}= in {text[:200]!r}") from None
        else:
            value = unbash_spaces(value)
        values[attr] = value
    if not values.get("name"):
        raise MalformedMediaReply(f"no volume name in {text[:200]!r}")
    missing = [key for key, (attr, _) in _MEDIA_KEYS.items() if attr not in values]
    if missing:
        raise MalformedMediaReply(f"{', '.join(missing)} missing in {text[:200]!r}")
    return MediaInfo(**values)


# -- messages to the director ----------------------------------------------------

def format_jmsg(job, mtype, mtime, text):
    if not text.endswith("\n"):
        text += "\n"
    return f"Jmsg Job={job} type={mtype} level={int(mtime)} {text}"


def message_prefix(sd_name, job_id, mtype):
    kind = {M_FATAL: "Fatal error: ", M_ERROR: "Error: ", M_WARNING: "Warning: "}.get(mtype, "")
    return f"{sd_name} JobId {job_id}: {kind}"


def format_status(job, status):
    return f"Status Job={job} JobStatus={ord(status)}\n"


def format_job_start(job):
    return f"3010 Job {job} start\n"


def format_job_end(job, status, files, nbytes, errors):
    return (f"3099 Job {job} end JobStatus={ord(status)} JobFiles={files} JobBytes={nbytes} "
            f"JobErrors={errors}\n")


_ATTR_HEADER = ATTRIBUTE_HEADER


def format_file_attributes(job, session_id, session_time, file_index, stream, data):
    """``UpdCat Job=<Job> FileAttributes `` + binary header + the record, as ONE packet."""
    return b"".join((f"UpdCat Job={job} FileAttributes ".encode(),
                     _ATTR_HEADER.pack(session_id, session_time, file_index, stream, len(data)),
                     data))


# -- FD data channel --------------------------------------------------------------

_DATA_HEADER = re.compile(rb"^\s*(-?\d+)\s+(-?\d+)")


def parse_data_header(packet):
    """``<FileIndex> <Stream> <info>`` -> (file_index, stream), else CommandError."""
    match = _DATA_HEADER.match(packet)
    try:
        return int(match[1]), int(match[2])
    except (TypeError, ValueError):          # no match, or more digits than int() takes
        raise CommandError(f"malformed data header {packet[:60]!r}") from None


def format_open_ticket(ticket):
    return f"3000 OK open ticket = {ticket}\n"


def format_close(status):
    return f"3000 OK close Status = {ord(status)}\n"


_READ_OPEN = re.compile(r"read open session = (\S+) (\d+) (\d+) (\d+) (\d+) (\d+) (\d+)")


def parse_read_open(line):
    """(volume, session_id, session_time, start_file, end_file, start_block, end_block) or None."""
    match = _READ_OPEN.match(_text(line))
    try:
        return (match[1],) + tuple(int(x) for x in match.groups()[1:])
    except (TypeError, ValueError):          # no match, or more digits than int() takes
        return None


def rechdr(session_id, session_time, file_index, stream, length):
    return b"rechdr %d %d %d %d %d" % (session_id, session_time, file_index, stream, length)


# -- bootstrap ----------------------------------------------------------------------

@dataclasses.dataclass
class BsrVolume:
    """One volume of a bootstrap with the filters that apply to it."""
    volume: str
    media_type: Optional[str] = None
    device: Optional[str] = None
    storage: Optional[str] = None
    session_ids: List[Tuple[int, int]] = dataclasses.field(default_factory=list)
    session_times: List[int] = dataclasses.field(default_factory=list)
    vol_addrs: List[Tuple[int, int]] = dataclasses.field(default_factory=list)
    file_indexes: List[Tuple[int, int]] = dataclasses.field(default_factory=list)
    count: Optional[int] = None
    vol_files: List[Tuple[int, int]] = dataclasses.field(default_factory=list)
    vol_blocks: List[Tuple[int, int]] = dataclasses.field(default_factory=list)

    def wants_session(self, session_id, session_time):
        if self.session_times and session_time not in self.session_times:
            return False
        if self.session_ids and not any(lo <= session_id <= hi for lo, hi in self.session_ids):
            return False
        return True

    def wants_file_index(self, file_index):
        if not self.file_indexes:
            return True
        return any(lo <= file_index <= hi for lo, hi in self.file_indexes)

    def address_ranges(self):
        """Inclusive (start, end) byte ranges to read; [(0, None)] = the whole volume."""
        if self.vol_addrs:
            return sorted(self.vol_addrs)
        if self.vol_files and self.vol_blocks:
            (sf, ef), (sb, eb) = self.vol_files[0], self.vol_blocks[0]
            return [((sf << 32) | sb, (ef << 32) | eb)]
        return [(0, None)]


class BootstrapError(ValueError):
    pass


def _ranges(value, key):
    result = []
    for part in value.split(","):
        part = part.strip()
        if not part:
            continue
        lo, sep, hi = part.partition("-")
        try:
            lo = int(lo)
            hi = int(hi) if sep else lo
        except ValueError:
            raise BootstrapError(f"bad {key}={value}") from None
        if hi < lo:
            raise BootstrapError(f"bad range {key}={value}")
        result.append((lo, hi))
    return result


def _names(value):
    return [unbash_spaces(v.strip().strip('"')) for v in value.split("|")]


def parse_bootstrap(lines):
    """The bsr text (lines or one string) -> list of BsrVolume, in order.

    A ``Volume=`` line starts new volumes (``"A"|"B"`` gives two); the lines
    after it apply to all of them (``MediaType``/``Device`` with ``|`` per
    volume).  Keywords we do not filter on (Client, Job, JobId, Stream,
    Slot, Include, Exclude, ...) are accepted and ignored.
    """
    if isinstance(lines, (str, bytes)):
        lines = [lines]
    text = "\n".join(_text(line) if isinstance(line, bytes) else line for line in lines)
    volumes = []
    group = []
    storage = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise BootstrapError(f"bad bootstrap line {line[:80]!r}")
        key = key.strip().lower()
        value = value.strip()
        if key == "storage":
            storage = value.strip('"')
            continue
        if key == "volume":
            group = [BsrVolume(volume=name, storage=storage) for name in _names(value)]
            if not all(v.volume for v in group):
                raise BootstrapError(f"empty volume name in {line[:80]!r}")
            volumes.extend(group)
            continue
        if not group:
            if key in ("client", "job", "jobid", "jobtype"):
                continue
            raise BootstrapError(f"{key} before the first Volume")
        if key in ("mediatype", "device"):
            names = _names(value)
            for index, vol in enumerate(group):
                name = names[index] if index < len(names) else names[-1]
                setattr(vol, "media_type" if key == "mediatype" else "device", name)
        elif key == "volsessionid":
            for vol in group:
                vol.session_ids.extend(_ranges(value, "VolSessionId"))
        elif key == "volsessiontime":
            for vol in group:
                vol.session_times.extend(lo for lo, _ in _ranges(value, "VolSessionTime"))
        elif key == "voladdr":
            for vol in group:
                vol.vol_addrs.extend(_ranges(value, "VolAddr"))
        elif key == "fileindex":
            for vol in group:
                vol.file_indexes.extend(_ranges(value, "FileIndex"))
        elif key == "volfile":
            for vol in group:
                vol.vol_files.extend(_ranges(value, "VolFile"))
        elif key == "volblock":
            for vol in group:
                vol.vol_blocks.extend(_ranges(value, "VolBlock"))
        elif key == "count":
            try:
                count = int(value)
            except ValueError:
                raise BootstrapError(f"bad Count={value}") from None
            for vol in group:
                vol.count = count
    return volumes
