"""Recycling with real daemons (one director, file daemon and storage daemon for the module):
a pool of two volumes, one job each, reuses the volume whose job has passed its Volume
Retention -- pruned, recycled, relabelled by the storage daemon, the old data gone -- and
never one still holding a retained job.  The expired job is made old by shifting its
JobTDate in the catalog, not by waiting.
"""

import re
import sqlite3
import time

import pytest

from bareos.config.writer import Quoted, Resource, resource_files
from bareos.testing.trees import differences, snapshot
from tests.system.backup_helpers import small_site
from tests.system.volume_reader import SOS_LABEL, records, session_label

HOST = "127.0.31.1"
DAY = 86400
_QUEUED = re.compile(r"Job queued\. JobId=(\d+)")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    extra = resource_files(
        Resource("Pool", {"Name": "Cycle", "Pool Type": "Backup", "Label Format": Quoted("Cycle-"),
                          "Maximum Volume Jobs": 1, "Maximum Volumes": 2,
                          "Volume Retention": "10 days", "Storage": "SD"}),
        Resource("Job", {"Name": "backup-cycle", "Type": "Backup", "Level": "Full",
                         "Client": "FD", "FileSet": "TestSet", "Storage": "SD", "Pool": "Cycle",
                         "Messages": "Standard"}))
    with small_site(tmp_path_factory.mktemp("recycling"), HOST, extra) as topology:
        yield topology


def query(site, sql, *params):
    with sqlite3.connect(site.base / "work-dir" / "bareos.db", timeout=30) as db:
        return db.execute(sql, params).fetchall()


def backup(site):
    output = site.console("run job=backup-cycle yes\nwait\nmessages\n")
    jobid = int(_QUEUED.search(output).group(1))
    return jobid, query(site, "SELECT JobStatus FROM Job WHERE JobId = ?", jobid)[0][0], output


def jobs_on(site, volume):
    return [r[0] for r in query(site, "SELECT DISTINCT jm.JobId FROM JobMedia jm JOIN Media m "
                                      "ON m.MediaId = jm.MediaId WHERE m.VolumeName = ? "
                                      "ORDER BY jm.JobId", volume)]


def sessions_on(site, volume):
    """The JobIds whose session labels the volume file holds."""
    path = site.base / "storage-SD" / volume
    return [session_label(data)["job_id"] for _sid, _stime, index, _stream, data in records(path)
            if index == SOS_LABEL]


def restore_and_compare(site, jobid, where):
    output = site.console(f"restore jobid={jobid} client=FD all done yes where={where}\n"
                          f"wait\nmessages\n")
    assert "Restore OK" in output, output
    assert differences(snapshot(site.source), snapshot(str(where) + str(site.source))) == []


@pytest.mark.slow
def test_a_pool_full_of_volumes_recycles_only_expired_ones(site, tmp_path):
    first, status, _ = backup(site)
    assert status == "T"
    second, status, _ = backup(site)
    assert status == "T"
    assert (jobs_on(site, "Cycle-0001"), jobs_on(site, "Cycle-0002")) == ([first], [second])

    # Nothing has expired: both volumes are used up (one job each), the pool may have no
    # third one, so the job fails rather than overwrite a retained backup.
    refused, status, output = backup(site)
    assert status == "f", output
    assert sessions_on(site, "Cycle-0001") == [first]
    assert sessions_on(site, "Cycle-0002") == [second]

    # The first backup is 20 days old now: its volume is pruned, recycled and relabelled.
    query(site, "UPDATE Job SET JobTDate = ? WHERE JobId = ?", int(time.time()) - 20 * DAY, first)
    third, status, output = backup(site)
    assert status == "T", output
    assert 'Recycled volume "Cycle-0001"' in output
    assert query(site, "SELECT JobId FROM Job WHERE JobId = ?", first) == []
    assert (jobs_on(site, "Cycle-0001"), jobs_on(site, "Cycle-0002")) == ([third], [second])
    assert sessions_on(site, "Cycle-0001") == [third]          # truncated: the old data is gone
    assert query(site, "SELECT VolStatus, VolJobs FROM Media WHERE VolumeName = 'Cycle-0001'") \
        == [("Append", 1)]

    restore_and_compare(site, second, tmp_path / "second")
    restore_and_compare(site, third, tmp_path / "third")
    assert refused not in (first, second, third)
