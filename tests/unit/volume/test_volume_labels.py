"""Volume and session labels against Bareos' own label block."""

import struct
import zlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bareos.volume import (
    EOS_LABEL,
    PRE_LABEL,
    SOS_LABEL,
    VOL_LABEL,
    LabelError,
    Record,
    SessionLabel,
    VolumeLabel,
    decode_records,
    encode_records,
)
from bareos.volume.blocks import iter_blocks

# The 204-byte label block of Bareos' core/src/tests/test_crc32.cc (written by
# a FreeBSD storage daemon, Bareos 18.2.7): test data, not code.
BAREOS_LABEL_BLOCK = bytes.fromhex(
    "cb678ddd000000cc0000000042423032000000000000000"
    "0ffffffff00000000000000a8"
    "426172656f7320322e3020696d6d6f7274616c0a00"  # "Bareos 2.0 immortal\n\0"
    "00000014"  # VerNum 20
    "00059df7895a0fdc"  # label_btime
    "00059df7895a1037"  # write_btime
    "00000000000000000000000000000000"  # two float64 zeros
    "667265656273642d31382e322e3700"  # freebsd-18.2.7
    "00"  # PrevVolumeName ""
    "5363726174636800"  # Scratch
    "4261636b757000"  # Backup
    "46696c6500"  # File
    "6672656562736400"  # freebsd
    "667265656273642d736400"  # freebsd-sd
    "5665722e2031382e322e372031322044656365"
    "6d6265722032303139 00"  # Ver. 18.2.7 12 December 2019
    "4275696c642044656320313220323031392031373a30393a3431 00"  # Build Dec 12 2019 17:09:41
)


def test_vector_is_the_documented_block():
    assert len(BAREOS_LABEL_BLOCK) == 204
    assert zlib.crc32(BAREOS_LABEL_BLOCK[4:]) == 0xCB678DDD
    assert struct.unpack(">I", BAREOS_LABEL_BLOCK[:4])[0] == 0xCB678DDD


def test_decode_bareos_label_block():
    import io

    (block,) = list(iter_blocks(io.BytesIO(BAREOS_LABEL_BLOCK)))
    assert (block.offset, block.number, block.session_id, block.session_time) == (0, 0, 0, 0)
    (piece,) = list(block.pieces())
    fi, stream, size, data = piece
    assert (fi, stream, size) == (PRE_LABEL, 0, 168)
    assert bytes(data[:21]) == b"Bareos 2.0 immortal\n\0"
    assert struct.unpack(">I", bytes(data[21:25]))[0] == 20  # VerNum
    label = VolumeLabel.decode(data)
    assert label == VolumeLabel(
        volume_name="freebsd-18.2.7",
        prev_volume_name="",
        pool_name="Scratch",
        pool_type="Backup",
        media_type="File",
        host_name="freebsd",
        label_prog="freebsd-sd",
        prog_version="Ver. 18.2.7 12 December 2019",
        prog_date="Build Dec 12 2019 17:09:41",
        label_btime=0x00059DF7895A0FDC,
        write_btime=0x00059DF7895A1037,
    )


def test_reencode_bareos_label_block_byte_for_byte():
    (_, _, record), = decode_records(BAREOS_LABEL_BLOCK)
    label = VolumeLabel.from_record(record)
    assert label.encode() == record.data
    assert encode_records([label.to_record(PRE_LABEL)]) == BAREOS_LABEL_BLOCK


names = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\0"), max_size=30)
btimes = st.integers(-(2**63), 2**63 - 1)
u32 = st.integers(0, 2**32 - 1)


short = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\0"), max_size=12)


@given(st.builds(VolumeLabel, names, names, names, names, names, names, short, short, short, btimes, btimes))
def test_volume_label_round_trip(label):
    assert VolumeLabel.decode(label.encode()) == label
    assert VolumeLabel.from_record(label.to_record(VOL_LABEL)) == label


@given(u32, btimes, names, names, names, names, names, names, u32, u32, names,
       st.one_of(st.none(), st.tuples(u32, st.integers(0, 2**64 - 1), u32, u32, u32, u32, u32, u32)))
def test_session_label_round_trip(job_id, wb, p, pt, jn, cn, job, fs, jt, jl, md5, eos):
    label = SessionLabel(job_id, wb, p, pt, jn, cn, job, fs, jt, jl, md5, *(eos or ()))
    kind = EOS_LABEL if eos else SOS_LABEL
    record = label.to_record(kind)
    assert record.file_index == kind and record.stream == job_id
    assert SessionLabel.from_record(record) == label
    assert SessionLabel.decode(record.data) == label  # inferred from the length


def test_session_label_layout():
    label = SessionLabel(7, 1, "Full", "Backup", "job", "client-fd", "job.2024-01-01_00.00.00_07",
                         "set", ord("B"), ord("F"), "md5x")
    data = label.encode()
    assert data.startswith(b"Bareos 2.0 immortal\n\0" + struct.pack(">IIqd", 20, 7, 1, 0.0))
    assert data.endswith(b"set\0" + struct.pack(">II", 66, 70) + b"md5x\0")
    eos = SessionLabel(**{**label.__dict__, "job_files": 3, "job_bytes": 2**40, "start_block": 10,
                          "end_block": 20, "start_file": 0, "end_file": 1, "job_errors": 0,
                          "job_status": ord("T")})
    tail = eos.encode()[len(data):]
    assert tail == struct.pack(">IQIIIIII", 3, 2**40, 10, 20, 0, 1, 0, 84)


def test_labels_refuse_what_bareos_cannot_read():
    with pytest.raises(ValueError):
        VolumeLabel("a" * 128).encode()  # MAX_NAME_LENGTH 128 with the NUL
    VolumeLabel("a" * 127).encode()
    with pytest.raises(ValueError):
        VolumeLabel("v", label_prog="p" * 50).encode()  # char[50]
    with pytest.raises(ValueError):
        VolumeLabel("with\0nul").encode()


@pytest.mark.parametrize("data", [
    b"",
    b"Bareos 2.0 immortal\n\0",
    b"Bareos 2.0 immortal\n\0" + struct.pack(">Iqqdd", 20, 0, 0, 0, 0) + b"vol\0unterminated",
    b"Not a label at all\n\0" + bytes(40),
    b"Bareos 2.0 immortal\n\0" + struct.pack(">Iqqdd", 10, 0, 0, 0, 0) + b"\0" * 9,
])
def test_bad_volume_labels(data):
    with pytest.raises(LabelError):
        VolumeLabel.decode(data)


def test_record_kind_checked():
    with pytest.raises(LabelError):
        VolumeLabel.from_record(Record(SOS_LABEL, 1, b""))
    with pytest.raises(LabelError):
        SessionLabel.from_record(Record(VOL_LABEL, 0, b""))
