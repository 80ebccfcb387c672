"""File device volumes: create/open, append sessions, read back, volume full."""

import errno
import os
import struct
import zlib

import pytest

from bareos.volume import (
    EOS_LABEL,
    SOS_LABEL,
    VOL_LABEL,
    FileVolume,
    LabelError,
    Record,
    RecordAssembler,
    SessionLabel,
    TruncatedVolume,
    VolumeError,
    VolumeFull,
    VolumeLabel,
)

SID, STIME = 3, 1_700_000_000


def label(name):
    return VolumeLabel(name, pool_name="Full", media_type="File", host_name="h", label_prog="sd",
                       prog_version="Ver. 0.1", prog_date="Build now", label_btime=1, write_btime=2)


def job_records(n_files=20, size=5000, stream=2):
    out = []
    for fi in range(1, n_files + 1):
        out.append(Record(fi, 1, f"{fi} 3 /path/file{fi}\0lstat\0\0\0\0".encode()))
        out.append(Record(fi, stream, bytes([fi % 256]) * (size * fi % 70000)))
        out.append(Record(fi, 3, bytes(16)))
    return out


def sos(job_id=1):
    return SessionLabel(job_id, 5, "Full", "Backup", "job", "client-fd", f"job.{job_id}", "fs",
                        ord("B"), ord("F"), "md5")


def test_create_and_open(tmp_path):
    vol = FileVolume.create(tmp_path, "Full-0001", label("Full-0001"))
    assert vol.size == os.path.getsize(tmp_path / "Full-0001")
    vol.close()
    data = (tmp_path / "Full-0001").read_bytes()
    crc, size, number, ident, sid, stime = struct.unpack_from(">III4sII", data)
    assert (size, number, ident, sid, stime) == (len(data), 0, b"BB02", 0, 0)
    assert crc == zlib.crc32(data[4:])
    assert struct.unpack_from(">iiI", data, 24)[:2] == (VOL_LABEL, 0)
    again = FileVolume.open(tmp_path, "Full-0001")
    assert again.label == label("Full-0001") and again.label_type == VOL_LABEL
    again.close()
    with pytest.raises(VolumeError, match="exists"):
        FileVolume.create(tmp_path, "Full-0001", label("Full-0001"))
    with pytest.raises(ValueError):
        FileVolume.create(tmp_path, "Other", label("Full-0001"))


def test_open_rejects_bad_volumes(tmp_path):
    FileVolume.create(tmp_path, "A", label("A")).close()
    os.rename(tmp_path / "A", tmp_path / "B")
    with pytest.raises(LabelError, match="wrong volume"):
        FileVolume.open(tmp_path, "B")
    (tmp_path / "C").write_bytes(b"hello world, not a volume" * 3)
    with pytest.raises(VolumeError, match="BB02"):
        FileVolume.open(tmp_path, "C")
    (tmp_path / "D").write_bytes(b"")
    with pytest.raises(LabelError, match="empty"):
        FileVolume.open(tmp_path, "D")
    with pytest.raises(VolumeError, match="no volume file"):
        FileVolume.open(tmp_path, "E")
    FileVolume.create(tmp_path, "F", label("F")).close()
    raw = bytearray((tmp_path / "F").read_bytes())
    raw[60] ^= 1
    (tmp_path / "F").write_bytes(raw)
    with pytest.raises(VolumeError, match="checksum"):
        FileVolume.open(tmp_path, "F")


def test_session_round_trip_with_labels_and_addresses(tmp_path):
    vol = FileVolume.create(tmp_path, "V", label("V"))
    label_end = vol.size
    records = job_records()
    with vol.append_session(SID, STIME) as w:
        w.write_session_label(SOS_LABEL, sos())
        for r in records:
            w.write(r)
        w.write_session_label(EOS_LABEL, SessionLabel(**{**sos().__dict__, "job_files": 20,
                                                           "job_bytes": w.data_bytes}))
    assert w.start_address == label_end
    assert w.end_offset == vol.size and w.end_address == vol.size - 1
    assert (w.first_index, w.last_index) == (1, 20)
    assert w.jobmedia()["StartBlock"] == label_end and w.jobmedia()["EndFile"] == 0
    got = list(vol.read_session(SID, STIME, w.start_address, w.end_address, include_labels=True))
    assert got[1:-1] == records
    assert SessionLabel.from_record(got[0]) == sos()
    eos = SessionLabel.from_record(got[-1])
    assert eos.job_files == 20 and eos.start_block == label_end and eos.job_status == ord("T")
    assert list(vol.read_session(SID, STIME)) == records
    assert list(vol.read_session(SID, STIME + 1)) == []
    assert list(vol.read_session(SID, STIME, file_index_range=(5, 7))) == [r for r in records if 5 <= r.file_index <= 7]
    vol.close()
    # reopen and append a second session after the first
    vol = FileVolume.open(tmp_path, "V")
    with vol.append_session(SID + 1, STIME) as w2:
        w2.write(Record(1, 2, b"second"))
    assert w2.start_address == w.end_offset
    assert list(vol.read_session(SID + 1, STIME, w2.start_address)) == [Record(1, 2, b"second")]
    numbers = [b.number for b in vol.iter_blocks()]
    assert numbers == list(range(len(numbers)))  # per-volume block numbers from 0
    vol.close()


def test_interleaved_writers_on_one_volume(tmp_path):
    vol = FileVolume.create(tmp_path, "V", label("V"), max_block_size=1024)
    a, b = job_records(30, 700), job_records(25, 900, stream=29)
    wa = vol.append_session(1, STIME, batch_bytes=1)
    wb = vol.append_session(2, STIME, batch_bytes=1)
    for i in range(max(len(a), len(b))):
        if i < len(a):
            wa.write(a[i])
        if i < len(b):
            wb.write(b[i])
    wa.close()
    wb.close()
    sessions = [blk.session_id for blk in vol.iter_blocks()]
    assert sessions.count(1) > 3 and sessions.count(2) > 3
    assert any(x != y for x, y in zip(sessions[1:], sessions[2:]))  # really interleaved
    assert list(vol.read_session(1, STIME, wa.start_address, wa.end_address)) == a
    assert list(vol.read_session(2, STIME, wb.start_address, wb.end_address)) == b
    vol.close()


def test_volume_full_continues_on_next_volume(tmp_path):
    v1 = FileVolume.create(tmp_path, "V1", label("V1"), max_volume_bytes=20_000, max_block_size=4096)
    records = [Record(fi, 2, bytes([fi]) * 3000) for fi in range(1, 30)]
    w = v1.append_session(SID, STIME, batch_bytes=1)
    volumes = [v1]
    writers = [w]
    for r in records:
        try:
            w.write(r)
        except VolumeFull as full:
            assert full.volume == volumes[-1].name
            nv = FileVolume.create(tmp_path, f"V{len(volumes) + 1}", label(f"V{len(volumes) + 1}"),
                                   max_volume_bytes=20_000, max_block_size=4096)
            volumes.append(nv)
            w = w.continue_on(nv)
            writers.append(w)
    while True:
        try:
            w.close()
            break
        except VolumeFull:
            nv = FileVolume.create(tmp_path, f"V{len(volumes) + 1}", label(f"V{len(volumes) + 1}"),
                                   max_volume_bytes=20_000, max_block_size=4096)
            volumes.append(nv)
            w = w.continue_on(nv)
            writers.append(w)
    assert len(volumes) >= 4
    for v in volumes:
        assert v.size <= 20_000
    # a record split at the volume boundary: first block of the session on the next volume
    # starts with a continuation header
    second = list(volumes[1].iter_blocks())[1]
    assert struct.unpack_from(">iiI", second.data, 24)[1] < 0
    # reading volume by volume with one assembler joins the pieces
    asm = RecordAssembler()
    got = []
    for v, wr in zip(volumes, writers):
        got += list(v.read_session(SID, STIME, wr.start_address, wr.end_address, assembler=asm))
    assert got == records
    assert [wr.first_index for wr in writers][0] == 1 and writers[-1].last_index == 29
    with pytest.raises(VolumeError):
        writers[0].write(records[0])  # the old writer is closed


def test_enospc_truncates_partial_block(tmp_path, monkeypatch):
    vol = FileVolume.create(tmp_path, "V", label("V"), max_block_size=4096)
    w = vol.append_session(SID, STIME, batch_bytes=3 * 4096)
    before = [Record(1, 2, bytes(5000))]
    w.write(before[0])
    w.flush()
    good_size = vol.size
    real = os.pwritev
    calls = []

    def failing(fd, bufs, offset):
        calls.append(offset)
        if len(calls) == 1:
            return real(fd, bufs, offset)
        if len(calls) == 2:  # a short write: half of the second block lands on disk
            joined = b"".join(bytes(x) for x in bufs)
            return real(fd, [joined[:2048]], offset)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "pwritev", failing)
    more = [Record(2, 2, bytes([7]) * 20000)]
    with pytest.raises(VolumeFull) as info:
        w.write(more[0])
    assert "No space left" in str(info.value)
    assert "V" in str(info.value)
    monkeypatch.setattr(os, "pwritev", real)
    # one complete block was kept, the torn half block was cut off
    assert vol.size == good_size + 4096 == os.path.getsize(tmp_path / "V")
    assert list(vol.read_session(SID, STIME)) == before  # readable; record 2 still incomplete here
    v2 = FileVolume.create(tmp_path, "V2", label("V2"), max_block_size=4096)
    w2 = w.continue_on(v2)
    w2.close()
    asm = RecordAssembler()
    got = list(vol.read_session(SID, STIME, assembler=asm)) + list(v2.read_session(SID, STIME, assembler=asm))
    assert got == before + more


def test_other_write_errors_are_volume_errors(tmp_path, monkeypatch):
    vol = FileVolume.create(tmp_path, "V", label("V"))
    w = vol.append_session(SID, STIME)
    w.write(Record(1, 2, b"x"))

    def broken(fd, bufs, offset):
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    monkeypatch.setattr(os, "pwritev", broken)
    with pytest.raises(VolumeError) as info:
        w.flush()
    assert not isinstance(info.value, VolumeFull) and "Input/output error" in str(info.value)


def test_torn_tail_is_cut_before_appending(tmp_path):
    vol = FileVolume.create(tmp_path, "V", label("V"), max_block_size=4096)
    with vol.append_session(SID, STIME) as w:
        w.write(Record(1, 2, bytes(10000)))
    good = vol.size
    vol.close()
    last = list(FileVolume.open(tmp_path, "V", writable=False).iter_blocks())[-2]
    assert last.size == 4096
    with open(tmp_path / "V", "ab") as f:
        f.write(bytes(last.data[:3096]))  # a torn copy of a block
    ro = FileVolume.open(tmp_path, "V", writable=False)
    with pytest.raises(TruncatedVolume) as info:
        list(ro.read_session(SID, STIME))
    assert info.value.offset == good
    ro.close()
    vol = FileVolume.open(tmp_path, "V")
    with vol.append_session(SID + 1, STIME) as w2:
        w2.write(Record(1, 2, b"after repair"))
    assert vol.repaired_bytes == 4096 - 1000 and w2.start_address == good
    assert list(vol.read_session(SID + 1, STIME)) == [Record(1, 2, b"after repair")]
    assert [r.data for r in vol.read_session(SID, STIME)] == [bytes(10000)]
    vol.close()


def test_find_end_counts_the_complete_blocks_and_cuts_a_torn_one(tmp_path):
    vol = FileVolume.create(tmp_path, "V", label("V"), max_block_size=4096)
    with vol.append_session(SID, STIME) as w:
        w.write(Record(1, 2, bytes(10000)))
    good, complete = vol.size, len(list(vol.iter_blocks()))
    vol.close()
    torn = list(FileVolume.open(tmp_path, "V", writable=False).iter_blocks())[-1]
    with open(tmp_path / "V", "ab") as f:
        f.write(bytes(torn.data[:1000]))  # a block cut short by a kill, with its number
    vol = FileVolume.open(tmp_path, "V")
    assert vol.find_end() == (good, complete)
    with vol.append_session(SID + 1, STIME) as w2:
        w2.write(Record(1, 2, b"after repair"))
    numbers = [block.number for block in vol.iter_blocks()]
    assert numbers == list(range(complete + 1))       # numbering goes on without a gap
    vol.close()


def test_read_only_and_closed(tmp_path):
    FileVolume.create(tmp_path, "V", label("V")).close()
    ro = FileVolume.open(tmp_path, "V", writable=False)
    with pytest.raises(VolumeError, match="read-only"):
        ro.append_session(1, 1)
    ro.close()
    with pytest.raises(VolumeError, match="closed"):
        ro.append_session(1, 1)


def _spill(writer, volumes, writers, directory, max_bytes, block_size):
    name = f"S{len(volumes) + 1}"
    nv = FileVolume.create(directory, name, label(name), max_volume_bytes=max_bytes, max_block_size=block_size)
    volumes.append(nv)
    writer = writer.continue_on(nv)
    writers.append(writer)
    return writer


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 9000), min_size=1, max_size=30), st.integers(200, 2000),
       st.integers(0, 6000), st.sampled_from([1, 5000, 1 << 20]))
def test_spanning_volumes_any_sizes(sizes, block_size, extra, batch):
    import tempfile

    max_bytes = block_size * 3 + extra + 300  # room for the label block and a few more
    records = [Record(i + 1, 2, bytes([i % 256]) * n) for i, n in enumerate(sizes)]
    with tempfile.TemporaryDirectory() as d:
        v = FileVolume.create(d, "S1", label("S1"), max_volume_bytes=max_bytes, max_block_size=block_size)
        volumes, writers = [v], [v.append_session(SID, STIME, batch_bytes=batch)]
        w = writers[0]
        for r in records:
            try:
                w.write(r)
            except VolumeFull:
                w = _spill(w, volumes, writers, d, max_bytes, block_size)
        while True:
            try:
                w.close()
                break
            except VolumeFull:
                w = _spill(w, volumes, writers, d, max_bytes, block_size)
        asm = RecordAssembler()
        got = []
        for vol, wr in zip(volumes, writers):
            assert vol.size <= max_bytes
            if wr.start_address is not None:
                got += list(vol.read_session(SID, STIME, wr.start_address, wr.end_address, assembler=asm))
            vol.close()
        assert got == records
        assert asm.orphans == 0 and asm.abandoned == 0 and asm.pending == 0
