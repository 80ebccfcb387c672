"""Backup and restore end to end: three real daemons, a real tree, three points in time.

Full backup, then changes and an Incremental, more changes and a Differential;
each point in time is restored into a fresh directory and compared with what
the source was then (contents and metadata).  The catalog must show each job
OK with the right counts, and the volumes must read back with an independent
reader of the volume format.
"""

import hashlib
import os
import shutil
import stat
import time

import pytest

import volume_reader
from backup_helpers import run_job
from bareos.filedaemon.attributes import decode_base64_int
from bareos.testing.trees import differences, make_tree, snapshot
from bareos.testing.waiting import wait_until


def start_suite(suite, catalog, source, **backup_options):
    suite.start_sd()
    suite.start_fd()
    suite.start_director(extra_resources={**suite.backup_resources(source, **backup_options),
                                          **catalog.resources})


def wait_for_a_later_second():
    """A job's since time is the previous job's start in whole seconds: a change made in
    that second could pass for older.  Wait until the clock has left the second in which
    the previous job ended (it started no later)."""
    ended = int(time.time())
    wait_until(lambda: int(time.time()) > ended, 2, "the clock enters the next second")


def change_for_incremental(source):
    with open(source / "small" / "d000" / "f00000.txt", "ab") as stream:
        stream.write(b"appended after the full backup\n")
    (source / "added in incremental.txt").write_text("new file\n")
    os.remove(source / "small" / "d001" / "f00501.txt")
    shutil.rmtree(source / "empty dir" / "nested empty")
    os.chmod(source / "old.txt", 0o640)


def change_for_differential(source):
    (source / "added in incremental.txt").write_text("changed again, longer than before\n")
    (source / "names" / "added in differential").mkdir()
    os.symlink("../old.txt", source / "names" / "added in differential" / "link")
    os.remove(source / "hardlink-a")


def restore_and_compare(suite, jobids, expected, where, source):
    jobid, status, output = run_job(
        suite, f"restore jobid={','.join(map(str, jobids))} all done yes where={where}")
    assert status == "T", output
    restored = snapshot(str(where) + str(source))
    assert differences(expected, restored) == []
    return jobid


def catalog_counts(catalog, jobid):
    return tuple(catalog.query(
        "SELECT JobStatus, JobFiles, JobBytes, Level FROM Job WHERE JobId = ?", jobid)[0])


def saved_bytes(rows):
    """Bytes of file data a job saved, from its catalog rows: regular files, first names only."""
    total = 0
    for file_index, lstat in rows:
        fields = lstat.split()
        mode, size, link_fi = decode_base64_int(fields[2]), decode_base64_int(fields[7]), \
            decode_base64_int(fields[13])
        if file_index > 0 and stat.S_ISREG(mode) and link_fi == 0:
            total += size
    return total


def tree_totals(root):
    """(entries incl. the root directory, bytes of regular file data counted once per inode)."""
    entries, data, seen = 1, 0, set()
    for directory, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            info = os.lstat(os.path.join(directory, name))
            entries += 1
            if stat.S_ISREG(info.st_mode) and (info.st_dev, info.st_ino) not in seen:
                seen.add((info.st_dev, info.st_ino))
                data += info.st_size
    return entries, data


@pytest.mark.slow                # 100 MiB and 10,000 files, backed up and restored three times
def test_full_incremental_differential_and_three_restores(suite, catalog, tmp_path):
    source = tmp_path / "source"
    make_tree(source)
    start_suite(suite, catalog, source)

    full, status, output = run_job(suite, "run job=backup level=Full yes")
    assert status == "T", output
    at_full = snapshot(source)
    assert catalog_counts(catalog, full) == ("T", *tree_totals(source), "F")

    wait_for_a_later_second()
    change_for_incremental(source)
    incremental, status, output = run_job(suite, "run job=backup level=Incremental yes")
    assert status == "T", output
    at_incremental = snapshot(source)

    wait_for_a_later_second()
    change_for_differential(source)
    differential, status, output = run_job(suite, "run job=backup level=Differential yes")
    assert status == "T", output
    at_differential = snapshot(source)
    for jobid, level in ((incremental, "I"), (differential, "D")):
        job_status, files, data, job_level = catalog_counts(catalog, jobid)
        assert (job_status, job_level) == ("T", level)
        # every entry the FD sent, deletions found by accurate mode (FileIndex 0) included
        rows = catalog.query("SELECT FileIndex, LStat FROM File WHERE JobId = ?", jobid)
        assert files == len(rows) > 0
        assert data == saved_bytes(rows)

    restore_and_compare(suite, [full], at_full, tmp_path / "r-full", source)
    restore_and_compare(suite, [full, incremental], at_incremental, tmp_path / "r-inc", source)
    restore_and_compare(suite, [full, differential], at_differential, tmp_path / "r-diff", source)

    check_volumes_independently(suite, source, full)


def check_volumes_independently(suite, source, full_jobid):
    """Every block's CRC, the labels, and the Full job's records against the source tree."""
    volumes = sorted(p for p in suite.storage_dir.iterdir() if p.is_file())
    assert volumes
    names, contents, digests = {}, {}, {}
    for volume in volumes:
        first = next(volume_reader.records(volume))
        assert first[2] == volume_reader.VOL_LABEL
        assert volume_reader.volume_label(first[4])["volume_name"] == volume.name
        for session_id, session_time, file_index, stream, data in volume_reader.records(volume):
            if file_index == volume_reader.SOS_LABEL:
                label = volume_reader.session_label(data)
                assert label["client_name"] == suite.client_name
            if file_index <= 0:
                continue
            key = (session_id, session_time, file_index)
            if stream == 1:
                names[key] = volume_reader.attribute_name(data)[1]
            elif stream == 2:
                contents[key] = contents.get(key, b"") + data
            elif stream == 3:
                digests[key] = data
    old = str(source / "old.txt").encode()
    keys = [key for key, name in names.items() if name == old]
    assert keys, "old.txt is not on any volume"
    assert contents[keys[0]] == (source / "old.txt").read_bytes()
    for key, data in contents.items():
        assert digests[key] == hashlib.md5(data).digest()
