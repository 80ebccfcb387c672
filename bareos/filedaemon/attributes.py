"""Attribute records (stream 1), the LStat encoding and Bareos' integer base64.

Facts (Bareos ``lib/base64.cc`` ToBase64/FromBase64, ``lib/attribs.cc`` EncodeStat,
``filed/backup.cc`` EncodeAndSendAttributes, ``lib/attr.cc`` UnpackAttributesRecord,
``include/filetypes.h``):

* integer base64: most significant 6-bit group first, alphabet ``A-Za-z0-9+/``,
  ``-`` before negatives, 0 -> ``A``;
* LStat: 16 space-separated such integers: dev ino mode nlink uid gid rdev size
  blksize blocks atime mtime ctime LinkFI flags(0 on Linux) data_stream;
* attribute record: ``"<FileIndex> <FileType> <fname>\\0<lstat>\\0<link>\\0<attribsEx>\\0<delta_seq>\\0"``;
  directories (FT_DIREND) carry the path with one trailing ``/``; ``link`` is the
  symlink target (FT_LNK) or the first saved name of a hard-linked file (FT_LNKSAVED).
"""

import base64
import binascii
import os
import struct
from dataclasses import dataclass

from .streams import STREAM_FILE_DATA

# --- file types (include/filetypes.h) -------------------------------------------
FT_LNKSAVED = 1      # hard link to a file already saved
FT_REGE = 2          # regular file, empty (and world readable)
FT_REG = 3           # regular file
FT_LNK = 4           # symbolic link
FT_DIREND = 5        # directory, sent after its contents
FT_SPEC = 6          # special file: fifo, character/block device, ...
FT_NOACCESS = 7
FT_NOFOLLOW = 8
FT_NOSTAT = 9
FT_NOCHG = 10
FT_DIRNOCHG = 11
FT_ISARCH = 12
FT_NORECURSE = 13
FT_NOFSCHG = 14
FT_NOOPEN = 15
FT_RAW = 16
FT_FIFO = 17         # fifo whose data is read (ReadFifo, top level only)
FT_DIRBEGIN = 18
FT_INVALIDFS = 19
FT_INVALIDDT = 20
FT_REPARSE = 21
FT_PLUGIN = 22
FT_DELETED = 23
FT_BASE = 24
FT_RESTORE_FIRST = 25
FT_JUNCTION = 26
FT_PLUGIN_CONFIG = 27
FT_PLUGIN_CONFIG_FILLED = 28

FT_MASK = 0xFFFF  # the type field may carry AR_DATA_STREAM in higher bits (never sent today)

# --- integer base64 ---------------------------------------------------------------
_DIGITS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_VALUES = {ch: i for i, ch in enumerate(_DIGITS)}


_PAIRS = [a + b for a in _DIGITS for b in _DIGITS]  # 12-bit groups, for speed


def encode_base64_int(n):
    """Bareos ToBase64: ``0 -> 'A'``, ``64 -> 'BA'``, ``-1 -> '-B'``."""
    if n < 0:
        return "-" + encode_base64_int(-n)
    if n < 64:
        return _DIGITS[n]
    if n < 4096:
        return _PAIRS[n]
    out = []
    while n >= 4096:
        out.append(_PAIRS[n & 0xFFF])
        n >>= 12
    if n >= 64:
        out.append(_PAIRS[n])
    elif n:
        out.append(_DIGITS[n])
    out.reverse()
    return "".join(out)


def _scan_base64_int(text, pos=0):
    """FromBase64 from ``pos``: ``(value, next position)``; stops at the first non-digit."""
    negative = pos < len(text) and text[pos] == "-"
    if negative:
        pos += 1
    value = 0
    end = len(text)
    while pos < end:
        digit = _VALUES.get(text[pos])
        if digit is None:
            break
        value = (value << 6) | digit
        pos += 1
    return (-value if negative else value), pos


def decode_base64_int(s):
    """Inverse of encode_base64_int (lenient like FromBase64: stops at a non-digit)."""
    if isinstance(s, (bytes, bytearray)):
        s = s.decode("ascii")
    return _scan_base64_int(s)[0]


# --- LStat ------------------------------------------------------------------------
@dataclass
class LStat:
    dev: int = 0
    ino: int = 0
    mode: int = 0
    nlink: int = 0
    uid: int = 0
    gid: int = 0
    rdev: int = 0
    size: int = 0
    blksize: int = 0
    blocks: int = 0
    atime: int = 0
    mtime: int = 0
    ctime: int = 0
    link_fi: int = 0
    flags: int = 0
    data_stream: int = STREAM_FILE_DATA

    FIELDS = ("dev", "ino", "mode", "nlink", "uid", "gid", "rdev", "size", "blksize", "blocks",
              "atime", "mtime", "ctime", "link_fi", "flags", "data_stream")

    @classmethod
    def from_stat(cls, st, link_fi=0, data_stream=STREAM_FILE_DATA):
        return cls(st.st_dev, st.st_ino, st.st_mode, st.st_nlink, st.st_uid, st.st_gid, st.st_rdev,
                   st.st_size, getattr(st, "st_blksize", 0), getattr(st, "st_blocks", 0),
                   _seconds(st, "atime"), _seconds(st, "mtime"), _seconds(st, "ctime"),
                   link_fi, getattr(st, "st_flags", 0), data_stream)

    def encode(self):
        return " ".join(encode_base64_int(getattr(self, name)) for name in self.FIELDS)

    def __str__(self):
        return self.encode()



def _seconds(st, which):
    ns = getattr(st, f"st_{which}_ns", None)
    if ns is not None:
        return ns // 1_000_000_000
    return int(getattr(st, f"st_{which}"))


def encode_lstat(stat_result, link_fi=0, data_stream=STREAM_FILE_DATA):
    """The LStat text of an ``os.stat_result`` (or an LStat)."""
    if isinstance(stat_result, LStat):
        return stat_result.encode()
    st = stat_result
    enc = encode_base64_int
    return " ".join((
        enc(st.st_dev), enc(st.st_ino), enc(st.st_mode), enc(st.st_nlink), enc(st.st_uid),
        enc(st.st_gid), enc(st.st_rdev), enc(st.st_size), enc(getattr(st, "st_blksize", 0)),
        enc(getattr(st, "st_blocks", 0)), enc(_seconds(st, "atime")), enc(_seconds(st, "mtime")),
        enc(_seconds(st, "ctime")), enc(link_fi), enc(getattr(st, "st_flags", 0)), enc(data_stream),
    ))


_SHORT = {**{pair: i for i, pair in enumerate(_PAIRS)}, **{d: i for i, d in enumerate(_DIGITS)}}


def _fast_base64_int(token):
    """One LStat field; KeyError/IndexError on anything that is not a clean field."""
    value = _SHORT.get(token)
    if value is not None:
        return value
    negative = token[0] == "-"
    if negative:
        token = token[1:]
        if not token:
            raise KeyError(token)
    value = 0
    for ch in token:
        value = (value << 6) | _VALUES[ch]
    return -value if negative else value


# The common case in one go: 16 clean fields of at most 10 digits (60 bits) are
# left-padded with "A" (0) to 16 digits each and decoded as standard base64 (the same
# alphabet, most significant digit first) into 16 big-endian 96-bit integers.  Anything
# else fails there and takes the slow path: an empty field (its pad is not base64), one
# over 10 digits (no pad), a sign or stray character (strict base64), a field count
# other than 16 (the unpack).
_PADS = ["*"] + ["A" * (16 - n) for n in range(1, 11)]
_UNPACK_LSTAT = struct.Struct(">" + "4xQ" * 16).unpack


def decode_lstat(text):
    """Parse an LStat text (str or bytes); missing trailing fields are 0 (DecodeStat)."""
    if isinstance(text, (bytes, bytearray, memoryview)):
        try:
            text = bytes(text).decode("ascii")
        except UnicodeDecodeError:
            raise ValueError(f"LStat is not ASCII: {bytes(text)[:80]!r}") from None
    tokens = text.split(" ")
    pads = _PADS
    try:
        return LStat(*_UNPACK_LSTAT(binascii.a2b_base64(
            "".join([pads[len(token)] + token for token in tokens]), strict_mode=True)))
    except (IndexError, ValueError, struct.error):  # binascii.Error is a ValueError
        pass
    if len(tokens) == len(LStat.FIELDS):
        try:
            return LStat(*map(_fast_base64_int, tokens))
        except (KeyError, IndexError):
            pass  # fall back to the lenient FromBase64-style scan
    values = []
    pos, end = 0, len(text)
    while pos < end and len(values) < len(LStat.FIELDS):
        while pos < end and text[pos] == " ":
            pos += 1
        if pos >= end:
            break
        value, new_pos = _scan_base64_int(text, pos)
        if new_pos == pos:
            raise ValueError(f"bad LStat field at {pos}: {text!r}")
        values.append(value)
        pos = new_pos
    if len(values) < 13:
        raise ValueError(f"LStat has {len(values)} fields, expected 16: {text!r}")
    stat = LStat(*values)
    if len(values) < 16:
        stat.data_stream = 0  # an old record without the data stream field
    return stat


# --- attribute record -------------------------------------------------------------
def _to_bytes(value):
    if value is None:
        return b""
    if isinstance(value, str):
        return os.fsencode(value)
    return bytes(value)


@dataclass
class AttributeRecord:
    """One stream-1 record. ``fname`` and ``link`` are bytes (filesystem names)."""

    file_index: int
    file_type: int
    fname: bytes
    lstat: object  # LStat or its text
    link: bytes = b""
    attribs_ex: bytes = b""
    delta_seq: int = 0

    def __post_init__(self):
        self.fname = _to_bytes(self.fname)
        self.link = _to_bytes(self.link)
        self.attribs_ex = _to_bytes(self.attribs_ex)

    @property
    def stat(self):
        """The LStat as a dataclass (decoded on demand when given as text)."""
        if isinstance(self.lstat, LStat):
            return self.lstat
        return decode_lstat(self.lstat)

    def encode(self):
        lstat = self.lstat.encode() if isinstance(self.lstat, LStat) else str(self.lstat)
        if b"\0" in self.fname or b"\0" in self.link:
            raise ValueError("file names cannot contain NUL")
        return b"".join((
            b"%d %d " % (self.file_index, self.file_type), self.fname, b"\0",
            lstat.encode("ascii"), b"\0", self.link, b"\0", self.attribs_ex, b"\0",
            b"%d" % self.delta_seq, b"\0",
        ))

    @classmethod
    def decode(cls, data):
        """The record in ``data``; ValueError naming the fault if it is not one."""
        data = bytes(data)
        first = data.find(b" ")
        second = data.find(b" ", first + 1) if first >= 0 else -1
        if second < 0:
            raise ValueError(f"attribute record does not start with '<FileIndex> <FileType> ': "
                             f"{data[:80]!r}")
        file_index = _record_number(data[:first], "FileIndex", data)
        file_type = _record_number(data[first + 1:second], "FileType", data) & FT_MASK
        parts = data[second + 1:].split(b"\0")
        if len(parts) < 3:
            raise ValueError(f"attribute record has fewer than three NUL-terminated fields: "
                             f"{data[:80]!r}")
        fname, lstat, link = parts[0], parts[1], parts[2]
        attribs_ex = parts[3] if len(parts) > 3 else b""
        delta_seq = 0
        if len(parts) > 4 and parts[4].strip():
            delta_seq = _record_number(parts[4], "DeltaSeq", data)
        return cls(file_index, file_type, fname, decode_lstat(lstat), link, attribs_ex, delta_seq)


def _record_number(field, name, data):
    try:
        return int(field)
    except ValueError:
        raise ValueError(f"attribute record: {name} {field[:20]!r} is not a number: "
                         f"{data[:80]!r}") from None


# --- catalog helpers --------------------------------------------------------------
def split_catalog_path(fname):
    """``(Path, Name)`` as the catalog stores them.

    ``b"/a/b/c"`` -> ``(b"/a/b/", b"c")``; a directory name (trailing ``/``)
    ``b"/a/b/"`` -> ``(b"/a/b/", b"")``.  Works on str or bytes.
    """
    slash = "/" if isinstance(fname, str) else b"/"
    if fname.endswith(slash):
        return fname, fname[:0]
    cut = fname.rfind(slash)
    if cut < 0:
        return fname[:0], fname
    return fname[:cut + 1], fname[cut + 1:]


def digest_to_catalog(digest):
    """File.Md5 text: standard base64 of the binary digest without ``=`` padding."""
    return base64.b64encode(bytes(digest)).rstrip(b"=").decode("ascii")
