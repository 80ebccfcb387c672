"""Twenty backups started at once on an empty pool (issue 17, item 2).

Every job asks for a volume at about the same moment: the director must create
the pool's first volume once and hand it to all of them, and the storage daemon
must label it once, with no job writing before the label is in the catalog.
Afterwards the catalog and the volume files must agree, and every job's data
must restore.
"""

import os

import pytest

from bareos.config.writer import Quoted, Resource
from bareos.testing.trees import differences, snapshot

JOBS = 20
CONCURRENCY = f"Maximum Concurrent Jobs = {JOBS * 2}"


def with_concurrency(text):
    """A one-level resource's text with ``CONCURRENCY`` added before its closing brace."""
    return text.replace("}", f"  {CONCURRENCY}\n}}", 1)


def burst_suite(suite, source, pools):
    """Daemons that really run ``JOBS`` jobs at once; one empty pool per burst."""
    resources = suite.backup_resources(source)
    resources.update((item.path, item.text()) for item in (
        *(Resource("Pool", {"Name": pool, "Pool Type": "Backup", "Label Format": Quoted(f"{pool}-")})
          for pool in pools),
        Resource("Job", [
            {"Name": "burst", "Type": "Backup", "Level": "Full", "Client": suite.client_name,
             "FileSet": "TestSet", "Storage": suite.storage_name, "Pool": pools[0],
             "Messages": "Standard"}, CONCURRENCY])))
    resources["job/RestoreFiles.conf"] = with_concurrency(resources["job/RestoreFiles.conf"])
    for path, text in suite.director_resources().items():
        if path.startswith(("client/", "storage/")):
            resources[path] = with_concurrency(text)
    suite.start_sd(extra_resources={
        path: with_concurrency(text)
        for path, text in suite.sd_resources().items()
        if path.startswith(("device/", "storage/"))})
    suite.start_fd()
    suite.start_director(director_extra=[CONCURRENCY], extra_resources=resources)


def make_source(source):
    """A few MiB in files of different sizes, so the jobs' data interleave on the volume."""
    source.mkdir()
    for n in range(12):
        (source / f"file{n:02d}.bin").write_bytes(os.urandom(4096 * (1 + n * 13)))
    (source / "sub").mkdir()
    (source / "sub" / "note.txt").write_text("concurrent jobs on an empty pool\n")


def run_burst(suite, pool):
    """Queue ``JOBS`` backups into ``pool`` in one console session and wait for all of them."""
    output = suite.console("".join(
        f"run job=burst pool={pool} yes\n" for _ in range(JOBS)) + "wait\nmessages\n")
    jobids = [int(word.split("=")[1]) for word in output.split() if word.startswith("JobId=")]
    assert len(set(jobids)) == JOBS, output
    return sorted(set(jobids)), output


def check_burst(suite, catalog, pool, jobids, output):
    placeholders = ",".join("?" * len(jobids))
    statuses = catalog.query(
        f"SELECT JobId, JobStatus FROM Job WHERE JobId IN ({placeholders})", *jobids)
    assert sorted(statuses) == [(jobid, "T") for jobid in jobids], output

    media = catalog.query(
        "SELECT m.MediaId, m.VolumeName, m.VolBytes, m.VolJobs FROM Media m "
        "JOIN Pool p ON p.PoolId = m.PoolId WHERE p.Name = ?", pool)
    # One device taking every job at once: the pool's first volume is made once, and shared.
    assert [name for _, name, _, _ in media] == [f"{pool}-0001"], output
    (media_id, name, vol_bytes, vol_jobs), = media
    assert vol_bytes == os.path.getsize(suite.storage_dir / name)
    assert vol_jobs == JOBS
    with_jobmedia = catalog.query(
        f"SELECT DISTINCT JobId FROM JobMedia WHERE MediaId = ? AND JobId IN ({placeholders})",
        media_id, *jobids)
    assert sorted(jobid for jobid, in with_jobmedia) == jobids


def check_restores(suite, source, jobids, where):
    expected = snapshot(source)
    output = suite.console("".join(
        f"restore jobid={jobid} all done yes where={where / str(jobid)}\n" for jobid in jobids)
        + "wait\nmessages\n")
    for jobid in jobids:
        assert differences(expected, snapshot(str(where / str(jobid)) + str(source))) == [], output


def test_twenty_backups_at_once_on_an_empty_pool_share_its_first_volume(suite, catalog, tmp_path):
    source = tmp_path / "source"
    make_source(source)
    burst_suite(suite, source, ["Burst"])
    jobids, output = run_burst(suite, "Burst")
    check_burst(suite, catalog, "Burst", jobids, output)
    check_restores(suite, source, jobids, tmp_path / "restored")


@pytest.mark.slow                # 20 bursts of 20 jobs, each restored
def test_twenty_bursts_each_on_a_new_empty_pool(suite, catalog, tmp_path):
    source = tmp_path / "source"
    make_source(source)
    pools = [f"Burst{n:02d}" for n in range(20)]
    burst_suite(suite, source, pools)
    for pool in pools:
        jobids, output = run_burst(suite, pool)
        check_burst(suite, catalog, pool, jobids, output)
        check_restores(suite, source, jobids, tmp_path / pool)
