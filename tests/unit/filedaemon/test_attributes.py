"""LStat / integer base64 vectors (PROTOCOL.md §9) and attribute records (§7.2)."""

import os

import pytest
from hypothesis import given, settings, strategies as st

from bareos.filedaemon.attributes import (
    FT_DIREND, FT_LNK, FT_LNKSAVED, FT_REG, AttributeRecord, LStat, decode_base64_int, decode_lstat,
    digest_to_catalog, encode_base64_int, encode_lstat, split_catalog_path,
)
from bareos.filedaemon.streams import STREAM_COMPRESSED_DATA, STREAM_FILE_DATA

VECTORS = [(0, "A"), (1, "B"), (63, "/"), (64, "BA"), (0o100644, "IGk"), (1700000000, "BlU/EA"), (-1, "-B")]


@pytest.mark.parametrize("value,text", VECTORS)
def test_base64_vectors(value, text):
    assert encode_base64_int(value) == text
    assert decode_base64_int(text) == value
    assert decode_base64_int(text.encode()) == value


@settings(deadline=None)
@given(st.integers(min_value=-(2**63) + 1, max_value=2**63 - 1))
def test_base64_round_trip(value):
    text = encode_base64_int(value)
    assert decode_base64_int(text) == value
    assert set(text.lstrip("-")) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")


def test_decode_is_lenient_like_frombase64():
    assert decode_base64_int("BA xyz") == 64


def test_lstat_field_order_and_example():
    lstat = LStat(dev=1, ino=2, mode=0o100644, nlink=1, uid=0, gid=0, rdev=0, size=64, blksize=4096,
                  blocks=8, atime=1700000000, mtime=1700000000, ctime=1700000000, link_fi=0, flags=0,
                  data_stream=STREAM_FILE_DATA)
    text = lstat.encode()
    assert text == "B C IGk B A A A BA BAA I BlU/EA BlU/EA BlU/EA A A C"
    assert len(text.split(" ")) == 16
    assert decode_lstat(text) == lstat


@settings(deadline=None)
@given(st.lists(st.integers(min_value=-(2**40), max_value=2**62), min_size=16, max_size=16))
def test_lstat_round_trip(values):
    lstat = LStat(*values)
    assert decode_lstat(lstat.encode()) == lstat
    assert decode_lstat(lstat.encode().encode()) == lstat


def test_encode_lstat_from_os_stat(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"x" * 100)
    os.utime(path, (1000000000, 1700000000))
    st_ = os.lstat(path)
    lstat = decode_lstat(encode_lstat(st_, link_fi=7, data_stream=STREAM_COMPRESSED_DATA))
    assert (lstat.mode, lstat.size, lstat.ino, lstat.dev) == (st_.st_mode, 100, st_.st_ino, st_.st_dev)
    assert (lstat.atime, lstat.mtime, lstat.link_fi, lstat.data_stream) == (1000000000, 1700000000, 7, 29)
    assert (lstat.uid, lstat.gid, lstat.nlink, lstat.blocks) == (st_.st_uid, st_.st_gid, 1, st_.st_blocks)


def test_decode_old_lstat_without_trailing_fields():
    lstat = decode_lstat("B C IGk B A A A BA BAA I BlU/EA BlU/EA BlU/EA")
    assert (lstat.size, lstat.link_fi, lstat.data_stream) == (64, 0, 0)


@pytest.mark.parametrize("fname", [
    b"/plain/file", b"/with space/and more  spaces ", b"/new\nline\n", b"/bad\xff\xfeutf8",
    "/ünïcödé/名前".encode(), b"/tab\there", b"/back\\slash",
])
def test_attribute_record_round_trip(fname):
    lstat = LStat(size=12, mode=0o100600, mtime=1700000000)
    record = AttributeRecord(42, FT_REG, fname, lstat)
    data = record.encode()
    assert data.startswith(b"42 3 " + fname + b"\0" + lstat.encode().encode() + b"\0\0\0" + b"0\0")
    back = AttributeRecord.decode(data)
    assert back == record
    assert back.stat.size == 12


def test_attribute_record_exact_bytes_for_link_and_dir():
    lstat = "A A A A A A A A A A A A A A A C"
    link = AttributeRecord(3, FT_LNKSAVED, b"/d/second", lstat, b"/d/first")
    assert link.encode() == b"3 1 /d/second\0" + lstat.encode() + b"\0/d/first\0\0" + b"0\0"
    symlink = AttributeRecord(4, FT_LNK, "/d/sym", lstat, "../t a r\nget")
    assert AttributeRecord.decode(symlink.encode()).link == b"../t a r\nget"
    directory = AttributeRecord(5, FT_DIREND, b"/d/", lstat)
    assert directory.encode().startswith(b"5 5 /d/\0")


@settings(deadline=None)
@given(st.binary(min_size=1, max_size=80).filter(lambda b: b"\0" not in b),
       st.binary(max_size=40).filter(lambda b: b"\0" not in b),
       st.integers(min_value=1, max_value=2**31 - 1), st.integers(min_value=1, max_value=28),
       st.integers(min_value=0, max_value=1000))
def test_attribute_record_hypothesis(fname, link, index, ftype, delta):
    record = AttributeRecord(index, ftype, b"/" + fname, LStat(ino=index), link, b"", delta)
    assert AttributeRecord.decode(record.encode()) == record


def test_attribute_record_rejects_nul():
    with pytest.raises(ValueError):
        AttributeRecord(1, FT_REG, b"/a\0b", LStat()).encode()


def test_split_catalog_path():
    assert split_catalog_path(b"/a/b/c") == (b"/a/b/", b"c")
    assert split_catalog_path(b"/a/b/") == (b"/a/b/", b"")
    assert split_catalog_path("/") == ("/", "")
    assert split_catalog_path("/top") == ("/", "top")
    assert split_catalog_path(b"/x/new\nline") == (b"/x/", b"new\nline")


def test_digest_to_catalog_is_unpadded_standard_base64():
    import hashlib
    assert digest_to_catalog(hashlib.md5(b"").digest()) == "1B2M2Y8AsgTpgAmY7PhCfg"
