"""Restores stay inside ``where`` through the real daemons (issue 17 item 8).

Two backups of one name: first a symbolic link to a directory outside, then a
directory with a file.  Restored one after the other into one ``where`` with
replace=always, the file must not go through the link restored by the first job;
a relative ``where`` is refused with a clear job error.  The directory outside is
compared before and after.
"""

import os

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
