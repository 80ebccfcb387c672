"""Fuzzing the BB02 volume readers: blocks, records and labels.

Valid volumes are made by our own writer (a label block, then sessions of records split
across small blocks), then damaged: bits flipped, bytes overwritten, cut short, block
lengths made huge, with the block checksums left wrong or recomputed (so the damage
reaches the record and label decoders behind the CRC check); and plain random bytes.
Every way an SD reads a volume must then end in a ``VolumeError`` (its subclasses
``LabelError``, ``TruncatedVolume``) with a message, never another exception.  How many
cases: see ``fuzzing``.
"""

import io
import os
import struct

from hypothesis import given, strategies as st

from bareos.volume import (
    BLOCK_HEADER_SIZE, EOS_LABEL, SOS_LABEL, VOL_LABEL, FileVolume, Record, RecordAssembler,
    SessionLabel, VolumeError, VolumeLabel, encode_records, iter_blocks)
from bareos.volume.blocks import seal_block

from fuzzing import fuzz_settings

VOLUME = "Fuzz-0001"
SMALL_BLOCK = 256           # small blocks: many headers and split records in a few bytes

LABEL = VolumeLabel(VOLUME, "", "Full", "Backup", "File", "fuzz-host", "bareos-sd", "25.1.1",
                    "01Jan26")
RECORD = st.builds(Record, st.integers(min_value=1, max_value=2**31 - 1),
                   st.integers(min_value=1, max_value=2**31 - 1), st.binary(max_size=600))
SESSION_LABEL = st.builds(SessionLabel, job_id=st.integers(min_value=1, max_value=2**31 - 1),
                          job_name=st.text(max_size=20).filter(lambda name: "\0" not in name))


@st.composite
def volumes(draw):
    """The bytes of a valid volume: the label block, then one or two sessions."""
    blocks = encode_records([LABEL.to_record(VOL_LABEL)], SMALL_BLOCK)
    for session_id in range(1, draw(st.integers(min_value=1, max_value=2)) + 1):
        label = draw(SESSION_LABEL)
        records = [label.to_record(SOS_LABEL), *draw(st.lists(RECORD, max_size=5))]
        label.job_files = len(records) - 1
        records.append(label.to_record(EOS_LABEL))
        blocks += encode_records(records, SMALL_BLOCK, session_id=session_id, session_time=7)
    return bytearray(blocks)


def reseal(volume):
    """Recompute the checksum of every block whose header still parses."""
    offset = 0
    while offset + BLOCK_HEADER_SIZE <= len(volume):
        size, number, _ident, session_id, session_time = struct.unpack_from(">II4sII", volume, offset + 4)
        if size < BLOCK_HEADER_SIZE or offset + size > len(volume):
            return
        volume[offset:offset + size] = seal_block(volume[offset:offset + size], number, session_id,
                                                  session_time)
        offset += size


MUTATION = st.one_of(
    st.tuples(st.just("flip"), st.integers(min_value=0), st.integers(min_value=0, max_value=7)),
    st.tuples(st.just("overwrite"), st.integers(min_value=0), st.binary(min_size=1, max_size=8)),
    st.tuples(st.just("truncate"), st.integers(min_value=0)),
    st.tuples(st.just("u32"), st.integers(min_value=0),           # a length or count made huge
              st.sampled_from([0, 1, 11, 12, 23, 24, 2**31 - 1, 2**31, 2**32 - 1, 20_000_000])))


def mutate(volume, mutations):
    for kind, position, *argument in mutations:
        if not volume:
            break
        position %= len(volume)
        if kind == "flip":
            volume[position] ^= 1 << argument[0]
        elif kind == "overwrite":
            volume[position:position + len(argument[0])] = argument[0]
        elif kind == "truncate":
            del volume[position:]
        else:
            volume[position:position + 4] = struct.pack(">I", argument[0])
    return volume


@st.composite
def damaged_volumes(draw):
    volume = mutate(draw(volumes()), draw(st.lists(MUTATION, min_size=1, max_size=4)))
    if draw(st.booleans()):
        reseal(volume)
    return bytes(volume)


VOLUME_BYTES = st.one_of(damaged_volumes(), damaged_volumes(), damaged_volumes(),
                         st.binary(max_size=400))


def read_everything(volume_bytes, directory):
    """Every reader an SD uses on a volume: open (label, tail scan), records, sessions,
    labels decoded, and the in-memory block reader without checksums."""
    with open(os.path.join(directory, VOLUME), "wb") as file:
        file.write(volume_bytes)
    for writable in (False, True):      # read-only refuses a torn tail, writable cuts it off
        with FileVolume.open(directory, VOLUME, writable=writable) as volume:
            for _session_id, _session_time, record in volume.records():
                if record.file_index in (SOS_LABEL, EOS_LABEL):
                    SessionLabel.from_record(record)
                elif record.file_index == VOL_LABEL:
                    VolumeLabel.from_record(record)
            list(volume.read_session(1, 7, include_labels=True))
    assembler = RecordAssembler(VOLUME)
    for block in iter_blocks(io.BytesIO(volume_bytes), volume=VOLUME, verify=False):
        list(block.pieces())
        list(assembler.feed(block))


def test_no_damaged_volume_crashes_the_readers(tmp_path):
    tried = 0

    @fuzz_settings
    @given(volume_bytes=VOLUME_BYTES)
    def one_volume(volume_bytes):
        nonlocal tried
        tried += 1
        try:
            read_everything(volume_bytes, tmp_path)
        except VolumeError as error:
            assert error.reason, error

    one_volume()
    print(f"\n{tried} volumes read")
