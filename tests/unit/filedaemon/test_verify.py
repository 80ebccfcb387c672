"""The file daemon's VolumeVerifier (records read back from a volume -> file reports) and the
director's comparison of a report with a catalog entry."""

import base64
import hashlib

from twisted.internet import defer

from bareos.catalog.api import FileEntry
from bareos.director.jobs.storage import FileAttributes
from bareos.director.jobs.verify import changed_fields
from bareos.filedaemon.attributes import FT_LNKSAVED, FT_REG, AttributeRecord, LStat
from bareos.filedaemon.streams import STREAM_FILE_DATA, STREAM_MD5_DIGEST, STREAM_UNIX_ATTRIBUTES
from bareos.filedaemon.verify import VolumeVerifier


def attributes(index, name, file_type=FT_REG, size=5, mode=0o100644):
    return AttributeRecord(index, file_type, name, LStat(mode=mode, size=size))


def reports_of(records, data_level=False):
    """What the verifier reports, parsed as the director parses it: [FileRecord]."""
    packets, errors, files = [], [], []
    verifier = VolumeVerifier(None if data_level else packets.append, errors.append)
    for record in records:
        verifier.record(*record)
    verifier.finish()
    parser = FileAttributes(None, 0, store=files.extend)
    for packet in packets:
        parser.add(packet)
    finished = defer.ensureDeferred(parser.finish())       # nothing to wait for: a list
    assert finished.called
    return files, errors


def md5(data):
    return hashlib.md5(data).digest()


def as_catalog_stores(digest):
    return base64.b64encode(digest).decode("ascii").rstrip("=")


def test_the_digest_reported_is_the_one_of_the_data_read_back_not_the_stored_one():
    files, errors = reports_of([
        (1, STREAM_UNIX_ATTRIBUTES, attributes(1, b"/a")),
        (1, STREAM_FILE_DATA, b"hello"),
        (1, STREAM_MD5_DIGEST, md5(b"HELLO")),             # stored digest of other data
        (2, STREAM_UNIX_ATTRIBUTES, attributes(2, b"/b", FT_LNKSAVED)),   # no data: a hard link
        (2, STREAM_MD5_DIGEST, md5(b"linked")),
    ])
    assert [(f.path + f.name, f.md5) for f in files] == [
        (b"/a", as_catalog_stores(md5(b"hello"))),
        (b"/b", as_catalog_stores(md5(b"linked")))]        # stored, unrecomputed
    assert errors == []


def test_level_data_names_the_file_whose_data_does_not_match_its_stored_digest():
    files, errors = reports_of([
        (1, STREAM_UNIX_ATTRIBUTES, attributes(1, b"/good")),
        (1, STREAM_FILE_DATA, b"fine!"),
        (1, STREAM_MD5_DIGEST, md5(b"fine!")),
        (2, STREAM_UNIX_ATTRIBUTES, attributes(2, b"/bad")),
        (2, STREAM_FILE_DATA, b"xxxxx"),
        (2, STREAM_MD5_DIGEST, md5(b"yyyyy")),
    ], data_level=True)
    assert files == []
    assert len(errors) == 1 and errors[0].startswith("/bad: MD5 digest mismatch")


def test_a_file_cut_short_is_reported_without_a_digest():
    files, _ = reports_of([(1, STREAM_UNIX_ATTRIBUTES, attributes(1, b"/cut")),
                           (1, STREAM_FILE_DATA, b"hal")])
    assert [(f.name, f.md5) for f in files] == [(b"cut", "0")]


def test_only_the_fields_of_the_verify_letters_are_compared():
    catalog = FileEntry("/f", 1, LStat(mode=0o100644, size=5, mtime=1).encode(), "abc")
    changed = FileEntry("/f", 1, LStat(mode=0o100600, size=3, mtime=2).encode(), "def")
    assert changed_fields(catalog, changed, "m") == ["mtime differs: catalog 1, now 2"]
    assert changed_fields(catalog, changed, "p") == \
        [f"mode differs: catalog {oct(0o100644)}, now {oct(0o100600)}"]
    assert changed_fields(catalog, changed, "ds5") == [
        "size decreased: catalog 5, now 3", "size differs: catalog 5, now 3",
        "digest differs: catalog abc, now def"]
    assert changed_fields(catalog, catalog, "pinsugamcd5") == []
