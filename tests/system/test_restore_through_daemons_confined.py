"""Restores stay inside ``where`` through the real daemons (issue 17 item 8).

Two backups of one name: first a symbolic link to a directory outside, then a
directory with a file.  Restored one after the other into one ``where`` with
replace=always, the file must not go through the link restored by the first job;
a relative ``where`` is refused with a clear job error.  Then hard links under two
names whose directories an earlier restore made links out, and a restored directory
swapped for a link out before a restore.  The directory outside is compared before
and after.
"""

import os
import shutil

import pytest

from backup_helpers import run_job
from bareos.testing.trees import snapshot


def test_restores_write_nothing_outside_where(suite, tmp_path):
    source = tmp_path / "source"
    source.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "x").write_bytes(b"must stay as it is\n")
    os.symlink(outside, source / "d")
    suite.start_sd()
    suite.start_fd()
    suite.start_director(extra_resources=suite.backup_resources(source))

    with_link, status, output = run_job(suite, "run job=backup level=Full yes")
    assert status == "T", output
    os.unlink(source / "d")
    (source / "d").mkdir()
    (source / "d" / "x").write_bytes(b"from the second backup\n")
    with_file, status, output = run_job(suite, "run job=backup level=Full yes")
    assert status == "T", output
    before = snapshot(tmp_path / "outside")

    where = tmp_path / "where"
    _, status, output = run_job(suite, f"restore jobid={with_link} all done yes where={where}")
    assert status == "T", output
    assert os.readlink(f"{where}{source}/d") == str(outside)
    _, status, output = run_job(
        suite, f"restore jobid={with_file} all done yes where={where} replace=always")
    assert f"Not restored: {where}{source}/d/x: {where}{source}/d is a symbolic link, " \
           f"not followed" in output
    assert status != "T" and "FD Errors:              1" in output, output
    assert snapshot(tmp_path / "outside") == before

    _, status, output = run_job(suite, f"restore jobid={with_file} all done yes where=../../")
    assert status == "f", output
    assert "Restore refused: where=../../ is not an absolute path" in output
    assert snapshot(tmp_path / "outside") == before


TRAPPED = {"d/secret", "d/sub", "d/sub/x", "e/secret"}


def refused(output, restored_source):
    """The names below ``restored_source`` that the FD refused because of a link on the way."""
    return {line.split(restored_source + "/", 1)[1].split(":")[0].split(" -> ")[0]
            for line in output.splitlines()
            if "is a symbolic link, not followed" in line and restored_source + "/" in line}


@pytest.mark.slow       # two backups and four restores
def test_hard_links_and_a_directory_swapped_for_a_link_write_nothing_outside_where(suite, tmp_path):
    """Hard links under two names whose directories an earlier job restored as links out;
    then a restored directory replaced by a link out before the next restore."""
    source = tmp_path / "source"
    source.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_bytes(b"must stay as it is\n")
    for name in ("d", "e"):
        os.symlink(outside, source / name)
    suite.start_sd()
    suite.start_fd()
    suite.start_director(extra_resources=suite.backup_resources(source))

    with_links, status, output = run_job(suite, "run job=backup level=Full yes")
    assert status == "T", output
    for name in ("d", "e"):
        os.unlink(source / name)
        (source / name).mkdir()
    (source / "d" / "sub").mkdir()
    (source / "d" / "sub" / "x").write_bytes(b"from the second backup\n")
    (source / "d" / "secret").write_bytes(b"from the second backup\n")
    os.link(source / "d" / "secret", source / "e" / "secret")
    with_hard_links, status, output = run_job(suite, "run job=backup level=Full yes")
    assert status == "T", output
    before = snapshot(outside)

    def restore(jobid, where):
        return run_job(suite, f"restore jobid={jobid} all done yes where={where} replace=always")

    where = tmp_path / "where"
    _, status, output = restore(with_links, where)
    assert status == "T", output
    _, status, output = restore(with_hard_links, where)
    assert status != "T", output
    assert refused(output, f"{where}{source}") == TRAPPED, output
    assert snapshot(outside) == before
    assert os.stat(outside / "secret").st_nlink == 1

    # a clean restore, then a local user swaps a restored directory for a link out
    swapped = tmp_path / "swapped"
    _, status, output = restore(with_hard_links, swapped)
    assert status == "T", output
    assert os.stat(f"{swapped}{source}/e/secret").st_ino == os.stat(f"{swapped}{source}/d/secret").st_ino
    shutil.rmtree(f"{swapped}{source}/d")
    os.symlink(outside, f"{swapped}{source}/d")
    _, status, output = restore(with_hard_links, swapped)
    # (e/secret is restored, or refused as a hard link to d/secret, whichever name came first)
    assert refused(output, f"{swapped}{source}") - {"e/secret"} == TRAPPED - {"e/secret"}, output
    assert snapshot(outside) == before
    assert os.stat(outside / "secret").st_nlink == 1
