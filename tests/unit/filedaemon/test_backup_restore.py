"""Walk + read + restore round trips in temporary directories, without any network."""

import hashlib
import os
import stat
import time

import pytest

from bareos.filedaemon import streams
from bareos.filedaemon.attributes import (
    FT_DIREND, FT_LNK, FT_LNKSAVED, FT_REG, FT_REGE, FT_SPEC, AttributeRecord,
)
from bareos.filedaemon.fileset import FileSetSpec
from bareos.filedaemon.restore import Restorer, RestoreDiskFull
from bareos.filedaemon.walk import BackupStats, backup_records, read_file_chunks, walk
from bareos.testing.filesystems import small_tmpfs

IS_ROOT = os.geteuid() == 0
OLD = 978307200  # 2001-01-01
needs_lz4 = pytest.mark.skipif(not streams.lz4_available(), reason="python lz4 not installed")


def spec_for(top, letters="M", extra=()):
    return FileSetSpec.parse(["I\n", f"O {letters}\n", *extra, "N\n", f"F {top}", "N\n", "N\n"])


def make_tree(root):
    """A tree with every kind of entry the issue asks for."""
    root.mkdir()
    (root / "plain.txt").write_bytes(b"hello world\n")
    (root / "big.bin").write_bytes(os.urandom(3 * 1024 * 1024 + 123))
    (root / "empty").write_bytes(b"")
    (root / "empty-private").write_bytes(b"")
    os.chmod(root / "empty-private", 0o600)
    (root / "emptydir").mkdir()
    nested = root / "a" / "b" / "c"
    nested.mkdir(parents=True)
    (nested / "deep.txt").write_bytes(b"deep\n" * 1000)
    (root / "with space.txt").write_bytes(b"spaces")
    (root / "ünïcödé.txt").write_bytes("unicode".encode())
    os.mkdir(os.path.join(os.fsencode(root), b"bad-\xff\xfe-dir"))
    with open(os.path.join(os.fsencode(root), b"bad-\xff\xfe-dir", b"new\nline"), "wb") as f:
        f.write(b"newline name")
    os.symlink("plain.txt", root / "rel-link")
    os.symlink("/nonexistent/target with space", root / "dangling-abs-link")
    os.link(root / "plain.txt", root / "hard1")
    os.link(root / "plain.txt", root / "a" / "hard2")
    os.mkfifo(root / "fifo")
    (root / "private").write_bytes(b"secret")
    os.chmod(root / "private", 0o600)
    (root / "script").write_bytes(b"#!/bin/sh\n")
    os.chmod(root / "script", 0o755)
    locked = root / "locked"
    locked.mkdir()
    (locked / "inside").write_bytes(b"in a 000 dir")
    if IS_ROOT:
        os.chown(root / "private", 1234, 5678, follow_symlinks=False)
        os.chown(root / "rel-link", 4321, 8765, follow_symlinks=False)
    for path in [root / "plain.txt", root / "big.bin", nested / "deep.txt", root / "private"]:
        os.utime(path, (OLD + 10, OLD))
    os.utime(root / "rel-link", (OLD, OLD + 5), follow_symlinks=False)
    for d in [nested, nested.parent, nested.parent.parent, root / "emptydir", locked]:
        os.utime(d, (OLD + 1, OLD + 2))
    if IS_ROOT:
        os.chmod(locked, 0o000)  # only root can back up and restore into a 000 directory
    return root


def snapshot(root):
    """rel path -> metadata and content hash (for comparison)."""
    root = os.fsencode(root)
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            rel = os.path.relpath(path, root)
            entry = {"type": stat.S_IFMT(st.st_mode), "uid": st.st_uid, "gid": st.st_gid}
            if not stat.S_ISLNK(st.st_mode):
                entry["mode"] = stat.S_IMODE(st.st_mode)
            if not stat.S_ISDIR(st.st_mode):
                entry["mtime"] = int(st.st_mtime)
            if stat.S_ISREG(st.st_mode):
                with open(path, "rb") as f:
                    entry["sha"] = hashlib.sha256(f.read()).hexdigest()
                entry["size"] = st.st_size
            if stat.S_ISLNK(st.st_mode):
                entry["target"] = os.readlink(path)
            out[rel] = entry
    # directory times last (the walk above may have touched atimes only)
    for dirpath, dirnames, _ in os.walk(root):
        for name in dirnames:
            path = os.path.join(dirpath, name)
            out[os.path.relpath(path, root)]["mtime"] = int(os.lstat(path).st_mtime)
    return out


def inode_groups(root):
    root = os.fsencode(root)
    groups = {}
    for dirpath, _, filenames in os.walk(root):
        for name in filenames:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            if stat.S_ISREG(st.st_mode):
                groups.setdefault(st.st_ino, set()).add(os.path.relpath(path, root))
    return sorted(sorted(g) for g in groups.values() if len(g) > 1)


def run_backup(spec, **kw):
    errors = []
    stats = BackupStats()
    records = list(backup_records(spec, on_error=lambda p, m: errors.append((p, m)), stats=stats, **kw))
    return records, errors, stats


def run_restore(records, where, **kw):
    messages = []
    restorer = Restorer(where=str(where), on_message=lambda level, text: messages.append((level, text)), **kw)
    for r in records:
        restorer.record(r.file_index, r.stream, r.data)
    return restorer.finish(), messages


def attrs(records):
    return [AttributeRecord.decode(r.data) for r in records if r.stream == 1]


@pytest.mark.parametrize("verify", [False, True], ids=["unchecked", "digests-checked"])
def test_full_round_trip(tmp_path, verify):
    src = make_tree(tmp_path / "src")
    try:
        before = snapshot(src)
        groups = inode_groups(src)
        records, errors, stats = run_backup(spec_for(src))
        assert errors == []
        dst = tmp_path / "dst"
        rstats, messages = run_restore(records, dst, verify_digests=verify)
        assert [m for m in messages if m[0] != "info"] == []
        restored_root = os.fsencode(dst) + os.fsencode(src)
        if IS_ROOT:
            assert stat.S_IMODE(os.lstat(os.path.join(restored_root, b"locked")).st_mode) == 0
        os.chmod(os.path.join(restored_root, b"locked"), 0o700)
        os.chmod(src / "locked", 0o700)
        after = snapshot(restored_root)
        before[b"locked"]["mode"] = after[b"locked"]["mode"] = 0
        assert after == before
        assert inode_groups(restored_root) == groups
        assert rstats.errors == 0 and rstats.digest_mismatches == 0
        assert rstats.bytes == stats.read_bytes
        # no temporary names left behind
        assert not [n for n in after if b".bareos-restore-" in n]
    finally:
        if (src / "locked").exists():
            os.chmod(src / "locked", 0o700)


def test_record_stream_order_and_types(tmp_path):
    src = make_tree(tmp_path / "src")
    os.chmod(src / "locked", 0o700)
    records, _, stats = run_backup(spec_for(src))
    # FileIndex starts at 1 and goes up by one per attributes record; streams per file 1, data.., digest
    indexes = [r.file_index for r in records]
    assert indexes == sorted(indexes) and indexes[0] == 1
    by_index = {}
    for r in records:
        by_index.setdefault(r.file_index, []).append(r.stream)
    assert list(by_index) == list(range(1, len(by_index) + 1))
    assert all(streams_[0] == 1 for streams_ in by_index.values())
    a = {rec.fname: rec for rec in attrs(records)}
    top = os.fsencode(src)
    assert a[top + b"/"].file_type == FT_DIREND and a[top + b"/emptydir/"].file_type == FT_DIREND
    assert max(rec.file_index for rec in a.values()) == a[top + b"/"].file_index  # top dir last
    # a directory comes after its contents
    assert a[top + b"/a/b/"].file_index > a[top + b"/a/b/c/deep.txt"].file_index
    assert a[top + b"/empty"].file_type == FT_REGE
    assert a[top + b"/empty-private"].file_type == FT_REG
    assert a[top + b"/fifo"].file_type == FT_SPEC and stat.S_ISFIFO(a[top + b"/fifo"].stat.mode)
    assert a[top + b"/rel-link"].file_type == FT_LNK and a[top + b"/rel-link"].link == b"plain.txt"
    links = [rec for rec in a.values() if rec.file_type == FT_LNKSAVED]
    assert len(links) == 2
    first = a[top + b"/a/hard2"]  # sorted walk: a/ comes before hard1 and plain.txt
    assert first.file_type == FT_REG
    assert {rec.link for rec in links} == {top + b"/a/hard2"}
    assert {rec.stat.link_fi for rec in links} == {first.file_index}
    # data streams only for non-empty regular files; digests (MD5) for every regular file
    assert by_index[a[top + b"/big.bin"].file_index][1:] == [2] * 49 + [3]
    assert by_index[a[top + b"/empty"].file_index] == [1, 3]
    assert by_index[a[top + b"/rel-link"].file_index] == [1]
    assert by_index[links[0].file_index] == [1, 3]  # hard link repeats the first file's digest
    md5_of_empty = [r.data for r in records if r.file_index == a[top + b"/empty"].file_index and r.stream == 3]
    assert md5_of_empty == [hashlib.md5(b"").digest()]
    assert stats.files == len(a)


def test_walk_items_and_trailing_slash_top(tmp_path):
    src = tmp_path / "t"
    (src / "d").mkdir(parents=True)
    (src / "d" / "f").write_bytes(b"x")
    items = list(walk(spec_for(str(src) + "/")))
    assert [i.fname for i in items] == [os.fsencode(src) + b"/d/f", os.fsencode(src) + b"/d/",
                                        os.fsencode(src) + b"/"]
    assert [i.file_index for i in items] == [1, 2, 3]
    assert [i.file_index for i in walk(spec_for(src), first_index=10)] == [10, 11, 12]


def test_incremental_since(tmp_path):
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    for name in ("old", "new", "sub/old2"):
        (src / name).write_bytes(name.encode())
    now = time.time()
    os.utime(src / "new", (now + 1000, now + 1000))
    for name in ("old", "sub/old2"):
        os.utime(src / name, (OLD, OLD))
    os.utime(src / "sub", (OLD, OLD))
    names = lambda items: sorted(os.path.relpath(i.path, os.fsencode(src)) for i in items)
    # files with mtime and ctime before `since` are skipped; directories always come
    assert names(walk(spec_for(src), since=now + 100)) == [b".", b"new", b"sub"]
    # ctime counts unless MtimeOnly: everything here has a fresh ctime
    assert names(walk(spec_for(src), since=now - 100)) == [b".", b"new", b"old", b"sub", b"sub/old2"]
    assert names(walk(spec_for(src, "Mm"), since=now - 100)) == [b".", b"new", b"sub"]
    # Bareos' own behaviour for unchanged directories is available too
    assert names(walk(spec_for(src, "Mm"), since=now - 100, unchanged_dirs=False)) == [b".", b"new"]


def test_patterns_exclude_dir_containing_and_no_recursion(tmp_path):
    src = tmp_path / "src"
    for d in ("keep", "skipme", "cache", "norec/inner"):
        (src / d).mkdir(parents=True)
    for f in ("keep/a.c", "keep/a.o", "skipme/x.c", "skipme/.nobackup", "cache/c.c", "norec/inner/z.c",
              "top.log"):
        (src / f).write_bytes(b"x")
    lines = ["I\n", "Z .nobackup\n",
             "O e\n", "WF *.o\n", "WD */cache\n", "RF \\.log$\n", "N\n",
             "O M\n", "N\n",
             "F " + str(src), "N\n", "N\n"]
    items = list(walk(FileSetSpec.parse(lines)))
    rel = sorted(os.path.relpath(i.path, os.fsencode(src)) for i in items)
    assert rel == [b".", b"keep", b"keep/a.c", b"norec", b"norec/inner", b"norec/inner/z.c"]
    assert all(i.options.signature == "MD5" for i in items)
    norec = FileSetSpec.parse(["I\n", "O h\n", "N\n", "F " + str(src), "N\n", "N\n"])
    info = []
    rel = sorted(os.path.relpath(i.path, os.fsencode(src)) for i in walk(norec, on_info=lambda p, m: info.append(m)))
    assert rel == [b".", b"cache", b"keep", b"norec", b"skipme", b"top.log"]
    assert any("Recursion turned off" in m for m in info)


def test_one_fs(tmp_path, monkeypatch):
    src = tmp_path / "src"
    (src / "mnt" / "below").mkdir(parents=True)
    (src / "mnt" / "below" / "f").write_bytes(b"x")
    (src / "f").write_bytes(b"x")
    real_lstat = os.lstat
    mnt = os.fsencode(src / "mnt")

    class Fake:
        def __init__(self, st):
            self._st = st

        def __getattr__(self, name):
            value = getattr(self._st, name)
            return value + 999 if name == "st_dev" else value

    def fake_lstat(path, *a, **kw):
        st = real_lstat(path, *a, **kw)
        return Fake(st) if os.fsencode(path).startswith(mnt) else st

    monkeypatch.setattr(os, "lstat", fake_lstat)
    info = []
    rel = lambda spec: sorted(os.path.relpath(i.path, os.fsencode(src))
                              for i in walk(spec, on_info=lambda p, m: info.append(m)))
    assert rel(spec_for(src)) == [b".", b"f", b"mnt"]  # the mount point itself is saved, not entered
    assert any("different filesystem" in m for m in info)
    assert rel(spec_for(src, "Mf")) == [b".", b"f", b"mnt", b"mnt/below", b"mnt/below/f"]


def test_vanished_file_is_reported_and_skipped(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for name in ("a1", "a2", "a3"):
        (src / name).write_bytes(name.encode())
    errors = []
    items = []
    for item in walk(spec_for(src), on_error=lambda p, m: errors.append((p, m))):
        items.append(item)
        if item.path.endswith(b"a1"):
            os.unlink(src / "a2")
    assert [os.path.basename(i.path) for i in items] == [b"a1", b"a3", os.path.basename(os.fsencode(src))]
    assert errors and errors[0][0].endswith(b"a2") and "vanished" in errors[0][1]
    # a file that vanishes between the walk and the read: attributes only, error reported
    (src / "late").write_bytes(b"late")
    item = next(i for i in walk(spec_for(src)) if i.path.endswith(b"late"))
    os.unlink(src / "late")
    errors.clear()
    assert list(read_file_chunks(item, on_error=lambda p, m: errors.append(m))) == []
    assert "Cannot open" in errors[0]
    missing = []
    assert list(walk(spec_for(tmp_path / "nope"), on_error=lambda p, m: missing.append(m))) == []
    assert "Could not stat" in missing[0]


def test_file_changed_during_backup(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "grows").write_bytes(b"a" * 1000)
    item = next(i for i in walk(spec_for(src)) if i.path.endswith(b"grows"))
    with open(src / "grows", "ab") as f:
        f.write(b"more")
    errors = []
    out = list(read_file_chunks(item, on_error=lambda p, m: errors.append(m)))
    assert [s for s, _ in out] == [2, 3]
    assert any("file changed during backup" in m for m in errors)


@pytest.mark.parametrize("letters,data_stream", [
    ("MZ6", 29), ("MZ1", 29), ("MZ9", 29),
    pytest.param("MZf4", 29, marks=needs_lz4), pytest.param("MZfh", 29, marks=needs_lz4),
])
def test_compressed_round_trip(tmp_path, letters, data_stream):
    src = tmp_path / "src"
    src.mkdir()
    text = b"".join(b"row %d, compressible\n" % i for i in range(200000))
    (src / "text").write_bytes(text)
    (src / "noise").write_bytes(os.urandom(300000))
    records, errors, stats = run_backup(spec_for(src, letters))
    assert errors == []
    data = [r for r in records if r.stream == data_stream]
    assert data and {r.stream for r in records} == {1, data_stream, 3}
    magic = {"Z6": b"GZIP", "Z1": b"GZIP", "Z9": b"GZIP", "Zf4": b"FZ4L", "Zfh": b"FZ4H"}[letters[1:]]
    assert all(r.data[:4] == magic for r in data)
    assert stats.job_bytes < stats.read_bytes
    attr = attrs(records)[0]
    assert attr.stat.data_stream == data_stream
    rstats, messages = run_restore(records, tmp_path / "dst")
    assert rstats.errors == 0, messages
    out = os.fsencode(tmp_path / "dst") + os.fsencode(src)
    assert open(out + b"/text", "rb").read() == text
    assert open(out + b"/noise", "rb").read() == open(src / "noise", "rb").read()


@pytest.mark.parametrize("letters,data_stream", [("Ms", 6), ("MsZ6", 30)])
def test_sparse_round_trip(tmp_path, letters, data_stream):
    src = tmp_path / "src"
    src.mkdir()
    path = src / "sparse"
    with open(path, "wb") as f:
        f.truncate(20 * 1024 * 1024)
        f.seek(5 * 1024 * 1024 + 17)
        f.write(b"island of data")
        f.seek(20 * 1024 * 1024 - 3)
        f.write(b"end")
    records, errors, _ = run_backup(spec_for(src, letters))
    assert errors == []
    data = [r for r in records if r.stream == data_stream]
    assert len(data) == 2  # the island and the (always sent) last block
    assert int.from_bytes(data[0].data[:8], "big") == 5 * 1024 * 1024
    rstats, messages = run_restore(records, tmp_path / "dst")
    assert rstats.errors == 0 and rstats.digest_mismatches == 0, messages
    out = os.fsencode(tmp_path / "dst") + os.fsencode(path)
    assert open(out, "rb").read() == open(path, "rb").read()
    st = os.stat(out)
    assert st.st_size == 20 * 1024 * 1024
    assert st.st_blocks * 512 < st.st_size // 4


def test_sparse_file_ending_in_a_hole(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    with open(src / "tailhole", "wb") as f:
        f.write(b"head")
        f.truncate(1024 * 1024 + 5)
    records, _, _ = run_backup(spec_for(src, "Ms"))
    rstats, messages = run_restore(records, tmp_path / "dst")
    assert rstats.errors == 0, messages
    out = os.fsencode(tmp_path / "dst") + os.fsencode(src / "tailhole")
    assert open(out, "rb").read() == open(src / "tailhole", "rb").read()


def test_replace_policies(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "f").write_bytes(b"saved")
    os.utime(src / "f", (OLD, OLD))
    records, _, _ = run_backup(spec_for(src))
    dst = tmp_path / "dst"
    run_restore(records, dst)
    out = os.fsencode(dst) + os.fsencode(src / "f")
    with open(out, "wb") as f:
        f.write(b"changed locally")
    os.utime(out, (OLD + 100, OLD + 100))  # newer than the backup
    stats, messages = run_restore(records, dst, replace="never")
    assert open(out, "rb").read() == b"changed locally" and stats.skipped >= 1
    assert any("Already exists" in text for _, text in messages)
    stats, messages = run_restore(records, dst, replace="ifnewer")
    assert open(out, "rb").read() == b"changed locally"
    assert any("Not newer" in text for _, text in messages)
    stats, _ = run_restore(records, dst, replace="ifolder")
    assert open(out, "rb").read() == b"saved"  # the existing copy was newer: replaced by the older
    os.utime(out, (OLD - 100, OLD - 100))
    run_restore(records, dst, replace="ifnewer")
    assert open(out, "rb").read() == b"saved" and int(os.stat(out).st_mtime) == OLD
    os.utime(out, (OLD - 100, OLD - 100))
    with open(out, "wb") as f:
        f.write(b"older local")
    os.utime(out, (OLD - 100, OLD - 100))
    run_restore(records, dst, replace="w")  # the protocol letters work too
    assert open(out, "rb").read() == b"saved"
    with open(out, "wb") as f:
        f.write(b"again")
    run_restore(records, dst, replace="always")
    assert open(out, "rb").read() == b"saved"


def test_replacing_an_existing_file_keeps_it_until_the_new_copy_is_complete(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "f").write_bytes(b"saved" * 1000)
    records, _, _ = run_backup(spec_for(src))
    dst = tmp_path / "dst"
    run_restore(records, dst)
    out = os.fsencode(dst) + os.fsencode(src / "f")
    with open(out, "wb") as f:
        f.write(b"the copy on disk")
    restorer = Restorer(where=str(dst), replace="always")
    file_index = next(AttributeRecord.decode(r.data).file_index for r in records
                      if r.stream == 1 and r.data.split(b"\0")[0].endswith(b"/f"))
    for r in records:
        if r.file_index == file_index:  # attributes and data: the file is not complete yet
            restorer.record(r.file_index, r.stream, r.data)
    assert open(out, "rb").read() == b"the copy on disk"  # written under a temporary name
    restorer.finish()
    assert open(out, "rb").read() == b"saved" * 1000
    assert os.listdir(os.path.dirname(out)) == [b"f"]


def test_a_name_repeated_in_one_stream_is_replaced_by_its_later_copy(tmp_path):
    # e.g. two jobs restored together: the later version of a file comes second
    src = tmp_path / "src"
    src.mkdir()
    (src / "f").write_bytes(b"first version")
    first, _, _ = run_backup(spec_for(src))
    (src / "f").write_bytes(b"second version, longer")
    second, _, _ = run_backup(spec_for(src))
    dst = tmp_path / "dst"
    stats, messages = run_restore(first + second, dst)
    out = os.fsencode(dst) + os.fsencode(src / "f")
    assert open(out, "rb").read() == b"second version, longer"
    assert os.listdir(os.path.dirname(out)) == [b"f"]
    assert stats.errors == 0 and messages == []


def test_a_new_file_gets_its_saved_owner_in_a_set_group_id_directory(tmp_path):
    if not IS_ROOT:
        pytest.skip("owners are restored only by root")
    src = tmp_path / "src"
    src.mkdir()
    (src / "mine").write_bytes(b"root's")
    os.chown(src / "mine", 0, 0)
    records, _, _ = run_backup(spec_for(src))
    dst = tmp_path / "dst"
    dst.mkdir()
    os.chown(dst, 0, 5678)
    os.chmod(dst, 0o2775)  # new entries below get group 5678
    run_restore(records, dst)
    restored = os.lstat(os.fsencode(dst) + os.fsencode(src / "mine"))
    assert (restored.st_uid, restored.st_gid) == (0, 0)


@pytest.mark.parametrize("mode", [0o644, 0o600, 0o444, 0o000, 0o4755, 0o2750, 0o1644, 0o777])
def test_regular_file_modes_are_restored_exactly(tmp_path, mode):
    src = tmp_path / "src"
    src.mkdir()
    (src / "f").write_bytes(b"data")
    if IS_ROOT:
        os.chown(src / "f", 1234, 5678)  # (a chown clears set-id bits: restoring must chmod after it)
    os.chmod(src / "f", mode)
    records, _, _ = run_backup(spec_for(src))
    dst = tmp_path / "dst"
    old_umask = os.umask(0o022)  # a umask that takes bits from some of the modes
    try:
        stats, _ = run_restore(records, dst)
    finally:
        os.umask(old_umask)
    restored = os.lstat(os.fsencode(dst) + os.fsencode(src / "f"))
    assert stat.S_IMODE(restored.st_mode) == mode
    if IS_ROOT:
        assert (restored.st_uid, restored.st_gid) == (1234, 5678)
    assert stats.errors == 0


def test_a_canceled_restore_removes_the_file_it_was_writing(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "big").write_bytes(os.urandom(300_000))
    records, _, _ = run_backup(spec_for(src))
    assert [r.stream for r in records[:3]] == [1, 2, 2]  # attributes, then data in chunks
    restorer = Restorer(where=str(tmp_path / "dst"))
    for r in records[:3]:
        restorer.record(r.file_index, r.stream, r.data)
    partial = os.fsencode(tmp_path / "dst") + os.fsencode(src / "big")
    assert os.path.exists(partial)
    restorer.abort()
    assert not os.path.exists(partial)


def test_digest_mismatch_is_reported(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "one").write_bytes(b"first file")
    (src / "two").write_bytes(b"second file" * 1000)
    records, _, _ = run_backup(spec_for(src, "S2"))
    assert {r.stream for r in records} == {1, 2, 17}
    tampered = []
    for r in records:
        if r.stream == 2 and r.data.startswith(b"second"):
            r = type(r)(r.file_index, r.stream, b"X" + r.data[1:])
        tampered.append(r)
    unchecked, _ = run_restore(tampered, tmp_path / "dst0")  # Bareos' default: no check
    assert unchecked.digest_mismatches == 0 and unchecked.errors == 0
    stats, messages = run_restore(tampered, tmp_path / "dst", verify_digests=True)
    assert stats.digest_mismatches == 1
    assert any(level == "error" and "SHA256 digest mismatch" in text and "two" in text
               for level, text in messages)
    clean, messages = run_restore(records, tmp_path / "dst2", verify_digests=True)
    assert clean.digest_mismatches == 0 and clean.errors == 0


def test_disk_full_stops_the_restore_and_leaves_no_partial_file(tmp_path):
    src = tmp_path / "src"
    (src / "d").mkdir(parents=True)
    for i in range(40):  # 40 x 100 KiB: more than the 2 MiB file system holds
        (src / "d" / f"f{i:02}").write_bytes(os.urandom(100 * 1024))
    records, _, _ = run_backup(spec_for(src))
    (tmp_path / "dst").mkdir()
    messages = []
    with small_tmpfs(tmp_path / "dst", "2m"):
        restorer = Restorer(where=str(tmp_path / "dst"),
                            on_message=lambda level, text: messages.append((level, text)))
        with pytest.raises(RestoreDiskFull, match="no space left"):
            for r in records:
                restorer.record(r.file_index, r.stream, r.data)
            restorer.finish()
        restorer.finish(complete=False)
        assert [level for level, _ in messages] == ["fatal"], messages
        restored = os.fsencode(tmp_path / "dst") + os.fsencode(src / "d")
        sizes = [os.path.getsize(os.path.join(restored, n)) for n in os.listdir(restored)]
        assert sizes and all(size == 100 * 1024 for size in sizes)  # complete files only


def test_permission_error_is_a_message_not_an_exception(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "f").write_bytes(b"data")
    records, _, _ = run_backup(spec_for(src))
    dst = tmp_path / "dst"
    blocker = os.fsencode(dst) + os.fsencode(src)
    os.makedirs(os.path.dirname(blocker))
    with open(blocker, "wb") as f:  # a file where the directory should be
        f.write(b"in the way")
    stats, messages = run_restore(records, dst)
    assert stats.errors >= 1
    assert any(level == "error" for level, _ in messages)


def test_unreadable_file_as_non_root(tmp_path):
    if IS_ROOT:
        pytest.skip("root reads everything")
    src = tmp_path / "src"
    src.mkdir()
    (src / "secret").write_bytes(b"x")
    os.chmod(src / "secret", 0)
    records, errors, _ = run_backup(spec_for(src))
    assert any("Cannot open" in m for _, m in errors)
    assert [a.fname for a in attrs(records)][0].endswith(b"secret")


def test_where_prefix_and_links(tmp_path):
    r = Restorer(where="/tmp/r")
    assert r.output_name(b"/etc/passwd") == b"/tmp/r/etc/passwd"
    assert r.output_name(b"/etc/") == b"/tmp/r/etc"
    assert Restorer(where="/tmp/r/").output_name(b"/x") == b"/tmp/r/x"
    assert Restorer().output_name(b"/x/y") == b"/x/y"
    src = tmp_path / "src"
    src.mkdir()
    os.symlink("/abs/target", src / "abs")
    records, _, _ = run_backup(spec_for(src))
    run_restore(records, tmp_path / "plain")
    run_restore(records, tmp_path / "prefixed", prefix_links=True)
    base = os.fsencode(src) + b"/abs"
    assert os.readlink(os.fsencode(tmp_path / "plain") + base) == b"/abs/target"
    assert os.readlink(os.fsencode(tmp_path / "prefixed") + base) == os.fsencode(tmp_path / "prefixed") + b"/abs/target"


def test_hard_link_without_its_first_name(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "a").write_bytes(b"x")
    os.link(src / "a", src / "b")
    records, _, _ = run_backup(spec_for(src))
    first = attrs(records)[0].file_index
    only_link = [r for r in records if r.file_index != first]
    stats, messages = run_restore(only_link, tmp_path / "dst")
    assert any("Could not hard link" in text for _, text in messages)
