"""BB02 blocks: the split-record rule, CRC checks, reassembly."""

import io
import struct
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bareos.volume import (
    EOS_LABEL,
    SOS_LABEL,
    BlockWriter,
    Record,
    RecordAssembler,
    SessionLabel,
    TruncatedVolume,
    VolumeError,
    decode_records,
    encode_records,
    iter_blocks,
)
from bareos.volume.blocks import BLOCK_HEADER_SIZE, MIN_BLOCK_SIZE, block_crc32

HDR = struct.Struct(">III4sII")
REC = struct.Struct(">iiI")


@settings(max_examples=50, deadline=None)
@given(st.binary(max_size=70000), st.integers(0, 2**32 - 1))
def test_block_crc_is_zlibs_crc32_over_every_kind_of_piece(data, start):
    """The block CRC (ISA-L's when installed) gives zlib's values, chained from any start."""
    expected = zlib.crc32(data, start)
    assert block_crc32(data, start) == expected
    assert block_crc32(bytearray(data), start) == expected
    with memoryview(data) as view:
        half = len(data) // 2
        assert block_crc32(view[half:], block_crc32(view[:half], start)) == expected


def raw_blocks(data):
    """An independent, minimal parse: [(header tuple, [(fi, stream, size, payload)])]."""
    out = []
    pos = 0
    while pos < len(data):
        crc, size, number, ident, sid, stime = HDR.unpack_from(data, pos)
        assert ident == b"BB02"
        assert crc == zlib.crc32(data[pos + 4:pos + size])
        body = data[pos + BLOCK_HEADER_SIZE:pos + size]
        recs = []
        p = 0
        while len(body) - p >= 12:
            fi, stream, n = REC.unpack_from(body, p)
            p += 12
            recs.append((fi, stream, n, body[p:p + n]))
            p += min(n, len(body) - p)
        assert p == len(body), "no trailing bytes in a block"
        out.append(((size, number, sid, stime), recs))
        pos += size
    return out


def test_split_record_layout():
    # block of 100 bytes: 76 bytes for records after the 24-byte header
    data = bytes(range(200))
    blob = encode_records([Record(5, 2, data)], max_block_size=100, session_id=3, session_time=9)
    blocks = raw_blocks(blob)
    assert [b[0] for b in blocks] == [(100, 0, 3, 9), (100, 1, 3, 9), (100, 2, 3, 9), (44, 3, 3, 9)]
    # first header: positive Stream, DataSize = the TOTAL size; 64 bytes follow
    assert blocks[0][1] == [(5, 2, 200, data[:64])]
    # continuations: -Stream, DataSize = bytes still to come
    assert blocks[1][1] == [(5, -2, 136, data[64:128])]
    assert blocks[2][1] == [(5, -2, 72, data[128:192])]
    assert blocks[3][1] == [(5, -2, 8, data[192:])]
    assert decode_records(blob) == [(3, 9, Record(5, 2, data))]


def test_header_exactly_at_block_end_carries_no_data():
    # 24 + 12 + 52 = 88: exactly 12 bytes remain for the second record's header
    first = Record(1, 2, bytes(52))
    second = Record(2, 2, b"x" * 30)
    blob = encode_records([first, second], max_block_size=100)
    blocks = raw_blocks(blob)
    assert blocks[0][1] == [(1, 2, 52, bytes(52)), (2, 2, 30, b"")]
    assert blocks[0][0][0] == 100
    assert blocks[1][1] == [(2, -2, 30, b"x" * 30)]
    assert [r for _, _, r in decode_records(blob)] == [first, second]


def test_short_block_when_header_does_not_fit():
    first = Record(1, 2, bytes(55))  # 24 + 12 + 55 = 91: 9 bytes left, < 12
    second = Record(2, 2, b"y")
    blob = encode_records([first, second], max_block_size=100)
    blocks = raw_blocks(blob)
    assert blocks[0][0][0] == 91  # written short
    assert blocks[1][1] == [(2, 2, 1, b"y")]


def test_zero_length_records():
    recs = [Record(1, 2, b""), Record(1, 3, b""), Record(2, 2, b"")]
    assert [r for _, _, r in decode_records(encode_records(recs, max_block_size=MIN_BLOCK_SIZE))] == recs


def test_labels_are_never_split():
    label = SessionLabel(1, 5, "Full", "Backup", "job", "cl", "job.1", "fs").to_record(SOS_LABEL)
    filler = Record(1, 2, bytes(200))
    blob = encode_records([filler, label], max_block_size=300)
    blocks = raw_blocks(blob)
    assert len(blocks) == 2
    assert blocks[1][1][0][:3] == (SOS_LABEL, 1, len(label.data))
    with pytest.raises(ValueError):
        encode_records([Record(EOS_LABEL, 1, bytes(300))], max_block_size=300)


def test_refusals():
    with pytest.raises(ValueError):
        BlockWriter(max_block_size=MIN_BLOCK_SIZE - 1)
    with pytest.raises(ValueError):
        encode_records([Record(1, 0, bytes(500))], max_block_size=100)  # Stream 0 split
    with pytest.raises(ValueError):
        BlockWriter().write(Record(1, 2, bytes(20_000_000)))


record_lists = st.lists(
    st.tuples(st.integers(1, 50), st.integers(1, 2000), st.integers(0, 3000)),
    max_size=25,
)


@settings(max_examples=300, deadline=None)
@given(record_lists, st.integers(MIN_BLOCK_SIZE, 700))
def test_round_trip_any_sizes(specs, block_size):
    records = [Record(fi, stream, bytes([i % 251]) * n) for i, (fi, stream, n) in enumerate(specs)]
    blob = encode_records(records, max_block_size=block_size, session_id=2, session_time=77)
    blocks = raw_blocks(blob)
    assert all(size <= block_size for (size, _, _, _), _ in blocks)
    assert [number for (_, number, _, _), _ in blocks] == list(range(len(blocks)))
    assert [r for _, _, r in decode_records(blob)] == records


@settings(max_examples=100, deadline=None)
@given(st.integers(MIN_BLOCK_SIZE, 400), st.integers(0, 3))
def test_records_exactly_at_boundaries(block_size, delta):
    # records whose header+data end exactly at, or a few bytes around, the block end
    room = block_size - BLOCK_HEADER_SIZE - 12
    sizes = [room, room + delta, max(room - delta, 0), 0, room * 3 + delta]
    records = [Record(i + 1, 2, bytes([i]) * n) for i, n in enumerate(sizes)]
    blob = encode_records(records, max_block_size=block_size)
    assert [r for _, _, r in decode_records(blob)] == records


def test_block_writer_take_and_numbers():
    w = BlockWriter(max_block_size=100, session_id=1, session_time=2, first_block_number=7)
    w.write(Record(1, 2, bytes(150)))
    blocks = w.take()  # only complete blocks
    assert [HDR.unpack_from(b)[2] for b in blocks] == [7, 8]
    rest = w.flush()
    assert [HDR.unpack_from(b)[2] for b in rest] == [9]
    assert w.flush() == []


def corrupt(blob, at):
    b = bytearray(blob)
    b[at] ^= 0x40
    return bytes(b)


def test_crc_mismatch_names_offset():
    blob = encode_records([Record(1, 2, bytes(300))], max_block_size=100)
    with pytest.raises(VolumeError) as info:
        list(iter_blocks(io.BytesIO(corrupt(blob, 250)), volume="V1"))
    assert info.value.offset == 200 and info.value.volume == "V1"
    assert "offset 200" in str(info.value) and "checksum" in str(info.value)


def test_garbage_and_truncation():
    blob = encode_records([Record(1, 2, bytes(300))], max_block_size=100)
    with pytest.raises(VolumeError) as info:
        list(iter_blocks(io.BytesIO(blob[:100] + b"garbage" * 10)))
    assert info.value.offset == 100 and "BB02" in str(info.value)
    with pytest.raises(TruncatedVolume) as info:
        list(iter_blocks(io.BytesIO(blob[:150])))
    assert info.value.offset == 100
    with pytest.raises(TruncatedVolume):
        list(iter_blocks(io.BytesIO(blob[:110])))
    bad_size = bytearray(blob)
    struct.pack_into(">I", bad_size, 4, 3)
    with pytest.raises(VolumeError, match="insane"):
        list(iter_blocks(io.BytesIO(bytes(bad_size))))
    # no verification: the corrupt block is handed out
    assert len(list(iter_blocks(io.BytesIO(corrupt(blob, 250)), verify=False))) == 5


def test_reader_with_small_chunks_and_range():
    from bareos.volume import BlockReader

    blob = encode_records([Record(i, 2, bytes(i * 37)) for i in range(1, 40)], max_block_size=256)
    offsets = [b.offset for b in BlockReader(io.BytesIO(blob), chunk_size=7)]
    assert offsets == [b.offset for b in iter_blocks(io.BytesIO(blob))]
    middle = offsets[3]
    assert [b.offset for b in BlockReader(io.BytesIO(blob), start=middle, end=offsets[5])] == offsets[3:6]


def test_interleaved_sessions():
    a = [Record(i, 2, bytes([1]) * (i * 97)) for i in range(1, 30)]
    b = [Record(i, 2, bytes([2]) * (i * 53)) for i in range(1, 30)]
    wa = BlockWriter(200, session_id=1, session_time=10)
    wb = BlockWriter(200, session_id=2, session_time=10)
    blocks = []
    for ra, rb in zip(a, b):
        wa.write(ra)
        wb.write(rb)
        blocks += wa.take() + wb.take()  # blocks alternate on the "volume"
    blocks += wa.flush() + wb.flush()
    result = decode_records(b"".join(blocks))
    assert [r for s, _, r in result if s == 1] == a
    assert [r for s, _, r in result if s == 2] == b
    only_b = RecordAssembler(sessions={(2, 10)})
    assert [r for _, _, r in only_b.feed_all(iter_blocks(io.BytesIO(b"".join(blocks))))] == b


def test_continuation_problems():
    blob = encode_records([Record(4, 2, bytes(300))], max_block_size=100)
    blocks = list(iter_blocks(io.BytesIO(blob)))
    # reading from the second block: continuations with nothing pending are skipped
    asm = RecordAssembler()
    assert list(asm.feed_all(blocks[1:])) == [] and asm.orphans == 4
    # a continuation of another stream is an error
    asm = RecordAssembler()
    list(asm.feed(blocks[0]))
    other = encode_records([Record(4, 3, bytes(10))], max_block_size=100)
    fake = bytearray(other)
    struct.pack_into(">iiI", fake, 24, 4, -3, 236)
    struct.pack_into(">I", fake, 0, zlib.crc32(bytes(fake[4:])))
    with pytest.raises(VolumeError, match="does not continue"):
        list(asm.feed_all(iter_blocks(io.BytesIO(bytes(fake)))))
    # a record left unfinished is dropped when its session starts a new one
    asm = RecordAssembler()
    list(asm.feed(blocks[0]))
    assert asm.pending == 1
    fresh = list(asm.feed_all(iter_blocks(io.BytesIO(encode_records([Record(5, 2, b"ok")])))))
    assert [r for _, _, r in fresh] == [Record(5, 2, b"ok")] and asm.abandoned == 1


def test_bareos_empty_continuation_quirk_is_tolerated():
    # Bareos follows a zero-length record that ends a block with an empty continuation header
    w = BlockWriter(MIN_BLOCK_SIZE + 11)  # room for exactly one header after a 12-byte one
    w.write(Record(1, 2, b""))
    blocks = w.flush()
    quirk = bytearray(BLOCK_HEADER_SIZE) + REC.pack(1, -2, 0) + REC.pack(2, 2, 1) + b"z"
    blocks.append(bytes(quirk))
    from bareos.volume.blocks import seal_block
    seal_block(quirk, 1, 0, 0)
    blob = bytes(blocks[0]) + bytes(quirk)
    asm = RecordAssembler()
    got = [r for _, _, r in asm.feed_all(iter_blocks(io.BytesIO(blob)))]
    assert got == [Record(1, 2, b""), Record(2, 2, b"z")] and asm.orphans == 0


def test_refused_record_leaves_writer_intact():
    w = BlockWriter(100)
    w.write(Record(1, 2, b"abc"))
    with pytest.raises(ValueError):
        w.write(Record(1, 0, bytes(500)))
    with pytest.raises(ValueError):
        w.write(Record(SOS_LABEL, 1, bytes(500)))
    w.write(Record(2, 2, b"def"))
    assert [r for _, _, r in decode_records(b"".join(w.flush()))] == [Record(1, 2, b"abc"), Record(2, 2, b"def")]
