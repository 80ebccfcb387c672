"""A restore with a ``where`` writes nothing outside it (issue 17 item 8).

Traps: a relative or ``..`` where, names with ``..``, a symbolic link to a directory
outside (in the same backup, restored by an earlier job, or put there between backup
and restore) with files to restore below it, and hard links whose first name lies
behind such a link.  Everything in ``tmp_path`` outside ``where`` is compared before
and after.  In place (no where, where=/) symbolic links in the path are followed as
before; a temporary tree stands in for /.
"""

import os

import pytest
from test_backup_restore import run_backup, snapshot, spec_for

from bareos.filedaemon.attributes import FT_LNKSAVED, FT_REG, AttributeRecord, LStat
from bareos.filedaemon.restore import Restorer, RestoreWhereRefused
from bareos.filedaemon.streams import STREAM_FILE_DATA, STREAM_UNIX_ATTRIBUTES


def backup(top):
    """The records of a backup of *top*, attribute records decoded (so names can be edited)."""
    records, errors, _ = run_backup(spec_for(top))
    assert errors == []
    return [(r.file_index, r.stream,
             AttributeRecord.decode(r.data) if r.stream == STREAM_UNIX_ATTRIBUTES else r.data)
            for r in records]


def restore(records, where, replace="always"):
    messages = []
    restorer = Restorer(where=None if where is None else str(where), replace=replace,
                        on_message=lambda level, text: messages.append((level, text)))
    for file_index, stream, data in records:
        restorer.record(file_index, stream, data)
    return restorer.finish(), [text for level, text in messages if level == "error"]


def outside_of(tmp_path):
    """Everything in tmp_path but ``where`` (types, modes, owners, times, contents)."""
    return {path: entry for path, entry in snapshot(tmp_path).items()
            if path != b"where" and not path.startswith(b"where/")}


@pytest.fixture
def outside(tmp_path):
    """A directory outside where with a file a trap would overwrite or link."""
    victim_dir = tmp_path / "outside"
    victim_dir.mkdir()
    (victim_dir / "x").write_bytes(b"not to be overwritten\n")
    (victim_dir / "secret").write_bytes(b"not to be linked\n")
    return victim_dir


def inside(where, path):
    return os.fsencode(where) + os.fsencode(path)


@pytest.mark.parametrize("where", ["r", "../../", "./r", "a/../b", "/tmp/../etc", "/tmp/r/.."])
def test_a_relative_or_dotted_where_is_refused(tmp_path, monkeypatch, where):
    cwd = tmp_path / "cwd" / "a" / "b"
    cwd.mkdir(parents=True)
    monkeypatch.chdir(cwd)
    with pytest.raises(RestoreWhereRefused, match="Restore refused: where="):
        Restorer(where=where)


def test_names_with_dot_dot_are_not_restored(tmp_path, outside):
    src = tmp_path / "src"
    src.mkdir()
    (src / "f").write_bytes(b"payload\n")
    records = backup(src)
    before = outside_of(tmp_path)
    lstat = LStat.from_stat(os.lstat(src / "f"))
    crafted = []
    for number, name in enumerate([b"/../../outside/x", b"/a/../../../outside/new", b"/.."], 100):
        crafted += [(number, STREAM_UNIX_ATTRIBUTES, AttributeRecord(number, FT_REG, name, lstat)),
                    (number, STREAM_FILE_DATA, b"escaped\n")]
    crafted.append((200, STREAM_UNIX_ATTRIBUTES,
                    AttributeRecord(200, FT_LNKSAVED, b"/h", lstat, link=b"/../../outside/secret")))
    stats, errors = restore(crafted + records, tmp_path / "where" / "deep")
    assert outside_of(tmp_path) == before
    assert sum("'.' or '..' component" in text for text in errors) == 4, errors
    assert stats.errors == 4
    assert (tmp_path / "where" / "deep" / str(src)[1:] / "f").read_bytes() == b"payload\n"


def link_then_directory(tmp_path, outside):
    """Two backups of src/d: a symbolic link to *outside*, then a directory with files."""
    src = tmp_path / "src"
    src.mkdir()
    os.symlink(outside, src / "d")
    link_backup = backup(src)
    os.unlink(src / "d")
    (src / "d" / "deeper").mkdir(parents=True)
    (src / "d" / "x").write_bytes(b"from the backup\n")
    (src / "d" / "deeper" / "y").write_bytes(b"from the backup\n")
    return src, link_backup, backup(src)


def test_a_symbolic_link_and_a_file_below_its_name_in_one_stream(tmp_path, outside):
    src, link_backup, directory_backup = link_then_directory(tmp_path, outside)
    before = outside_of(tmp_path)
    where = tmp_path / "where"
    stats, errors = restore(link_backup + directory_backup, where)
    assert outside_of(tmp_path) == before
    assert any(f"Not restored: {where}{src}/d/x: {where}{src}/d is a symbolic link" in text
               for text in errors), errors
    assert any(f"{where}{src}/d/deeper/y" in text for text in errors), errors


@pytest.mark.parametrize("replace", ["always", "ifnewer", "ifolder", "never"])
def test_a_symbolic_link_restored_by_an_earlier_job_is_not_followed(tmp_path, outside, replace):
    src, first, second = link_then_directory(tmp_path, outside)
    where = tmp_path / "where"
    restore(first, where)
    assert os.readlink(inside(where, src / "d")) == os.fsencode(outside)
    before = outside_of(tmp_path)
    stats, errors = restore(second, where, replace)
    assert outside_of(tmp_path) == before
    assert any(f"Not restored: {where}{src}/d/x: {where}{src}/d is a symbolic link, not followed"
               in text for text in errors), errors


def test_a_directory_replaced_by_a_symbolic_link_before_the_restore(tmp_path, outside):
    """A local user swaps a restored directory (or one on the way) for a link out."""
    src = tmp_path / "src"
    (src / "d" / "e").mkdir(parents=True)
    (src / "d" / "e" / "x").write_bytes(b"from the backup\n")
    (src / "d" / "top").write_bytes(b"from the backup\n")
    records = backup(src)
    where = tmp_path / "where"
    restore(records, where)
    restored_d = inside(where, src / "d")
    for path in (restored_d + b"/e/x", restored_d + b"/top", restored_d + b"/e"):
        (os.rmdir if path.endswith(b"/e") else os.unlink)(path)
    os.rmdir(restored_d)
    os.symlink(outside, restored_d)
    before = outside_of(tmp_path)
    stats, errors = restore(records, where)
    assert outside_of(tmp_path) == before  # no outside/e made, no outside/top written
    refused = sorted(text.split(": ")[1] for text in errors if "is a symbolic link, not followed" in text)
    assert refused == [f"{where}{src}/d/{name}" for name in ("e", "e/x", "top")], errors
    # the directory's own record replaces the link (replace=always): a new restore completes
    assert os.path.isdir(restored_d) and not os.path.islink(restored_d)
    stats, errors = restore(records, where)
    assert errors == []
    assert open(restored_d + b"/e/x", "rb").read() == b"from the backup\n"


def test_a_hard_link_to_a_name_behind_a_symbolic_link_is_not_made(tmp_path, outside):
    src = tmp_path / "src"
    (src / "d").mkdir(parents=True)
    (src / "e").mkdir()
    (src / "d" / "secret").write_bytes(b"inside\n")
    os.link(src / "d" / "secret", src / "e" / "secret")
    records = backup(src)
    (hard_link,) = [data for _, stream, data in records
                    if stream == STREAM_UNIX_ATTRIBUTES and data.file_type == FT_LNKSAVED]
    first_name_dir = os.path.dirname(hard_link.link)  # src/d or src/e, whichever came first
    where = tmp_path / "where"
    os.makedirs(inside(where, src))
    os.symlink(outside, inside(where, first_name_dir))  # planted: an earlier restore, a user
    before = outside_of(tmp_path)
    stats, errors = restore([(hard_link.file_index, STREAM_UNIX_ATTRIBUTES, hard_link)], where)
    assert outside_of(tmp_path) == before
    assert os.stat(outside / "secret").st_nlink == 1
    assert not os.path.lexists(inside(where, hard_link.fname))
    assert any(text.startswith(f"Could not hard link {where}{os.fsdecode(hard_link.fname)}")
               and "is a symbolic link, not followed" in text for text in errors), errors


@pytest.mark.parametrize("where", [None, "/"], ids=["no-where", "where=/"])
def test_in_place_symbolic_links_to_directories_are_followed(tmp_path, where):
    """A system whose /lib became a link to usr/lib after the backup (a temporary tree
    stands for /): the files go through the link and the link stays."""
    root = tmp_path / "root"
    (root / "lib").mkdir(parents=True)
    (root / "lib" / "libx.so").write_bytes(b"library\n")
    records = backup(root)
    (root / "usr").mkdir()
    os.rename(root / "lib", root / "usr" / "lib")
    os.symlink("usr/lib", root / "lib")
    (root / "usr" / "lib" / "libx.so").write_bytes(b"damaged\n")
    stats, errors = restore(records, where)
    assert errors == []
    assert os.readlink(root / "lib") == "usr/lib"
    assert (root / "usr" / "lib" / "libx.so").read_bytes() == b"library\n"
