"""Fuzzing attribute records (stream 1): the FD's restore decoder and the director's catalog side.

Valid records are made by our own encoder, then damaged (bytes flipped, overwritten, cut,
NULs and spaces moved); plus plain random bytes.  The FD's decoder (``AttributeRecord``,
``decode_lstat``) may only refuse with ``ValueError`` naming what is wrong — never a
``UnicodeDecodeError``, ``IndexError``, ``struct.error`` — and the director's side (the
records an SD forwards in ``UpdCat ... FileAttributes``) only with ``ProtocolViolation``.
A valid record decodes to what was encoded.  How many cases: see ``fuzzing``.
"""

import struct

from hypothesis import example, given, strategies as st

from bareos.director.jobs.storage import FileAttributes
from bareos.director.links import ProtocolViolation
from bareos.filedaemon.attributes import FT_MASK, AttributeRecord, LStat, decode_lstat

from fuzzing import fuzz_settings

UPDCAT_HEADER = struct.Struct("!IIiiI")      # VolSessionId, VolSessionTime, FileIndex, Stream, length

FILE_NAME = st.binary(min_size=1, max_size=40).filter(lambda name: b"\0" not in name)
LSTAT = st.builds(LStat, *[st.integers(min_value=-2**63, max_value=2**64 - 1)] * 16)
RECORD = st.builds(AttributeRecord, st.integers(min_value=0, max_value=2**31 - 1),
                   st.integers(min_value=0, max_value=FT_MASK), FILE_NAME, LSTAT,
                   st.one_of(st.just(b""), FILE_NAME), st.just(b""),
                   st.integers(min_value=0, max_value=2**31 - 1))

MUTATION = st.one_of(
    st.tuples(st.integers(min_value=0), st.binary(min_size=1, max_size=4)),       # overwrite
    st.tuples(st.integers(min_value=0), st.sampled_from([b"\0", b" ", b"-", b"\xff", b""])),
    st.tuples(st.integers(min_value=0), st.none()))                                # cut


def mutate(data, mutations):
    data = bytearray(data)
    for position, replacement in mutations:
        position %= len(data) + 1
        if replacement is None:
            del data[position:]
        else:
            data[position:position + len(replacement)] = replacement
    return bytes(data)


DAMAGED = st.builds(mutate, RECORD.map(AttributeRecord.encode),
                    st.lists(MUTATION, min_size=1, max_size=4))
TOKENS = st.lists(st.sampled_from([b"1", b"-1", b"3", b"99999999999999999999", b" ", b"\0", b"A",
                                   b"/a/b", b"\xc3", b"gB", b"-", b"+/"]), max_size=24).map(b"".join)
ATTRIBUTE_BYTES = st.one_of(DAMAGED, DAMAGED, DAMAGED, TOKENS, st.binary(max_size=120))


def refused_clearly(error):
    return type(error) is ValueError and ("attribute record" in str(error) or "LStat" in str(error))


@fuzz_settings
@given(record=RECORD)
def test_a_valid_attribute_record_decodes_to_what_was_encoded(record):
    assert AttributeRecord.decode(record.encode()) == record


@fuzz_settings
@given(data=ATTRIBUTE_BYTES)
@example(data=b"\x80")                  # UnicodeDecodeError
@example(data=b"12")                    # "subsequence not found"
@example(data=b"1 x /a\0A\0\0")         # "invalid literal for int()"
def test_no_attribute_record_crashes_the_file_daemons_decoder(data):
    try:
        AttributeRecord.decode(data)
    except Exception as error:         # noqa: BLE001 -- which type it is, is the test
        assert refused_clearly(error), repr(error)
    lstat = data.split(b"\0")[1] if data.count(b"\0") else data
    try:
        decode_lstat(lstat)
    except Exception as error:         # noqa: BLE001
        assert refused_clearly(error), repr(error)


@fuzz_settings
@given(data=ATTRIBUTE_BYTES, stream=st.sampled_from([1, 1, 1, 3, 2**31 - 1, -1]),
       length_change=st.sampled_from([0, 0, 0, 1, -1, 2**31]))
@example(data=b"1 3", stream=1, length_change=0)           # "not enough values to unpack"
@example(data=b"1 x /a\0A\0\0", stream=1, length_change=0)  # "invalid literal for int()"
def test_no_attribute_record_crashes_the_directors_catalog_side(data, stream, length_change):
    payload = UPDCAT_HEADER.pack(1, 2, 3, stream, max(0, len(data) + length_change) % 2**32) + data
    attributes = FileAttributes(catalog=None, job_id=1)      # stores nothing before 10,000 files
    for cut in (len(payload), len(payload) // 2, 0):
        try:
            attributes.add(payload[:cut])
        except ProtocolViolation as error:
            assert str(error)
