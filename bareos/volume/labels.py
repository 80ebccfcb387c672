"""Volume and session labels (serialized exactly as Bareos 2.0 writes them).

All integers are big-endian; strings are variable length and NUL-terminated
(not the fixed 128-byte fields of the old developer document); a btime is an
int64 count of microseconds since the epoch; the obsolete float64 date fields
are written as 0.0.

Volume label (record FileIndex VOL_LABEL or PRE_LABEL, Stream 0, block 0)::

    "Bareos 2.0 immortal\\n\\0"  uint32 VerNum(20)
    int64 label_btime  int64 write_btime  float64 0  float64 0
    VolumeName PrevVolumeName PoolName PoolType MediaType
    HostName LabelProg ProgVersion ProgDate          (strings)

Session label (FileIndex SOS_LABEL / EOS_LABEL, Stream = JobId)::

    "Bareos 2.0 immortal\\n\\0"  uint32 VerNum(20)  uint32 JobId
    int64 write_btime  float64 0
    PoolName PoolType JobName ClientName Job FileSetName   (strings)
    uint32 JobType  uint32 JobLevel  FileSetMD5 (string)
    EOS only: uint32 JobFiles  uint64 JobBytes  uint32 StartBlock
              uint32 EndBlock  uint32 StartFile  uint32 EndFile
              uint32 JobErrors  uint32 JobStatus

Bareos reads each string into a fixed buffer and stops copying at its size,
which would desynchronise every following field; the encoder therefore
refuses strings that would not fit (127 bytes for names, 49 for the three
program strings).
"""

import struct
import time
from dataclasses import dataclass
from typing import Any, Optional

from bareos.volume.errors import LabelError
from bareos.volume.records import EOS_LABEL, PRE_LABEL, SOS_LABEL, VOL_LABEL, Record

BAREOS_ID = "Bareos 2.0 immortal\n"
# Older ids Bareos still accepts on a volume label.
ACCEPTED_IDS = (BAREOS_ID, "Bacula 1.0 immortal\n", "Bacula 0.9 mortal\n")
BAREOS_TAPE_VERSION = 20
# Versions 11 and later use btimes; older ones (float dates) are not decoded.
MIN_DECODED_VERSION = 11

NAME_MAX = 127  # MAX_NAME_LENGTH (128) minus the NUL
PROG_MAX = 49  # char[50] minus the NUL
ID_MAX = 31
SER_LENGTH_LABEL = 1024  # Bareos' buffer for a serialized label

_U32 = struct.Struct(">I")
_VOL_FIXED = struct.Struct(">Iqqdd")  # VerNum, label_btime, write_btime, 0.0, 0.0
_SOS_FIXED = struct.Struct(">IIqd")  # VerNum, JobId, write_btime, 0.0
_TYPE_LEVEL = struct.Struct(">II")
_EOS_TAIL = struct.Struct(">IQIIIIII")


def btime_now() -> int:
    """The current time as a Bareos btime (microseconds since the epoch)."""
    return time.time_ns() // 1000


def _put_string(out: bytearray, value: str, limit: int, field: str) -> None:
    raw = value.encode("utf-8", "surrogateescape")
    if b"\0" in raw:
        raise ValueError(f"label field {field} contains a NUL byte")
    if len(raw) > limit:
        raise ValueError(f"label field {field} is {len(raw)} bytes, at most {limit} fit")
    out += raw
    out.append(0)


class _Reader:
    """Walks a serialized label; every shortfall is a LabelError."""

    def __init__(self, data: bytes | bytearray | memoryview, what: str) -> None:
        self.data = bytes(data)
        self.pos = 0
        self.what = what

    def fixed(self, st: struct.Struct) -> tuple[Any, ...]:
        if self.pos + st.size > len(self.data):
            raise LabelError(f"{self.what} is truncated ({len(self.data)} bytes)")
        values = st.unpack_from(self.data, self.pos)
        self.pos += st.size
        return values

    def string(self, field: str) -> str:
        end = self.data.find(b"\0", self.pos)
        if end < 0:
            raise LabelError(f"{self.what}: field {field} is not NUL-terminated")
        raw = self.data[self.pos:end]
        self.pos = end + 1
        return raw.decode("utf-8", "surrogateescape")

    @property
    def remaining(self) -> int:
        return len(self.data) - self.pos


def _check_id(reader: _Reader, accepted: tuple[str, ...] = ACCEPTED_IDS) -> str:
    ident = reader.string("Id")
    if ident not in accepted:
        raise LabelError(f"{reader.what}: unknown label id {ident!r}")
    return ident


@dataclass
class VolumeLabel:
    """The label in block 0 of every volume."""

    volume_name: str
    prev_volume_name: str = ""
    pool_name: str = ""
    pool_type: str = "Backup"
    media_type: str = "File"
    host_name: str = ""
    label_prog: str = ""
    prog_version: str = ""
    prog_date: str = ""
    label_btime: int = 0
    write_btime: int = 0

    def encode(self) -> bytes:
        out = bytearray()
        _put_string(out, BAREOS_ID, ID_MAX, "Id")
        out += _VOL_FIXED.pack(BAREOS_TAPE_VERSION, self.label_btime, self.write_btime, 0.0, 0.0)
        for field, limit in (
            ("volume_name", NAME_MAX),
            ("prev_volume_name", NAME_MAX),
            ("pool_name", NAME_MAX),
            ("pool_type", NAME_MAX),
            ("media_type", NAME_MAX),
            ("host_name", NAME_MAX),
            ("label_prog", PROG_MAX),
            ("prog_version", PROG_MAX),
            ("prog_date", PROG_MAX),
        ):
            _put_string(out, getattr(self, field), limit, field)
        return bytes(out)

    @classmethod
    def decode(cls, data: bytes | memoryview) -> "VolumeLabel":
        r = _Reader(data, "volume label")
        _check_id(r)
        ver, label_btime, write_btime, _, _ = r.fixed(_VOL_FIXED)
        if ver < MIN_DECODED_VERSION:
            raise LabelError(f"volume label version {ver} is too old (need >= {MIN_DECODED_VERSION})")
        names = [r.string(f) for f in (
            "VolumeName", "PrevVolumeName", "PoolName", "PoolType", "MediaType",
            "HostName", "LabelProg", "ProgVersion", "ProgDate")]
        return cls(names[0], names[1], names[2], names[3], names[4], names[5],
                   names[6], names[7], names[8], label_btime, write_btime)

    def to_record(self, label_type: int = VOL_LABEL) -> Record:
        if label_type not in (VOL_LABEL, PRE_LABEL):
            raise ValueError("a volume label is a VOL_LABEL or a PRE_LABEL record")
        return Record(label_type, 0, self.encode())

    @classmethod
    def from_record(cls, record: Record) -> "VolumeLabel":
        if record.file_index not in (VOL_LABEL, PRE_LABEL):
            raise LabelError(f"expected a volume label record, got FileIndex {record.file_index}")
        return cls.decode(record.data)


@dataclass
class SessionLabel:
    """Start-of-session (SOS) and end-of-session (EOS) label of one job.

    ``job_type``, ``job_level`` and ``job_status`` are ASCII codes as ints
    (``ord('B')``, ``ord('F')``, ``ord('T')``).  The EOS-only fields are None
    on a start-of-session label.
    """

    job_id: int
    write_btime: int = 0
    pool_name: str = ""
    pool_type: str = "Backup"
    job_name: str = ""
    client_name: str = ""
    job: str = ""
    fileset_name: str = ""
    job_type: int = ord("B")
    job_level: int = ord("F")
    fileset_md5: str = ""
    # EOS only
    job_files: Optional[int] = None
    job_bytes: Optional[int] = None
    start_block: Optional[int] = None
    end_block: Optional[int] = None
    start_file: Optional[int] = None
    end_file: Optional[int] = None
    job_errors: Optional[int] = None
    job_status: Optional[int] = None

    _EOS_FIELDS = ("job_files", "job_bytes", "start_block", "end_block",
                   "start_file", "end_file", "job_errors", "job_status")

    @property
    def is_eos(self) -> bool:
        return self.job_files is not None

    def encode(self, eos: Optional[bool] = None) -> bytes:
        """Serialize; ``eos`` defaults to whether the EOS fields are set."""
        if eos is None:
            eos = self.is_eos
        out = bytearray()
        _put_string(out, BAREOS_ID, ID_MAX, "Id")
        out += _SOS_FIXED.pack(BAREOS_TAPE_VERSION, self.job_id, self.write_btime, 0.0)
        for field in ("pool_name", "pool_type", "job_name", "client_name", "job", "fileset_name"):
            _put_string(out, getattr(self, field), NAME_MAX, field)
        out += _TYPE_LEVEL.pack(self.job_type, self.job_level)
        _put_string(out, self.fileset_md5, NAME_MAX, "fileset_md5")
        if eos:
            out += _EOS_TAIL.pack(*(getattr(self, f) or 0 for f in self._EOS_FIELDS))
        return bytes(out)

    @classmethod
    def decode(cls, data: bytes | memoryview, label_type: Optional[int] = None) -> "SessionLabel":
        """Decode; ``label_type`` EOS_LABEL/SOS_LABEL, or None to infer from the length."""
        r = _Reader(data, "session label")
        _check_id(r)
        ver, job_id, write_btime, _ = r.fixed(_SOS_FIXED)
        if ver < MIN_DECODED_VERSION:
            raise LabelError(f"session label version {ver} is too old (need >= {MIN_DECODED_VERSION})")
        pool_name, pool_type, job_name, client_name, job, fileset_name = (r.string(f) for f in (
            "PoolName", "PoolType", "JobName", "ClientName", "Job", "FileSetName"))
        job_type, job_level = r.fixed(_TYPE_LEVEL)
        md5 = r.string("FileSetMD5")
        label = cls(job_id, write_btime, pool_name, pool_type, job_name, client_name, job,
                    fileset_name, job_type, job_level, md5)
        eos = label_type == EOS_LABEL if label_type is not None else r.remaining >= _EOS_TAIL.size
        if eos:
            for field, value in zip(cls._EOS_FIELDS, r.fixed(_EOS_TAIL)):
                setattr(label, field, value)
        return label

    def to_record(self, label_type: int) -> Record:
        if label_type not in (SOS_LABEL, EOS_LABEL):
            raise ValueError("a session label is a SOS_LABEL or an EOS_LABEL record")
        return Record(label_type, self.job_id, self.encode(eos=label_type == EOS_LABEL))

    @classmethod
    def from_record(cls, record: Record) -> "SessionLabel":
        if record.file_index not in (SOS_LABEL, EOS_LABEL):
            raise LabelError(f"expected a session label record, got FileIndex {record.file_index}")
        return cls.decode(record.data, record.file_index)
