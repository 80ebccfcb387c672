"""Record stream numbers, digests and the data-stream codecs of the FD <-> SD channel.

Pure and blocking; no Twisted.  Facts (checked against Bareos ``include/streams.h``,
``include/ch.h``, ``findlib/attribs.cc`` SelectDataStream, ``filed/backup.cc``,
``lib/compression.cc``, ``fastlz/src/fastlzlib.c``):

* Current Bareos writes *every* compressed file (GZIP included) as
  ``STREAM_COMPRESSED_DATA`` (29), or ``STREAM_SPARSE_COMPRESSED_DATA`` (30) with
  the sparse option.  Each data record is compressed on its own and starts with a
  12-byte big-endian ``comp_stream_header`` serialised in the order
  ``uint32 magic, uint32 compressed_size, uint16 level, uint16 version(=1)``
  (note: the C struct declares magic, level, version, size, but ``ser_*`` writes
  magic, size, level, version).  Magic is four ASCII letters: ``GZIP``, ``LZOX``,
  ``FZFZ`` (FastLZ), ``FZ4L`` (LZ4), ``FZ4H`` (LZ4HC).  ``compressed_size`` excludes
  the header.
* GZIP payload = zlib format (``deflateInit`` + ``deflateParams(level)`` +
  ``deflate(Z_FINISH)`` + ``deflateReset`` per record) = ``zlib.compress(block, level)``.
* The legacy streams ``GZIP_DATA`` (4) / ``SPARSE_GZIP_DATA`` (7) carry the bare
  zlib data without a header; Bareos only still reads them.  We read them too and
  can write them (``legacy_gzip=True``) for old readers.
* LZ4/LZ4HC/FastLZ payloads are in fastlzlib's block framing: blocks of at most
  262144 input bytes, each with a 16-byte header ``b"FastLZ\\0"``, one byte
  ``block_type | log2(block_size) - 10`` (0x10 raw, 0xc0 compressed), then
  little-endian uint32 compressed and original sizes; a final header with both
  sizes 0 ends the stream.  Inputs of 64 bytes or less, and blocks that do not
  shrink, are stored raw.  The compressed block itself is a plain LZ4 block.
  ``level`` in comp_stream_header is 1 for these.
* Sparse records (6, 7, 30) start with the 8-byte big-endian file offset of the
  data, before the compression header.
"""

import hashlib
import struct
import zlib

# --- stream numbers (include/streams.h) ---------------------------------------
STREAM_NONE = 0
STREAM_UNIX_ATTRIBUTES = 1
STREAM_FILE_DATA = 2
STREAM_MD5_DIGEST = 3
STREAM_GZIP_DATA = 4
STREAM_UNIX_ATTRIBUTES_EX = 5
STREAM_SPARSE_DATA = 6
STREAM_SPARSE_GZIP_DATA = 7
STREAM_PROGRAM_NAMES = 8
STREAM_PROGRAM_DATA = 9
STREAM_SHA1_DIGEST = 10
STREAM_WIN32_DATA = 11
STREAM_WIN32_GZIP_DATA = 12
STREAM_MACOS_FORK_DATA = 13
STREAM_HFSPLUS_ATTRIBUTES = 14
STREAM_SHA256_DIGEST = 17
STREAM_SHA512_DIGEST = 18
STREAM_SIGNED_DIGEST = 19
STREAM_ENCRYPTED_FILE_DATA = 20
STREAM_ENCRYPTED_WIN32_DATA = 21
STREAM_ENCRYPTED_SESSION_DATA = 22
STREAM_ENCRYPTED_FILE_GZIP_DATA = 23
STREAM_ENCRYPTED_WIN32_GZIP_DATA = 24
STREAM_ENCRYPTED_MACOS_FORK_DATA = 25
STREAM_PLUGIN_NAME = 26
STREAM_PLUGIN_DATA = 27
STREAM_RESTORE_OBJECT = 28
STREAM_COMPRESSED_DATA = 29
STREAM_SPARSE_COMPRESSED_DATA = 30
STREAM_WIN32_COMPRESSED_DATA = 31
STREAM_ENCRYPTED_FILE_COMPRESSED_DATA = 32
STREAM_ENCRYPTED_WIN32_COMPRESSED_DATA = 33
STREAM_XXH128_DIGEST = 40

STREAM_TYPE_MASK = 0x7FF  # low 11 bits; the rest are flags
STREAM_BIT_PLUGIN = 1 << 28
STREAM_BIT_DELTA = 1 << 27
STREAM_BIT_OFFSETS = 1 << 26
STREAM_BIT_PORTABLE_DATA = 1 << 25

OFFSET_FADDR_SIZE = 8

DATA_STREAMS = frozenset({
    STREAM_FILE_DATA, STREAM_GZIP_DATA, STREAM_SPARSE_DATA, STREAM_SPARSE_GZIP_DATA,
    STREAM_COMPRESSED_DATA, STREAM_SPARSE_COMPRESSED_DATA,
})
SPARSE_STREAMS = frozenset({STREAM_SPARSE_DATA, STREAM_SPARSE_GZIP_DATA, STREAM_SPARSE_COMPRESSED_DATA})

# --- digests -------------------------------------------------------------------
# name -> (hashlib constructor name, stream)
DIGESTS = {
    "MD5": ("md5", STREAM_MD5_DIGEST),
    "SHA1": ("sha1", STREAM_SHA1_DIGEST),
    "SHA256": ("sha256", STREAM_SHA256_DIGEST),
    "SHA512": ("sha512", STREAM_SHA512_DIGEST),
}
DIGEST_STREAMS = {stream: name for name, (_, stream) in DIGESTS.items()}
DIGEST_STREAMS[STREAM_XXH128_DIGEST] = "XXH128"


class DigestUnavailable(ValueError):
    """A signature algorithm we cannot compute (XXH128 needs a library we do not ship)."""


def new_digest(name):
    """``(hash object, digest stream)`` for a signature name (MD5, SHA1, SHA256, SHA512)."""
    try:
        hashlib_name, stream = DIGESTS[name.upper()]
    except KeyError:
        raise DigestUnavailable(f"signature {name!r} is not supported") from None
    return hashlib.new(hashlib_name), stream


def digest_for_stream(stream):
    """A fresh hash object for a digest stream number (for verification on restore)."""
    name = DIGEST_STREAMS.get(stream & STREAM_TYPE_MASK)
    if name is None or name not in DIGESTS:
        raise DigestUnavailable(f"digest stream {stream} is not supported")
    return hashlib.new(DIGESTS[name][0])


# --- compression -----------------------------------------------------------------
COMP_HEAD_VERSION = 1
COMP_HEADER = struct.Struct(">IIHH")  # magic, compressed size, level, version


def _magic(text):
    return int.from_bytes(text.encode("ascii"), "big")


COMPRESS_NONE = _magic("NONE")
COMPRESS_GZIP = _magic("GZIP")
COMPRESS_LZO1X = _magic("LZOX")
COMPRESS_FZFZ = _magic("FZFZ")
COMPRESS_FZ4L = _magic("FZ4L")
COMPRESS_FZ4H = _magic("FZ4H")
MAGIC_NAMES = {
    COMPRESS_GZIP: "GZIP", COMPRESS_LZO1X: "LZO", COMPRESS_FZFZ: "LZFAST",
    COMPRESS_FZ4L: "LZ4", COMPRESS_FZ4H: "LZ4HC",
}


class CompressionError(ValueError):
    """A data record that cannot be decompressed, or an algorithm we cannot run."""


def lz4_available():
    try:
        import lz4.block  # noqa: F401
    except ImportError:
        return False
    return True


def _lz4_block():
    try:
        import lz4.block
    except ImportError:
        raise CompressionError("LZ4 needs the python 'lz4' package (python3-lz4)") from None
    return lz4.block


# fastlzlib framing
_FASTLZ_MAGIC = b"FastLZ\0"
_FASTLZ_HEADER = struct.Struct("<7sBII")  # magic, type|blockpow, compressed, original
_FASTLZ_BLOCK_SIZE = 262144
_FASTLZ_BLOCK_POW = 8  # log2(262144) - 10
_FASTLZ_RAW = 0x10
_FASTLZ_COMPRESSED = 0xC0
_FASTLZ_MIN_BLOCK = 64
_FASTLZ_EOF = _FASTLZ_HEADER.pack(_FASTLZ_MAGIC, _FASTLZ_COMPRESSED | _FASTLZ_BLOCK_POW, 0, 0)


def _fastlz_lz4_compress(data, high):
    block = _lz4_block()
    mode = "high_compression" if high else "default"
    out = []
    view = memoryview(data)
    for start in range(0, len(data), _FASTLZ_BLOCK_SIZE):
        piece = view[start:start + _FASTLZ_BLOCK_SIZE]
        kind, payload = _FASTLZ_RAW, piece
        if len(piece) > _FASTLZ_MIN_BLOCK:
            packed = block.compress(piece, mode=mode, store_size=False)
            if len(packed) < len(piece):
                kind, payload = _FASTLZ_COMPRESSED, packed
        out.append(_FASTLZ_HEADER.pack(_FASTLZ_MAGIC, kind | _FASTLZ_BLOCK_POW, len(payload), len(piece)))
        out.append(payload)
    out.append(_FASTLZ_EOF)
    return b"".join(out)


def _fastlz_decompress(data, lz4):
    out = []
    pos, end = 0, len(data)
    view = memoryview(data)
    while pos + _FASTLZ_HEADER.size <= end:
        magic, packed_type, csize, osize = _FASTLZ_HEADER.unpack_from(view, pos)
        if magic != _FASTLZ_MAGIC:
            raise CompressionError("bad FastLZ block magic")
        pos += _FASTLZ_HEADER.size
        if csize == 0 and osize == 0:
            break
        payload = view[pos:pos + csize]
        if len(payload) != csize:
            raise CompressionError("truncated FastLZ block")
        pos += csize
        kind = packed_type & 0xF0
        if kind == _FASTLZ_RAW:
            out.append(bytes(payload))
        elif kind == _FASTLZ_COMPRESSED:
            if not lz4:
                raise CompressionError("FastLZ (LZFAST) decompression is not supported")
            try:
                out.append(_lz4_block().decompress(payload, uncompressed_size=osize))
            except Exception as exc:  # lz4.block.LZ4BlockError
                raise CompressionError(f"LZ4 data error: {exc}") from None
        else:
            raise CompressionError(f"bad FastLZ block type 0x{kind:x}")
    return b"".join(out)


class Compressor:
    """Compresses one data record at a time, as Bareos does.

    ``algorithm`` is ``GZIP``, ``LZ4`` or ``LZ4HC`` (the Options letters ``Z1``..``Z9``,
    ``Zf4``, ``Zfh``); ``compress(block)`` returns the record payload *with* the
    comp_stream_header (or the bare zlib data with ``legacy_gzip``).
    """

    def __init__(self, algorithm, level=6, legacy_gzip=False):
        algorithm = algorithm.upper()
        self.algorithm = algorithm
        self.legacy_gzip = legacy_gzip and algorithm == "GZIP"
        if algorithm == "GZIP":
            self.magic, self.level = COMPRESS_GZIP, level
            self._compress = lambda block: zlib.compress(block, level)
        elif algorithm in ("LZ4", "LZ4HC"):
            _lz4_block()  # fail early when the library is missing
            high = algorithm == "LZ4HC"
            self.magic = COMPRESS_FZ4H if high else COMPRESS_FZ4L
            self.level = 1
            self._compress = lambda block: _fastlz_lz4_compress(block, high)
        else:
            raise CompressionError(f"compression {algorithm} is not supported")

    def data_stream(self, sparse):
        if self.legacy_gzip:
            return STREAM_SPARSE_GZIP_DATA if sparse else STREAM_GZIP_DATA
        return STREAM_SPARSE_COMPRESSED_DATA if sparse else STREAM_COMPRESSED_DATA

    def compress(self, block):
        packed = self._compress(block)
        if self.legacy_gzip:
            return packed
        return COMP_HEADER.pack(self.magic, len(packed), self.level, COMP_HEAD_VERSION) + packed


def select_data_stream(compressor=None, sparse=False):
    """The data stream Bareos' SelectDataStream picks (it also goes into LStat)."""
    if compressor is not None:
        return compressor.data_stream(sparse)
    return STREAM_SPARSE_DATA if sparse else STREAM_FILE_DATA


def pack_offset(offset):
    return offset.to_bytes(OFFSET_FADDR_SIZE, "big")


def decompress_payload(stream, payload):
    """Undo the compression of one record payload (offset already removed)."""
    kind = stream & STREAM_TYPE_MASK
    if kind in (STREAM_FILE_DATA, STREAM_SPARSE_DATA):
        return payload
    if kind in (STREAM_GZIP_DATA, STREAM_SPARSE_GZIP_DATA):
        try:
            return zlib.decompress(payload)
        except zlib.error as exc:
            raise CompressionError(f"zlib data error: {exc}") from None
    if kind in (STREAM_COMPRESSED_DATA, STREAM_SPARSE_COMPRESSED_DATA):
        if len(payload) < COMP_HEADER.size:
            raise CompressionError("compressed record shorter than its header")
        magic, size, _level, version = COMP_HEADER.unpack_from(payload)
        if version != COMP_HEAD_VERSION:
            raise CompressionError(f"compressed header version error. version=0x{version:x}")
        if size + COMP_HEADER.size != len(payload):
            raise CompressionError(
                f"compressed header size error. comp_len={size}, message_length={len(payload)}")
        body = memoryview(payload)[COMP_HEADER.size:]
        if magic == COMPRESS_GZIP:
            try:
                return zlib.decompress(body)
            except zlib.error as exc:
                raise CompressionError(f"zlib data error: {exc}") from None
        if magic in (COMPRESS_FZ4L, COMPRESS_FZ4H):
            return _fastlz_decompress(body, lz4=True)
        if magic == COMPRESS_FZFZ:
            return _fastlz_decompress(body, lz4=False)
        name = MAGIC_NAMES.get(magic, f"0x{magic:x}")
        raise CompressionError(f"compression algorithm {name} found, but not supported")
    raise CompressionError(f"stream {stream} is not a data stream")


def decode_data_record(stream, payload):
    """``(offset or None, plain bytes)`` for one data record of any supported data stream."""
    kind = stream & STREAM_TYPE_MASK
    offset = None
    if kind in SPARSE_STREAMS:
        if len(payload) < OFFSET_FADDR_SIZE:
            raise CompressionError("sparse record shorter than its offset")
        offset = int.from_bytes(payload[:OFFSET_FADDR_SIZE], "big")
        payload = memoryview(payload)[OFFSET_FADDR_SIZE:]
    return offset, decompress_payload(kind, payload)
