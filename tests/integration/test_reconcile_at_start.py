"""A director that starts on a catalog with jobs an earlier director left unfinished.

Jobs created, running or waiting are marked failed, each with a job-log message and an
end time (when it started; never started: when it was scheduled); ended jobs are left
alone.  The daemons of a job that had started are told to cancel it, and a daemon that
cannot be reached is named in the job log.  And a director started again within the
second does not give a job a name its predecessor gave.
"""

from datetime import datetime

import pytest
import pytest_twisted
from twisted.internet import reactor, task

from bareos.catalog import open_catalog
from bareos.catalog.api import JobRecord
from bareos.config import parse_config_text
from bareos.config.schemas import DIRECTOR
from bareos.director.daemon import Director
from bareos.director.jobs import common
from bareos.director.jobs.job import unique_job_name
from bareos.director.jobs.manager import new_job
from bareos.testing.ports import free_port

CONFIG = """
Director {{ Name = test-dir; DirAddress = 127.0.0.1; DirPort = {port}; Password = "dirpw";
           Messages = Daemon; Working Directory = "{workdir}"; TLS Enable = no }}
Client {{ Name = fd-one; Address = 127.0.0.1; Port = {dead_port}; Password = "fdpw" }}
Storage {{ Name = File; Address = 127.0.0.1; Port = {dead_port}; Password = "sdpw";
          Device = FileStorage; Media Type = File }}
FileSet {{ Name = Set; Include {{ File = /nonexistent }} }}
Pool {{ Name = Full; Pool Type = Backup }}
Job {{ Name = backup; Type = Backup; Client = fd-one; FileSet = Set; Storage = File;
      Pool = Full; Messages = Standard }}
Messages {{ Name = Daemon; Console = all }}
Messages {{ Name = Standard; Catalog = all }}
Catalog {{ Name = MyCatalog; DB Driver = sqlite3; DB Name = bareos }}
"""

SCHEDULED = datetime(2026, 12, 1, 5, 0, 0)
STARTED = datetime(2026, 12, 1, 5, 0, 7)


@pytest.fixture
def config(tmp_path):
    text = CONFIG.format(port=free_port(), dead_port=free_port(), workdir=tmp_path)
    return parse_config_text(text, DIRECTOR)


async def left_behind(config, tmp_path):
    """Jobs in the catalog as a killed director leaves them: {status: JobId}."""
    catalog = await open_catalog(config.resources("catalog")[0], str(tmp_path), reactor)
    client_id = await catalog.ensure_client("fd-one")
    jobids = {}
    for number, status in enumerate(["C", "R", "F", "T", "f"]):
        started = status != "C"
        jobids[status] = await catalog.create_job(JobRecord(
            job=f"backup.2026-12-01_05.00.00_{number:02d}", name="backup", client_id=client_id,
            job_status=status, sched_time=SCHEDULED, start_time=STARTED if started else None,
            end_time=STARTED if status in "Tf" else None, job_tdate=1))
    await catalog.close()
    return jobids


@pytest_twisted.ensureDeferred
async def test_unfinished_jobs_are_marked_failed_and_their_daemons_told(
        config, tmp_path, monkeypatch):
    monkeypatch.setattr(common, "CANCEL_TIMEOUT", 0.5)
    jobids = await left_behind(config, tmp_path)
    director = Director(config, reactor)
    director.startService()
    try:
        catalog = await director.catalog_ready()
        jobs = {record.job_id: record for record in await catalog.list_jobs()}
        assert {status: jobs[jobid].job_status for status, jobid in jobids.items()} == \
            {"C": "f", "R": "f", "F": "f", "T": "T", "f": "f"}
        never_started = jobs[jobids["C"]]
        assert (never_started.start_time, never_started.end_time) == (SCHEDULED, SCHEDULED)
        for status in "RF":
            assert (jobs[jobids[status]].start_time, jobs[jobids[status]].end_time) == \
                (STARTED, STARTED)

        async def log_of(status):
            return [entry.text for entry in await catalog.job_log(jobids[status])]

        assert await log_of("T") == [] and await log_of("f") == []
        (created,) = await log_of("C")
        assert 'the director was restarted while this job ran (it was "Created", status C); ' \
               "the job is marked failed" in created

        async def both_cancels_logged(status):
            lines = await log_of(status)
            return lines if sum("Cancel after the restart" in line for line in lines) == 2 \
                else None
        for status, doing in (("R", '"Running", status R'), ("F", '"Waiting for FD", status F')):
            lines = await poll(lambda status=status: both_cancels_logged(status), 30,
                               "both daemons' cancel attempts are in the job log")
            assert f"the director was restarted while this job ran (it was {doing})" in lines[0]
            assert "Client fd-one cannot be reached" in lines[1]
            assert "cannot connect to storage File" in lines[2]
        assert sum("Cancel after" in line for line in await log_of("C")) == 0   # never started
    finally:
        await director.stopService()


async def poll(condition, timeout, what):
    """Await ``condition()`` every 0.1 s until it gives something true; that."""
    deadline = reactor.seconds() + timeout
    while not (result := await condition()):
        assert reactor.seconds() < deadline, f"not within {timeout} s: {what}"
        await task.deferLater(reactor, 0.1, lambda: None)
    return result


@pytest_twisted.ensureDeferred
async def test_a_job_name_the_earlier_director_gave_in_the_same_second_is_not_given_again(
        config, tmp_path):
    director = Director(config, reactor)
    director.startService()
    try:
        catalog = await director.catalog_ready()
        job = new_job(director, config.get("job", "backup"))
        taken = unique_job_name("backup", 1, job.sched_time)      # the first name it would give
        await catalog.create_job(JobRecord(job=taken, name="backup", job_status="f"))
        await director.jobs.submit(job)
        assert job.job == unique_job_name("backup", 2, job.sched_time)
        await director.jobs.cancel(job)
        await job.finished()
    finally:
        await director.stopService()
