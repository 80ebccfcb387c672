"""The director waits for both daemons' end-of-job reports, never for ever once one failed.

``wait_for_both_daemons`` driven by a ``task.Clock``: the reports are plain Deferreds
(what ``wait_for_end_job`` and the storage session return), the links record what was
done to them, and the director records the cancels it sends.
"""

from types import SimpleNamespace

import pytest
from twisted.internet import defer, task

from bareos.director.jobs.common import PEER_REPORT_GRACE, wait_for_both_daemons
from bareos.protocol.connection import ConnectionClosed
from bareos.protocol.jobstatus import JobStatus


class Link:
    def __init__(self, kind, name):
        self.kind, self.name = kind, name
        self.report = defer.Deferred()
        self.conn = SimpleNamespace(abort=self.abort)
        self.aborted = None

    def abort(self, reason):
        self.aborted = reason
        if not self.report.called:
            self.report.errback(ConnectionClosed(reason))


class Director:
    def __init__(self):
        self.reactor = task.Clock()
        self.cancels = []
        self.log = []
        self.messages = SimpleNamespace(
            job_message=lambda job, kind, text: self.log.append((kind, text)))
        self.jobs = SimpleNamespace(tell_daemons_to_cancel=self._cancel)

    async def _cancel(self, job, kinds):
        self.cancels.extend(kinds)


@pytest.fixture
def scene():
    director = Director()
    job = SimpleNamespace(fd_status=None, sd_status=None, options={})
    fd, sd = Link("client", "bareos-fd"), Link("storage", "File")
    waiting = defer.ensureDeferred(
        wait_for_both_daemons(director, job, fd, fd.report, sd, sd.report))
    return SimpleNamespace(director=director, job=job, fd=fd, sd=sd, waiting=waiting,
                           clock=director.reactor)


def sd_ends(scene, status):
    scene.job.sd_status = status
    scene.sd.report.callback(None)


def test_the_file_daemon_that_never_reports_after_the_sd_failed_is_canceled_then_given_up(scene):
    sd_ends(scene, JobStatus.FATAL)
    scene.clock.advance(PEER_REPORT_GRACE - 1)
    assert scene.director.cancels == [] and not scene.waiting.called
    scene.clock.advance(1)
    assert scene.director.cancels == ["client"]
    assert not scene.waiting.called
    scene.clock.advance(PEER_REPORT_GRACE)
    assert scene.fd.aborted
    failure = scene.waiting.result
    scene.waiting.addErrback(lambda _: None)
    assert failure.check(ConnectionClosed)
    assert [kind for kind, _ in scene.director.log] == ["warning", "error"]


def test_a_file_daemon_that_reports_after_the_cancel_ends_the_wait(scene):
    sd_ends(scene, JobStatus.FATAL)
    scene.clock.advance(PEER_REPORT_GRACE)
    scene.job.fd_status = JobStatus.CANCELED
    scene.fd.report.callback(None)
    assert scene.waiting.called and scene.waiting.result is None
    assert scene.fd.aborted is None
    scene.clock.advance(PEER_REPORT_GRACE)       # no timer left behind that aborts later
    assert scene.fd.aborted is None


def test_after_a_successful_storage_daemon_the_file_daemon_has_all_the_time_it_needs(scene):
    sd_ends(scene, JobStatus.TERMINATED)
    scene.clock.advance(100 * PEER_REPORT_GRACE)
    assert scene.director.cancels == [] and not scene.waiting.called
    scene.job.fd_status = JobStatus.TERMINATED
    scene.fd.report.callback(None)
    assert scene.waiting.called


def test_the_storage_daemon_that_never_ends_after_the_fd_failed_is_canceled(scene):
    scene.fd.report.errback(ConnectionClosed("file daemon killed"))
    scene.clock.advance(PEER_REPORT_GRACE)
    assert scene.director.cancels == ["storage"]
    scene.clock.advance(PEER_REPORT_GRACE)
    assert scene.sd.aborted
    failure = scene.waiting.result
    scene.waiting.addErrback(lambda _: None)
    assert "file daemon killed" in str(failure.value)     # the FD's failure, not the SD's


def test_both_reports_in_time_nothing_is_canceled(scene):
    scene.job.fd_status = JobStatus.FATAL
    scene.fd.report.callback(None)
    sd_ends(scene, JobStatus.FATAL)
    assert scene.waiting.called and scene.waiting.result is None
    scene.clock.advance(10 * PEER_REPORT_GRACE)
    assert scene.director.cancels == [] and scene.fd.aborted is None and scene.sd.aborted is None


def test_a_restore_part_the_file_daemon_ended_with_storage_end_is_no_failure(scene):
    scene.job.options["storage_end"] = True          # "2000 OK storage end": no fd_status
    scene.fd.report.callback(None)
    scene.clock.advance(10 * PEER_REPORT_GRACE)
    assert scene.director.cancels == [] and not scene.waiting.called
    sd_ends(scene, JobStatus.TERMINATED)
    assert scene.waiting.called


def test_both_links_closing_fail_the_wait_with_the_file_daemons_failure(scene):
    """The wait resumes inside the file daemon's report callbacks: it must take that
    report's failure, not trip on the report being mid-run (a director stopping)."""
    scene.sd.report.errback(ConnectionClosed("storage daemon gone"))
    scene.fd.report.errback(ConnectionClosed("file daemon gone"))
    failure = scene.waiting.result
    scene.waiting.addErrback(lambda _: None)
    assert failure.check(ConnectionClosed) and "file daemon gone" in str(failure.value)
    assert scene.director.cancels == []
