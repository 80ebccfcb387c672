"""The director's job as a state machine, timed by a task.Clock."""

import types

import pytest
from twisted.internet import defer, error
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.logger import LogLevel, globalLogPublisher
from twisted.python.failure import Failure

from bareos.director.client_connections import ClientConnectionPool, WaitingConnection
from bareos.director.jobs.common import wait_for_end_job
from bareos.director.jobs.job import (
    IllegalTransition, Job, JobCanceled, Phase, end_of_job_report)
from bareos.director.jobs.storage import StorageJobSession
from bareos.director.links import DaemonLink, DaemonUnreachable, ProtocolViolation
from bareos.protocol.connection import BareosConnection, ConnectionClosed, ReceiveTimeout
from bareos.protocol.framing import Signal, encode_message, encode_signal
from bareos.protocol.jobstatus import JobStatus, daemons_outcome

S = JobStatus
FINAL_OUTCOMES = [S.TERMINATED, S.WARNINGS, S.ERROR_TERMINATED, S.ERROR, S.FATAL, S.CANCELED]


def new_job(clock, **fields):
    named = types.SimpleNamespace
    return Job(resource=named(name="backup-fd1"), type="B", level="F", client=named(name="fd1"),
               fileset=named(name="fs"), pool=named(name="Full"), storage=named(name="File"),
               messages=None, clock=clock, jobid=7, job="backup-fd1.2026-12-03_07.00.00_01",
               **fields)


def running_job(clock, started_at=1000):
    clock.advance(started_at - clock.seconds())
    job = new_job(clock)
    job.run()
    return job


def link_to(clock, kind="client", name="fd1"):
    conn = BareosConnection(clock=clock)
    conn.makeConnection(StringTransport())
    return DaemonLink(conn, kind, name, "")


def test_a_job_is_created_runs_and_ends_ok_at_the_clocks_times():
    clock = Clock()
    clock.advance(100)
    job = new_job(clock)
    assert (job.status, job.phase, job.sched_time, job.start_time) == (S.CREATED, Phase.CREATED,
                                                                       100, None)
    clock.advance(5)
    job.run()
    assert (job.status, job.phase, job.start_time) == (S.RUNNING, Phase.RUNNING, 105)
    clock.advance(60)
    assert job.elapsed() == 60 and not job.is_final
    assert job.end(S.TERMINATED) is S.TERMINATED
    clock.advance(1000)
    assert (job.status, job.phase, job.end_time, job.elapsed()) == (S.TERMINATED, Phase.ENDED,
                                                                    165, 60)
    assert job.is_final


def test_a_job_waits_for_a_slot_then_runs_from_when_it_got_one():
    clock = Clock()
    job = new_job(clock)
    job.queue(S.WAIT_MAX_JOBS)
    assert (job.status, job.phase) == (S.WAIT_MAX_JOBS, Phase.WAITING)
    clock.advance(30)
    job.queue(S.WAIT_CLIENT_RES)                 # now the client's limit holds it
    assert job.status is S.WAIT_CLIENT_RES and job.start_time is None
    clock.advance(30)
    job.run()
    assert (job.status, job.sched_time, job.start_time) == (S.RUNNING, 0, 60)


INTO_PHASE = {                           # how a job gets into each phase, by its public API
    Phase.CREATED: [],
    Phase.WAITING: [lambda job: job.queue(S.WAIT_MAX_JOBS)],
    Phase.RUNNING: [Job.run],
    Phase.ENDED: [Job.run, lambda job: job.end(S.TERMINATED)],
}


# created -> waiting -> running -> ended; waiting again while running; ended from any phase
LEGAL = {(Phase.CREATED, Phase.WAITING), (Phase.CREATED, Phase.RUNNING),
         (Phase.CREATED, Phase.ENDED), (Phase.WAITING, Phase.WAITING),
         (Phase.WAITING, Phase.RUNNING), (Phase.WAITING, Phase.ENDED),
         (Phase.RUNNING, Phase.WAITING), (Phase.RUNNING, Phase.ENDED)}


@pytest.mark.parametrize("source", list(Phase))
@pytest.mark.parametrize("target", [Phase.WAITING, Phase.RUNNING, Phase.ENDED])
def test_every_transition_is_allowed_or_refused_as_the_table_says(source, target):
    clock = Clock()
    job = new_job(clock)
    for step in INTO_PHASE[source]:
        step(job)
    before = (job.status, job.start_time, job.end_time)
    clock.advance(10)
    if (source, target) in LEGAL:
        INTO_PHASE[target][-1](job)
        assert job.phase is target
        ran_before = source is Phase.RUNNING
        assert job.start_time == (0 if ran_before else 10 if target is Phase.RUNNING else None)
        assert job.end_time == (10 if target is Phase.ENDED else None)
    else:
        with pytest.raises(IllegalTransition):
            INTO_PHASE[target][-1](job)
        assert (job.status, job.start_time, job.end_time) == before


@pytest.mark.parametrize("outcome", FINAL_OUTCOMES)
def test_every_outcome_ends_the_job_once(outcome):
    clock = Clock()
    job = running_job(clock)
    clock.advance(3)
    job.end(outcome)
    assert (job.status, job.end_time, job.elapsed()) == (outcome, 1003, 3)
    for again in (job.run, lambda: job.end(S.TERMINATED), lambda: job.queue(S.WAIT_MAX_JOBS)):
        with pytest.raises(IllegalTransition):
            again()
    waited = defer.ensureDeferred(job.wait(S.WAIT_FD, defer.Deferred()))
    failure = []
    waited.addErrback(failure.append)
    assert failure[0].check(IllegalTransition)
    assert (job.status, job.end_time) == (outcome, 1003)


@pytest.mark.parametrize("waiting", [None, S.WAIT_MAX_JOBS])
def test_a_job_canceled_before_it_ran_ends_canceled_without_a_start_time(waiting):
    clock = Clock()
    job = new_job(clock)
    if waiting:
        job.queue(waiting)
    clock.advance(12)
    job.cancel()
    assert job.end(S.CANCELED) is S.CANCELED
    assert (job.start_time, job.end_time, job.elapsed()) == (None, 12, 0)


def test_running_twice_or_a_status_the_director_never_has_is_a_programming_error():
    clock = Clock()
    job = running_job(clock)
    events = []
    globalLogPublisher.addObserver(events.append)
    try:
        with pytest.raises(IllegalTransition, match=r"JobId 7 .* cannot go from Running \(R\) "
                                                    r"to Running \(R\)"):
            job.run()
    finally:
        globalLogPublisher.removeObserver(events.append)
    assert [e["log_level"] for e in events if e.get("log_namespace") == "bareos.director.jobs"] \
        == [LogLevel.error]
    with pytest.raises(IllegalTransition, match="never has the status"):
        job.queue(S.BLOCKED)
    assert job.status is S.RUNNING


def test_a_running_job_waits_for_a_daemon_and_runs_on():
    clock = Clock()
    job = running_job(clock)
    link = defer.Deferred()
    waited = defer.ensureDeferred(job.wait(S.WAIT_SD, link))
    assert (job.status, job.phase) == (S.WAIT_SD, Phase.WAITING)
    clock.advance(8)
    link.callback("the storage daemon's link")
    assert waited.result == "the storage daemon's link"
    assert (job.status, job.start_time) == (S.RUNNING, 1000)


def test_a_wait_that_fails_fails_the_job_and_leaves_it_running_for_its_end():
    clock = Clock()
    job = running_job(clock)
    waited = defer.ensureDeferred(job.wait(S.WAIT_FD, defer.fail(DaemonUnreachable("no fd1"))))
    assert isinstance(waited.result.value, DaemonUnreachable)
    waited.addErrback(lambda _: None)
    assert job.status is S.RUNNING


def test_cancel_while_waiting_for_a_client_ends_the_wait_at_once():
    clock = Clock()
    pool = ClientConnectionPool(clock)
    job = running_job(clock)
    waited = defer.ensureDeferred(job.wait(S.WAIT_FD, pool.wait_for("fd1", 300)))
    assert job.status is S.WAIT_FD
    clock.advance(4)
    job.cancel()
    failure = []
    waited.addErrback(failure.append)
    assert failure[0].check(JobCanceled)
    assert job.status is S.RUNNING and job.cancel_requested
    assert job.end(S.CANCELED) is S.CANCELED
    assert (job.start_time, job.end_time) == (1000, 1004)
    assert clock.getDelayedCalls() == []          # the 300 s timeout is gone with the wait
    # the client connecting now is kept for the next job, not handed to the canceled one
    conn = BareosConnection(clock=clock)
    conn.makeConnection(StringTransport())
    entry = WaitingConnection("fd1", conn, 54, 0)
    pool.add(entry)
    assert pool.take("fd1") is entry


def test_cancel_while_dialling_is_a_cancel_whatever_error_the_dial_ends_with():
    clock = Clock()
    job = running_job(clock)
    dialling = defer.Deferred(lambda d: d.errback(error.ConnectingCancelledError(None)))
    waited = defer.ensureDeferred(job.wait(S.WAIT_FD, dialling))
    job.cancel()
    failure = []
    waited.addErrback(failure.append)
    assert failure[0].check(JobCanceled)


@pytest.mark.parametrize("outcome", FINAL_OUTCOMES)
def test_a_canceled_job_ends_canceled_whatever_the_daemons_made_of_it(outcome):
    # Bareos' rule: the cancel was the job's first heavy status, so it stays
    clock = Clock()
    job = running_job(clock)
    job.cancel()
    clock.advance(2)
    assert job.end(outcome) is S.CANCELED
    assert job.end_time == 1002


def test_the_file_daemon_vanishing_mid_job_ends_it_fatal_at_that_moment():
    clock = Clock()
    job = running_job(clock)
    fd = link_to(clock)
    job.links.append(fd)
    fd.conn.dataReceived(encode_message(b"Jmsg Job=x type=6 level=0 fd1 JobId 7: saving"))
    ending = defer.ensureDeferred(wait_for_end_job(job, fd))
    clock.advance(42)
    fd.conn.connectionLost(Failure(error.ConnectionLost()))
    failure = []
    ending.addErrback(failure.append)
    assert failure[0].check(ConnectionClosed)
    assert job.fd_status is None
    job.end(S.FATAL)                     # what the job manager makes of a lost connection
    assert (job.status, job.start_time, job.end_time, job.elapsed()) == (S.FATAL, 1000, 1042, 42)
    report = end_of_job_report(job, "dir")
    assert "FD termination status:  Error" in report and "*** Backup Error ***" in report


def test_the_storage_daemons_answer_to_use_device_is_awaited_while_it_heartbeats():
    """Jobs queued behind a busy device wait as long as it takes (the SD heartbeats once a
    minute meanwhile); before, the reply timeout failed those queued longer than 300 s."""
    clock = Clock()
    sd = link_to(clock, "storage", "File")
    answer = defer.ensureDeferred(sd.receive_line_while_alive(silence=300))
    for _ in range(30):
        clock.advance(60)
        sd.conn.dataReceived(encode_signal(Signal.HEARTBEAT))
    assert not answer.called
    sd.conn.dataReceived(encode_message(b"3000 OK use device device=FileStorage\n"))
    assert answer.result == "3000 OK use device device=FileStorage\n"


def test_a_storage_daemon_silent_while_reserving_a_device_times_out():
    clock = Clock()
    sd = link_to(clock, "storage", "File")
    answer = defer.ensureDeferred(sd.receive_line_while_alive(silence=300))
    clock.advance(60)
    sd.conn.dataReceived(encode_signal(Signal.HEARTBEAT))
    clock.advance(299)
    assert not answer.called             # heard from 299 s ago
    clock.advance(301)
    failure = []
    answer.addErrback(failure.append)
    assert failure[0].check(ReceiveTimeout)


def end_job_from_the_fd(clock, term_code):
    """A running job and the director reading ``2800 End Job TermCode=<term_code>``."""
    job = running_job(clock)
    fd = link_to(clock)
    fd.conn.dataReceived(encode_message(
        b"2800 End Job TermCode=%d JobFiles=3 ReadBytes=30 JobBytes=30 Errors=0" % term_code))
    return job, defer.ensureDeferred(wait_for_end_job(job, fd))


def test_the_storage_daemon_vanishing_before_its_report_ends_the_job_in_error():
    clock = Clock()
    job, _ = end_job_from_the_fd(clock, ord("T"))
    assert (job.fd_status, job.fd_files) == (S.TERMINATED, 3)
    sd = link_to(clock, "storage", "File")
    said = []
    director = types.SimpleNamespace(catalog=None, messages=types.SimpleNamespace(
        job_message=lambda job, kind, text: said.append((kind, text))))
    serving = defer.ensureDeferred(StorageJobSession(director, job, sd).serve())
    clock.advance(9)                     # the SD's connection closes without "3099 Job end"
    sd.conn.connectionLost(Failure(error.ConnectionLost()))
    assert serving.called and job.sd_status is None
    assert [(kind, text.partition(":")[0]) for kind, text in said] == [
        ("error", "Storage daemon File closed the connection before the job ended")]
    assert job.end(daemons_outcome(job.fd_status, job.sd_status)) is S.ERROR_TERMINATED
    assert (job.end_time, job.elapsed()) == (1009, 9)
    assert "SD termination status:  Error" in end_of_job_report(job, "dir")


def test_an_unknown_status_from_the_file_daemon_is_a_protocol_violation():
    _, ended = end_job_from_the_fd(Clock(), ord("0"))
    failure = []
    ended.addErrback(failure.append)
    assert failure[0].check(ProtocolViolation) and "unknown status" in str(failure[0].value)
