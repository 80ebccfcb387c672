"""Copy and Migrate jobs with real daemons: one director, one file daemon, two storage daemons.

SD_A holds the backups (pools Full and MigSrc) and a copy pool of its own (CopyA: a copy on
one storage daemon); SD_B the copy pool CopyB and the migration pool MigB (copies and
migrations across two storage daemons, connections #5b and #8).  Each storage daemon has
its own Media Type, so a volume of one is never looked for on the other.  Two more
Storage resources name the same daemons with Lan Addresses, the writing one's pointing
where nothing listens: the reading storage daemon is told that address (the Lan Address
rule for a storage pair) and the copy fails.  A third one's Lan Address is a relay to SD_B,
so that a test can hold a copy's data stream mid-way and kill SD_B then.
"""

import os
import re
import sqlite3
import time

import pytest

from bareos.config.writer import Quoted, Resource, resource_files
from bareos.protocol.framing import Signal
from bareos.testing.ports import free_port, free_port_on_all
from bareos.testing.relay import TO_SERVER, FaultyRelay
from bareos.testing.topology import Topology
from bareos.testing.trees import differences, make_tree, snapshot

DIRECTOR = "127.0.30.100"
SD_A, SD_B, FD = "127.0.30.1", "127.0.30.2", "127.0.30.10"
NOWHERE = "127.0.30.99"            # nothing listens there
RELAY = "127.0.30.3"               # a relay to SD_B: the Lan Address of Storage SD_B-relay

_QUEUED = re.compile(r"Job queued\. JobId=(\d+)")


def _copy_job(name, job_type, pool, next_pool, selection, pattern=None, storage="SD_A", extra=None):
    return Resource("Job", {"Name": name, "Type": job_type, "Pool": pool, "Next Pool": next_pool,
                            "Storage": storage, "Selection Type": selection,
                            "Selection Pattern": Quoted(pattern) if pattern else None,
                            "Messages": "Standard", **(extra or {})})


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    base = tmp_path_factory.mktemp("copy-migrate")
    source = make_tree(base / "source", big_file_mib=1, small_files=5)
    topology = Topology(base, director_host=DIRECTOR, director_port=free_port(DIRECTOR),
                        source=source)
    big = base / "big"               # made by the (slow) test that backs it up
    topology.add_fd("FD", FD, free_port(FD))
    sd_a = topology.add_sd("SD_A", SD_A, free_port(SD_A), extra=["SD Connect Timeout = 1"])
    sd_b = topology.add_sd("SD_B", SD_B, free_port_on_all(SD_B, RELAY))
    topology.relay = FaultyRelay(sd_b.port, target_host=SD_B, listen_host=RELAY,
                                 listen_port=sd_b.port)
    pool = lambda name, storage, *extra: Resource("Pool", [  # noqa: E731
        {"Name": name, "Pool Type": "Backup", "Label Format": Quoted(f"{name}-"), "Storage": storage},
        *extra])
    # cleartext (as every storage here): the relay sees the copy's signals
    topology.add_storage("SD_B-relay", sd_b, lan_address=RELAY)
    topology.add_storage("SD_A-lan", sd_a, lan_address=sd_a.listen)
    topology.add_storage("SD_B-badlan", sd_b, lan_address=NOWHERE)
    extra = resource_files(
        pool("Full", "SD_A", {"Next Pool": "CopyA"}),
        pool("CopyA", "SD_A"), pool("CopyB", "SD_B"), pool("MigB", "SD_B"),
        pool("CopyBad", "SD_B-badlan"), pool("Other", "SD_A-lan"), pool("Big", "SD_A-lan"),
        pool("CopyRelay", "SD_B-relay"),
        Resource("FileSet", {"Name": "BigSet", "Include": {"File": big}}),
        Resource("Job", {"Name": "backup-big", "Type": "Backup", "Level": "Full", "Client": "FD",
                         "FileSet": "BigSet", "Storage": "SD_A", "Pool": "Big",
                         "Messages": "Standard"}),
        _copy_job("copy-relayed", "Copy", "Big", "CopyRelay", "PoolUncopiedJobs",
                  storage="SD_A-lan"),
        pool("MigSrc", "SD_A", {"Maximum Volume Jobs": 1, "Next Pool": "MigB"}),
        *(Resource("Job", {"Name": f"backup-{pool_name.lower()}", "Type": "Backup",
                           "Level": "Full", "Client": "FD", "FileSet": "TestSet",
                           "Storage": "SD_A", "Pool": pool_name, "Messages": "Standard"})
          for pool_name in ("MigSrc", "Other")),
        # Next Pool from the Pool resource (Full's is CopyA), and as a Job override
        _copy_job("copy-same", "Copy", "Full", None, "PoolUncopiedJobs",
                  extra={"Maximum Spawned Jobs": 1}),
        _copy_job("copy-remote", "Copy", "Full", "CopyB", "Job", "^backup$"),
        _copy_job("copy-badlan", "Copy", "Other", "CopyBad", "Job", "^backup-other$",
                  storage="SD_A-lan"),
        _copy_job("copy-other", "Copy", "Other", "CopyB", "PoolUncopiedJobs", storage="SD_A-lan"),
        _copy_job("migrate-volume", "Migrate", "MigSrc", None, "Volume", "^MigSrc-0001$"),
        _copy_job("migrate-purge", "Migrate", "MigSrc", None, "Job", "^backup-migsrc$",
                  extra={"Purge Migration Job": True}),
        _copy_job("copy-sql", "Copy", "Full", "CopyB", "SQLQuery",
                  "SELECT JobId FROM Job WHERE Name = 'backup' AND Type = 'B'"),
    )
    try:
        topology.start(extra_resources=extra)
        yield topology
    finally:
        topology.stop()
        topology.relay.stop()


def query(site, sql, *params):
    with sqlite3.connect(site.base / "work-dir" / "bareos.db") as db:
        return db.execute(sql, params).fetchall()


def run_all(site, command):
    """Run ``command`` (it queues a control job) and wait until its copies have ended too."""
    output = site.console(f"{command}\nwait\nwait\nmessages\n")
    assert _QUEUED.search(output), output
    return output


def jobs(site, where="1=1", *params):
    return query(site, "SELECT j.JobId, j.Type, j.JobStatus, j.PriorJobId, p.Name, j.JobFiles "
                       f"FROM Job j LEFT JOIN Pool p ON p.PoolId = j.PoolId WHERE {where} "
                       "ORDER BY j.JobId", *params)


def volumes_of(site, jobid):
    return [row[0] for row in query(
        site, "SELECT DISTINCT m.VolumeName FROM JobMedia jm JOIN Media m ON m.MediaId = "
              "jm.MediaId WHERE jm.JobId = ?", jobid)]


def backup(site, job="backup"):
    output = site.console(f"run job={job} level=Full yes\nwait\nmessages\n")
    jobid = int(_QUEUED.search(output).group(1))
    assert jobs(site, "j.JobId = ?", jobid)[0][2] == "T", output
    return jobid


def restore_and_compare(site, jobid, storage, where, source=None):
    """Restore ``jobid`` from ``storage``: the tree comes back as it was (``source``,
    the site's own by default), contents and metadata."""
    source = source or site.source
    output = site.console(f"restore jobid={jobid} client=FD storage={storage} all done yes "
                          f"where={where}\nwait\nmessages\n")
    assert re.search(r"Restore OK", output), output
    assert differences(snapshot(source), snapshot(str(where) + str(source))) == []


def test_copies_on_one_and_across_two_storage_daemons_each_job_once(site, tmp_path):
    original, later = backup(site), backup(site)
    files = jobs(site, "j.JobId = ?", original)[0][5]

    # PoolUncopiedJobs with Maximum Spawned Jobs = 1: a run copies the oldest job not copied
    # anywhere yet; the next run the other one; the third finds nothing
    output = run_all(site, "run job=copy-same yes")
    assert f"The following 2 JobIds were chosen to be copied: {original},{later}" in output, output
    assert f"Max Concurrent Copies = 1: JobId {later} left for a later run." in output, output
    port_a = site.sds["SD_A"].port
    assert (f"Storage daemon SD_A told to connect to Storage daemon SD_A at {SD_A}:{port_a} "
            f"(its Address)") in output, output
    same = jobs(site, "j.PriorJobId = ?", original)
    assert [row[1:] for row in same] == [("C", "T", original, "CopyA", files)], output
    assert jobs(site, "j.PriorJobId = ?", later) == []
    assert volumes_of(site, same[0][0]) == ["CopyA-0001"]
    assert os.path.isfile(site.base / "storage-SD_A" / "CopyA-0001")
    output = run_all(site, "run job=copy-same yes")
    assert f"The following 1 JobId was chosen to be copied: {later}" in output, output
    output = run_all(site, "run job=copy-same yes")
    assert "No JobIds found to copy." in output and "chosen" not in output, output
    assert [row[3] for row in jobs(site, "p.Name = 'CopyA'")] == [original, later]

    output = run_all(site, "run job=copy-remote yes")
    port_b = site.sds["SD_B"].port
    assert (f"Storage daemon SD_A told to connect to Storage daemon SD_B at {SD_B}:{port_b} "
            f"(its Address)") in output, output
    assert output.count("Copy OK") == 3, output           # the control job and both copies
    remote = jobs(site, "j.PriorJobId = ? AND p.Name = 'CopyB'", original)
    assert [row[1:] for row in remote] == [("C", "T", original, "CopyB", files)], output
    assert volumes_of(site, remote[0][0]) == ["CopyB-0001"]
    assert os.path.isfile(site.base / "storage-SD_B" / "CopyB-0001")
    # the copies hold the same files as the original
    names = "SELECT p.Path || f.Name, f.FileIndex, f.MD5 FROM File f JOIN Path p ON " \
            "p.PathId = f.PathId WHERE f.JobId = ? ORDER BY f.FileIndex"
    assert query(site, names, remote[0][0]) == query(site, names, original)

    # each job is copied once per Next Pool: a second run finds nothing to do
    output = run_all(site, "run job=copy-remote yes")
    assert (f"Already in pool \"CopyB\", not copied again: JobId {original},{later}"
            in output), output
    assert "No JobIds found to copy." in output, output
    output = run_all(site, "run job=copy-sql yes")          # the same jobs, chosen by a query
    assert (f"Already in pool \"CopyB\", not copied again: JobId {original},{later}"
            in output), output
    assert len(jobs(site, "j.PriorJobId = ?", original)) == 2

    # the copy on the other storage daemon restores byte for byte, metadata included
    restore_and_compare(site, remote[0][0], "SD_B", tmp_path / "from-copy")
    # the originals' volume gone and their jobs deleted: the oldest copy of each becomes the
    # backup
    os.remove(site.base / "storage-SD_A" / "Full-0001")
    site.console(f"delete jobid={original}\ndelete jobid={later}\n")
    assert jobs(site, "j.JobId = ?", same[0][0])[0][1] == "B"
    output = site.console("restore client=FD select current all done yes "
                          f"where={tmp_path / 'current'}\nwait\nmessages\n")
    assert "Restore OK" in output, output
    assert differences(snapshot(site.source),
                       snapshot(str(tmp_path / "current") + str(site.source))) == []


def test_migrate_by_volume_moves_only_that_volumes_job(site, tmp_path):
    first = backup(site, "backup-migsrc")
    second = backup(site, "backup-migsrc")        # Maximum Volume Jobs = 1: MigSrc-0001 is Used now
    assert volumes_of(site, first) == ["MigSrc-0001"]
    assert volumes_of(site, second) == ["MigSrc-0002"]

    output = run_all(site, "run job=migrate-volume yes")
    assert f"The following 1 JobId was chosen to be migrated: {first}" in output, output
    assert "Migrate OK" in output, output
    new = jobs(site, "j.PriorJobId = ?", first)
    assert [row[1:5] for row in new] == [("B", "T", first, "MigB")], output
    assert jobs(site, "j.JobId = ?", first)[0][1] == "M"
    files = "SELECT COUNT(*) FROM File WHERE JobId = ?"
    assert query(site, files, first) == [(0,)]               # purged: they are the new job's
    assert query(site, files, new[0][0])[0][0] == new[0][5] > 0
    assert jobs(site, "j.JobId = ?", second)[0][1] == "B"
    assert volumes_of(site, new[0][0]) == ["MigB-0001"]
    # the new job took the original's place in time
    times = "SELECT StartTime, EndTime FROM Job WHERE JobId = ?"
    assert query(site, times, new[0][0]) == query(site, times, first)

    os.remove(site.base / "storage-SD_A" / "MigSrc-0001")
    restore_and_compare(site, new[0][0], "SD_B", tmp_path / "migrated")

    # Purge Migration Job = yes: the migrated job leaves the catalog (the first one, Type M
    # now, is no candidate any more)
    output = run_all(site, "run job=migrate-purge yes")
    assert f"The following 1 JobId was chosen to be migrated: {second}" in output, output
    assert f"Migrated JobId {second} purged from the catalog" in output, output
    assert jobs(site, "j.JobId = ?", second) == []
    assert [row[1:3] for row in jobs(site, "j.PriorJobId = ?", second)] == [("B", "T")]


def test_unreachable_writer_or_missing_volume_fails_the_copy_and_leaves_the_source(site):
    original = backup(site, "backup-other")
    record = jobs(site, "j.JobId = ?", original)
    volume = site.base / "storage-SD_A" / "Other-0001"
    size = volume.stat().st_size
    output = run_all(site, "run job=copy-badlan yes")
    assert f"The following 1 JobId was chosen to be copied: {original}" in output, output
    port_b = site.sds["SD_B"].port
    assert (f"Storage daemon SD_A-lan told to connect to Storage daemon SD_B-badlan at "
            f"{NOWHERE}:{port_b} (its Lan Address)") in output, output
    assert f"Failed to connect to Storage daemon: {NOWHERE}:{port_b}" in output, output
    assert "could not connect to Storage daemon SD_B-badlan" in output, output
    failed = jobs(site, "p.Name = 'CopyBad'")
    assert [row[1:4] for row in failed] == [("C", "f", original)], output
    assert jobs(site, "j.JobId = ?", original) == record
    assert volume.stat().st_size == size
    # a failed copy is no copy: the next run chooses the job again
    output = run_all(site, "run job=copy-badlan yes")
    assert f"The following 1 JobId was chosen to be copied: {original}" in output, output

    # the volume to read is missing: the copy fails saying so; once it is back, a rerun copies
    hidden = volume.with_name("Other-0001.away")
    volume.rename(hidden)
    output = run_all(site, "run job=copy-other yes")
    assert 'Error reading Volume "Other-0001"' in output, output
    assert "volume file not found" in output, output
    assert [row[1:4] for row in jobs(site, "p.Name = 'CopyB' AND j.PriorJobId = ?", original)] \
        == [("C", "f", original)], output
    hidden.rename(volume)
    output = run_all(site, "run job=copy-other yes")
    assert "Copy OK" in output, output
    assert [row[1:4] for row in jobs(site, "p.Name = 'CopyB' AND j.PriorJobId = ?", original)] \
        == [("C", "f", original), ("C", "T", original)], output
    assert jobs(site, "j.JobId = ?", original) == record
    # both storage daemons go on serving
    assert site.sds["SD_A"].process.running and site.sds["SD_B"].process.running


@pytest.mark.slow
def test_writing_storage_daemon_killed_mid_copy_fails_the_copy_and_a_rerun_copies(site, tmp_path):
    """SD_B is killed (SIGKILL) while the copy's records stream to it through the relay."""
    make_tree(site.base / "big", big_file_mib=64, small_files=3)
    original = backup(site, "backup-big")
    record = jobs(site, "j.JobId = ?", original)
    volume = site.base / "storage-SD_A" / "Big-0001"
    size = volume.stat().st_size
    relay, sd_b = site.relay, site.sds["SD_B"].process
    site.console("run job=copy-relayed yes\n")
    deadline = time.monotonic() + 120
    while relay.signals(TO_SERVER)[Signal.EOD] < 1:     # the records have begun to flow
        assert time.monotonic() < deadline, site.console("messages\n")
        time.sleep(0.01)
    relay.freeze()                                      # ... and stop half-way
    sd_b.kill()
    relay.reset()
    output = site.console("wait\nwait\nmessages\n")
    failed = jobs(site, "p.Name = 'CopyRelay'")
    assert [row[1:4] for row in failed] == [("C", "f", original)], output
    assert "Storage daemon SD_B-relay closed the connection before the job ended" in output, output
    assert "Connection to the writing Storage daemon lost during the copy" in output, output
    assert "*** Copy Error ***" in output
    # the source is untouched, and the copy is made once SD_B is back
    assert jobs(site, "j.JobId = ?", original) == record
    assert volume.stat().st_size == size
    relay.thaw()
    sd_b.start()
    output = run_all(site, "run job=copy-relayed yes")
    copies = jobs(site, "p.Name = 'CopyRelay' AND j.JobStatus IN ('T', 'W')")
    assert [row[1:4] for row in copies] == [("C", copies[0][2], original)], output
    assert copies[0][5] == record[0][5]
    # only the storage daemons' data channel took the Lan Address (the relay); the director
    # dialled SD_B at its Address
    assert relay.accepted == 2
    assert all(b"Hello Start Storage Job" in greeting for greeting in relay.greetings), \
        relay.greetings
    restore_and_compare(site, copies[0][0], "SD_B", tmp_path / "after-kill", site.base / "big")
