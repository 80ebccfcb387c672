"""Digest factory, GZIP and LZ4 record formats (comp_stream_header, fastlzlib framing), sparse offsets."""

import hashlib
import os
import struct
import zlib

import pytest

from bareos.filedaemon import streams
from bareos.filedaemon.streams import (
    STREAM_COMPRESSED_DATA, STREAM_FILE_DATA, STREAM_GZIP_DATA, STREAM_MD5_DIGEST,
    STREAM_SHA1_DIGEST, STREAM_SHA256_DIGEST, STREAM_SHA512_DIGEST, STREAM_SPARSE_COMPRESSED_DATA,
    STREAM_SPARSE_DATA, STREAM_SPARSE_GZIP_DATA, CompressionError, Compressor, DigestUnavailable,
    decode_data_record, digest_for_stream, new_digest, pack_offset, select_data_stream,
)

needs_lz4 = pytest.mark.skipif(not streams.lz4_available(), reason="python lz4 not installed")
DATA = b"".join(b"line %d of some compressible text\n" % i for i in range(5000)) + os.urandom(3000)


def test_stream_numbers():
    assert (streams.STREAM_UNIX_ATTRIBUTES, STREAM_FILE_DATA, STREAM_MD5_DIGEST, STREAM_GZIP_DATA,
            STREAM_SPARSE_DATA, STREAM_SPARSE_GZIP_DATA, STREAM_SHA1_DIGEST, STREAM_SHA256_DIGEST,
            STREAM_SHA512_DIGEST, STREAM_COMPRESSED_DATA, STREAM_SPARSE_COMPRESSED_DATA) == (
        1, 2, 3, 4, 6, 7, 10, 17, 18, 29, 30)


@pytest.mark.parametrize("name,algo,stream", [
    ("MD5", "md5", 3), ("sha1", "sha1", 10), ("SHA256", "sha256", 17), ("SHA512", "sha512", 18)])
def test_digest_factory(name, algo, stream):
    h, s = new_digest(name)
    h.update(b"abc")
    assert s == stream
    assert h.digest() == hashlib.new(algo, b"abc").digest()
    assert digest_for_stream(stream).name == algo


def test_unknown_digest():
    with pytest.raises(DigestUnavailable):
        new_digest("XXH128")


def test_magic_constants():
    assert streams.COMPRESS_GZIP == 0x475A4950
    assert streams.COMPRESS_FZ4L == 0x465A344C
    assert streams.COMPRESS_FZ4H == 0x465A3448
    assert streams.COMPRESS_LZO1X == 0x4C5A4F58


def test_gzip_record_layout():
    payload = Compressor("GZIP", 6).compress(DATA)
    magic, size, level, version = struct.unpack(">IIHH", payload[:12])
    assert payload[:4] == b"GZIP"
    assert (size, level, version) == (len(payload) - 12, 6, 1)
    assert payload[12:] == zlib.compress(DATA, 6)  # zlib format, with header
    assert decode_data_record(STREAM_COMPRESSED_DATA, payload) == (None, DATA)


def test_gzip_levels_and_legacy_stream():
    for level in (1, 9):
        c = Compressor("GZIP", level)
        assert struct.unpack(">H", c.compress(b"x")[8:10])[0] == level
    legacy = Compressor("GZIP", 6, legacy_gzip=True)
    assert legacy.data_stream(False) == STREAM_GZIP_DATA and legacy.data_stream(True) == STREAM_SPARSE_GZIP_DATA
    assert decode_data_record(STREAM_GZIP_DATA, legacy.compress(DATA)) == (None, DATA)


def test_select_data_stream():
    gz = Compressor("GZIP")
    assert select_data_stream(None, False) == STREAM_FILE_DATA
    assert select_data_stream(None, True) == STREAM_SPARSE_DATA
    assert select_data_stream(gz, False) == STREAM_COMPRESSED_DATA
    assert select_data_stream(gz, True) == STREAM_SPARSE_COMPRESSED_DATA


def test_sparse_records_carry_big_endian_offset():
    payload = pack_offset(0x0102030405060708) + b"data"
    assert payload[:8] == bytes([1, 2, 3, 4, 5, 6, 7, 8])
    assert decode_data_record(STREAM_SPARSE_DATA, payload) == (0x0102030405060708, b"data")
    gz = pack_offset(65536) + Compressor("GZIP").compress(DATA)
    assert decode_data_record(STREAM_SPARSE_COMPRESSED_DATA, gz) == (65536, DATA)
    legacy = pack_offset(7) + zlib.compress(b"abc")
    assert decode_data_record(STREAM_SPARSE_GZIP_DATA, legacy) == (7, b"abc")


@needs_lz4
@pytest.mark.parametrize("algo,magic", [("LZ4", b"FZ4L"), ("LZ4HC", b"FZ4H")])
def test_lz4_fastlzlib_framing(algo, magic):
    import lz4.block
    big = DATA * 60  # > 262144: several fastlzlib blocks
    payload = Compressor(algo).compress(big)
    assert payload[:4] == magic
    _, size, level, version = struct.unpack(">IIHH", payload[:12])
    assert (size, level, version) == (len(payload) - 12, 1, 1)
    body = payload[12:]
    assert body[:7] == b"FastLZ\0"
    kind_pow, csize, osize = body[7], *struct.unpack("<II", body[8:16])
    assert kind_pow == 0xC0 | 8 and osize == 262144
    assert lz4.block.decompress(body[16:16 + csize], uncompressed_size=osize) == big[:262144]
    assert body[-16:] == b"FastLZ\0" + bytes([0xC8]) + bytes(8)  # end-of-stream marker
    assert decode_data_record(STREAM_COMPRESSED_DATA, payload) == (None, big)


@needs_lz4
def test_lz4_small_and_incompressible_blocks_are_raw():
    tiny = Compressor("LZ4").compress(b"short")
    assert tiny[12 + 7] == 0x10 | 8  # raw block
    assert decode_data_record(STREAM_COMPRESSED_DATA, tiny) == (None, b"short")
    noise = os.urandom(5000)
    payload = Compressor("LZ4").compress(noise)
    assert payload[12 + 7] == 0x18
    assert decode_data_record(STREAM_COMPRESSED_DATA, payload) == (None, noise)


def test_compressed_header_checks():
    good = Compressor("GZIP").compress(b"abc")
    with pytest.raises(CompressionError, match="size"):
        decode_data_record(STREAM_COMPRESSED_DATA, good + b"x")
    bad_version = good[:10] + b"\0\2" + good[12:]
    with pytest.raises(CompressionError, match="version"):
        decode_data_record(STREAM_COMPRESSED_DATA, bad_version)
    lzo = struct.pack(">IIHH", streams.COMPRESS_LZO1X, 3, 1, 1) + b"abc"
    with pytest.raises(CompressionError, match="LZO"):
        decode_data_record(STREAM_COMPRESSED_DATA, lzo)
    with pytest.raises(CompressionError):
        decode_data_record(STREAM_COMPRESSED_DATA, good[:12] + b"\0" * (len(good) - 12))
    with pytest.raises(CompressionError):
        Compressor("LZO")
