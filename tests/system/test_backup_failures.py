"""What goes wrong around backups must fail cleanly and lose nothing already stored.

A file daemon killed in the middle of a backup, a restore of a job that does
not exist, a FileSet naming a missing path, and a full disk on the storage
daemon: each ends with a clear message, earlier backups still restore, and
the daemons serve the next job.
"""

import os

import pytest

import volume_reader
from backup_helpers import queue, run_job, volume_bytes
from bareos.testing.filesystems import small_tmpfs
from bareos.testing.trees import differences, snapshot
from bareos.testing.waiting import wait_until


def small_tree(root, files=200):
    for index in range(files):
        path = root / f"dir{index // 50}" / f"file{index}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"file number {index}\n" * (index % 7 + 1))
    return root


def start(suite, catalog, source, **options):
    suite.start_sd()
    suite.start_fd()
    suite.start_director(extra_resources={**suite.backup_resources(source, **options),
                                          **catalog.resources})


def first_backup_then_a_big_one_under_way(suite, catalog, tmp_path):
    """A first backup (its JobId and the source's snapshot), then a second one of 3 GiB
    more that has written 20 MiB: ``(first, snapshot, big file, JobId of the second)``."""
    source = small_tree(tmp_path / "source")
    start(suite, catalog, source)
    first, status, output = run_job(suite, "run job=backup level=Full yes")
    assert status == "T", output
    before = snapshot(source)
    big = source / "big-sparse.bin"
    with open(big, "wb") as stream:
        stream.truncate(3 << 30)                 # 3 GiB of zeros, read (and hashed) in full
    written_before = volume_bytes(suite)
    jobid = queue(suite, "run job=backup level=Full yes")
    wait_until(lambda: volume_bytes(suite) >= written_before + (20 << 20), 120,
               "the backup gets going (20 MiB on the volume)")
    return first, before, big, jobid


def test_file_daemon_killed_in_the_middle_of_a_backup(suite, catalog, tmp_path):
    first, before, big, jobid = first_backup_then_a_big_one_under_way(suite, catalog, tmp_path)
    source = tmp_path / "source"
    suite.daemons["fd"].kill()

    output = suite.console(f"wait jobid={jobid}\nmessages\n")
    assert "JobStatus=OK" not in output
    assert catalog.query("SELECT JobStatus FROM Job WHERE JobId = ?", jobid)[0][0] in ("f", "E")

    suite.daemons["fd"].start()
    big.unlink()
    restore, status, output = run_job(
        suite, f"restore jobid={first} all done yes where={tmp_path / 'restored'}")
    assert status == "T", output
    assert differences(before, snapshot(str(tmp_path / "restored") + str(source))) == []
    again, status, output = run_job(suite, "run job=backup level=Full yes")
    assert status == "T", output


def test_storage_daemon_killed_in_the_middle_of_a_backup(suite, catalog, tmp_path):
    """kill -9 of the SD mid-backup: the job fails, and once the SD is back the next backup
    appends to the volume and the catalog's size of it is the file's (issue 17 item 9b:
    the catalog kept the size from before the interrupted job)."""
    first, before, big, jobid = first_backup_then_a_big_one_under_way(suite, catalog, tmp_path)
    source = tmp_path / "source"
    suite.daemons["sd"].kill()
    output = suite.console(f"wait jobid={jobid}\nmessages\n")
    assert catalog.query("SELECT JobStatus FROM Job WHERE JobId = ?", jobid)[0][0] in ("f", "E"), \
        output

    suite.daemons["sd"].start()
    big.unlink()
    again, status, output = run_job(suite, "run job=backup level=Full yes")
    assert status in ("T", "W"), output
    assert "the sizes do not match" in output, output
    for name, vol_bytes, vol_blocks in catalog.query(
            "SELECT VolumeName, VolBytes, VolBlocks FROM Media"):
        path = suite.storage_dir / name
        assert vol_bytes == path.stat().st_size, name
        assert vol_blocks == sum(1 for _ in volume_reader.blocks(path)), name
    restore, status, output = run_job(
        suite, f"restore jobid={first} all done yes where={tmp_path / 'restored'}")
    assert status == "T", output
    assert differences(before, snapshot(str(tmp_path / "restored") + str(source))) == []
    restore, status, output = run_job(
        suite, f"restore jobid={again} all done yes where={tmp_path / 'again'}")
    assert status == "T", output
    assert differences(before, snapshot(str(tmp_path / "again") + str(source))) == []


def test_restore_of_a_job_that_does_not_exist(suite, catalog, tmp_path):
    start(suite, catalog, small_tree(tmp_path / "source", files=3))
    output = suite.console(f"restore jobid=4711 all done yes where={tmp_path / 'r'}\nstatus director\n")
    assert "JobId 4711 is not a backup job in the catalog." in output
    assert "Job queued" not in output
    assert "No Terminated Jobs." in output          # nothing ran, the director still answers


def test_a_fileset_naming_a_missing_path_is_reported_in_the_job_log(suite, catalog, tmp_path):
    source = small_tree(tmp_path / "source", files=5)
    missing = tmp_path / "does-not-exist"
    start(suite, catalog, [source, missing])
    jobid, status, output = run_job(suite, "run job=backup level=Full yes")
    assert status in ("T", "W"), output
    assert str(missing) in output
    assert any(word in output for word in ("No such file", "Could not stat", "does not exist"))
    restore, status, output = run_job(
        suite, f"restore jobid={jobid} all done yes where={tmp_path / 'r'}")
    assert status == "T", output


@pytest.fixture
def small_storage(suite):
    """The storage directory on a 24 MiB tmpfs (root only)."""
    with small_tmpfs(suite.storage_dir, "24m"):
        yield suite.storage_dir
        suite.stop()


def test_a_full_disk_on_the_storage_daemon_fails_the_job_cleanly(suite, catalog, small_storage,
                                                                tmp_path):
    source = small_tree(tmp_path / "source", files=50)
    start(suite, catalog, source)
    first, status, output = run_job(suite, "run job=backup level=Full yes")
    assert status == "T", output
    before = snapshot(source)

    (source / "too-big.bin").write_bytes(os.urandom(40 << 20))
    jobid, status, output = run_job(suite, "run job=backup level=Full yes")
    assert status in ("f", "E"), output
    assert "disk full" in output.lower() or "no space" in output.lower(), output

    (source / "too-big.bin").unlink()
    restore, status, output = run_job(
        suite, f"restore jobid={first} all done yes where={tmp_path / 'r'}")
    assert status == "T", output
    assert differences(before, snapshot(str(tmp_path / "r") + str(source))) == []
    assert "Device status:" in suite.console("status storage=File\n")
