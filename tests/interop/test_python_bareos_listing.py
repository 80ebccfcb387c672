"""python-bareos 25.1.1 reads ``list`` / ``llist`` answers of our director as it reads Bareos'.

One twistd director for the file, on a catalog filled beforehand (a Full and an
Incremental backup and a restore of ``bareos-fd``, volumes in pools Full and
Incremental); one python-bareos session asks everything, the tests check the shapes
Bareos' own python-bareos system tests (test_list_command.py, test_json.py) rely on.
"""

import re
from datetime import datetime, timedelta

import pytest
import pytest_twisted
from twisted.internet import defer, reactor

from bareos.catalog.api import JobRecord
from bareos.catalog.sqlite import SQLiteCatalog
from bareos.testing.daemons import Suite
from bareos.testing.pybareos import director_console, director_console_json

pytestmark = pytest.mark.usefixtures("pybareos_venv")

JOB_RESOURCES = {
    "fileset/SelfTest.conf": "FileSet { Name = SelfTest; Include { File = /etc/hostname } }\n",
    "pool/Full.conf": 'Pool { Name = Full; Pool Type = Backup; Label Format = "Full-" }\n',
    "pool/Incremental.conf": "Pool { Name = Incremental; Pool Type = Backup }\n",
    "job/backup-bareos-fd.conf": (
        "Job { Name = backup-bareos-fd; Type = Backup; Client = bareos-fd; FileSet = SelfTest;\n"
        "      Storage = File; Pool = Full; Messages = Daemon }\n"),
    "job/RestoreFiles.conf": (
        "Job { Name = RestoreFiles; Type = Restore; Client = bareos-fd; FileSet = SelfTest;\n"
        "      Storage = File; Pool = Full; Messages = Daemon }\n"),
}

# (name, type, level, pool, volume)
JOBS = [("backup-bareos-fd", "B", "F", "Full", "Full-0001"),
        ("RestoreFiles", "R", "F", None, None),
        ("backup-bareos-fd", "B", "I", "Incremental", "Incremental-0001")]
FILES = [f"/etc/file{n:03d}" for n in range(120)]

CALLS = [
    "list jobs", "llist jobs", "list jobs count", "llist jobs last current enable",
    "list jobs jobtype=Restore", "list jobs level=I", "list job=invalid_jobname",
    "llist jobid=1", "list media", "list volume=Full-0001", "list mediaid=1", "list pool",
    "list pool=Incremental", "llist pool", "list clients", "list files jobid=1",
    "list joblog jobid=1", "llist jobtotals", "list volume jobid=3", "list fileset jobid=1",
    "list jobs limit=99999999999999999999999999 offset=99999999999999999999999999",
]


async def fill_catalog(path):
    catalog = SQLiteCatalog(str(path), reactor)
    await catalog.open()
    client_id = await catalog.ensure_client("bareos-fd")
    fileset_id = await catalog.ensure_fileset("SelfTest", "Include { File = /etc/hostname }", "1")
    storage_id = await catalog.ensure_storage("File")
    start = datetime.now().replace(microsecond=0) - timedelta(hours=1)
    for number, (name, type_, level, pool, volume) in enumerate(JOBS, 1):
        pool_id = await catalog.ensure_pool(pool) if pool else None
        job_id = await catalog.create_job(JobRecord(
            job=f"{name}.{number}", name=name, type=type_, level=level, client_id=client_id,
            fileset_id=fileset_id, pool_id=pool_id, job_status="T", sched_time=start,
            start_time=start, end_time=start + timedelta(seconds=3), job_files=len(FILES)))
        if volume:
            media_id = await catalog.create_volume(volume, pool, "File", storage_id=storage_id)
            await catalog.create_jobmedia(job_id, media_id, 1, len(FILES), 0, 0, 0, 10)
        await catalog.add_log(job_id, start, f"{name}: JobId {job_id} done\n")
    await catalog.add_file_records(1, [(n, "/etc/", f[5:], "lstat", "0")
                                       for n, f in enumerate(FILES, 1)])
    await catalog.close()


@pytest.fixture(scope="module")
def answers(tmp_path_factory):
    """{command: result} of CALLS through DirectorConsoleJson, and the plain text of
    ``list files jobid=1`` through DirectorConsole."""
    suite = Suite(tmp_path_factory.mktemp("listing"))
    try:
        pytest_twisted.blockon(defer.ensureDeferred(fill_catalog(suite.dir_work / "bareos.db")))
        suite.start_director(extra_resources=JOB_RESOURCES)
        answer = director_console_json(suite.dir_port, suite.dir_password, calls=CALLS)
        assert answer["ok"], answer
        plain = director_console(suite.dir_port, suite.dir_password,
                                 calls=["list files jobid=1"])
        assert plain["ok"], plain
        yield dict(zip(CALLS, answer["results"])), plain["results"][0]
    finally:
        suite.stop()


def test_jobs_in_short_and_long_form_and_counted(answers):
    result, _ = answers
    jobs = result["list jobs"]["jobs"]
    assert [j["jobid"] for j in jobs] == ["1", "2", "3"]
    assert set(jobs[0]) == {"jobid", "name", "client", "starttime", "duration", "type", "level",
                            "jobfiles", "jobbytes", "jobstatus"}
    assert re.match("..:..:..", jobs[0]["duration"])
    assert set(result["llist jobs"]["jobs"][0]) == {
        "jobid", "job", "name", "purgedfiles", "type", "level", "clientid", "client",
        "jobstatus", "schedtime", "starttime", "endtime", "realendtime", "duration", "jobtdate",
        "volsessionid", "volsessiontime", "jobfiles", "jobbytes", "joberrors", "jobmissingfiles",
        "poolid", "poolname", "priorjobid", "filesetid", "fileset"}
    assert result["list jobs count"] == {"jobs": [{"count": "3"}]}
    assert [j["jobid"] for j in result["llist jobs last current enable"]["jobs"]] == ["2", "3"]
    assert [j["type"] for j in result["list jobs jobtype=Restore"]["jobs"]] == ["R"]
    assert [j["jobid"] for j in result["list jobs level=I"]["jobs"]] == ["3"]
    assert result["list job=invalid_jobname"] == {"jobs": []}
    assert result["llist jobid=1"]["jobs"][0]["job"] == "backup-bareos-fd.1"
    limited = "list jobs limit=99999999999999999999999999 offset=99999999999999999999999999"
    assert result[limited] == {"jobs": []}


def test_volumes_grouped_by_pool_and_one_volume(answers):
    result, _ = answers
    volumes = result["list media"]["volumes"]
    assert sorted(volumes) == ["full", "incremental"]
    assert set(volumes["full"][0]) == {
        "mediaid", "volumename", "volstatus", "enabled", "volbytes", "volfiles", "volretention",
        "recycle", "slot", "inchanger", "mediatype", "lastwritten", "storage", "hasencryptionkey"}
    assert result["list volume=Full-0001"]["volume"]["volumename"] == "Full-0001"
    assert result["list mediaid=1"]["volume"]["mediaid"] == "1"
    assert result["list volume jobid=3"] == {"volumes": [{"volumename": "Incremental-0001"}]}


def test_pools_clients_filesets_totals(answers):
    result, _ = answers
    assert set(result["list pool"]["pools"][0]) == {"poolid", "name", "numvols", "maxvols",
                                                    "pooltype", "labelformat"}
    assert [p["name"] for p in result["list pool=Incremental"]["pools"]] == ["Incremental"]
    assert set(result["llist pool"]["pools"][0]) == {
        "poolid", "name", "numvols", "maxvols", "useonce", "usecatalog", "acceptanyvolume",
        "volretention", "voluseduration", "maxvoljobs", "maxvolbytes", "autoprune", "recycle",
        "pooltype", "labelformat", "enabled", "scratchpoolid", "recyclepoolid", "labeltype"}
    assert "bareos-fd" in [c["name"] for c in result["list clients"]["clients"]]
    assert result["list fileset jobid=1"]["filesets"][0]["filesettext"] == \
        "Include { File = /etc/hostname }"
    assert result["llist jobtotals"]["jobtotals"] == {"jobs": "2", "files": "240", "bytes": "0"}


def test_files_and_joblog(answers):
    result, plain = answers
    filenames = {f["filename"] for f in result["list files jobid=1"]["filenames"]}
    assert filenames == set(FILES)
    # Bareos' test reads the plain answer from its first path on; the same names
    start = plain.find("\n/") + 1
    assert set(plain[start:].replace("\n ", "\n").splitlines()) == filenames
    (entry,) = result["list joblog jobid=1"]["joblog"]
    assert set(entry) == {"time", "logtext"}
