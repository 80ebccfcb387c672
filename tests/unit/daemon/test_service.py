"""The daemon skeleton: listening descriptions, and the order and bounds of a stop (on a Clock)."""

import types

import pytest
from twisted.application import service
from twisted.internet import defer, endpoints
from twisted.internet.task import Clock

from bareos.daemon.service import (
    CLOSE_TIMEOUT, JOBS_STOP_TIMEOUT, Daemon, listen_description)


@pytest.mark.parametrize("host, port, description, endpoint_type", [
    ("127.0.0.1", 9101, "tcp:port=9101:backlog=1024:interface=127.0.0.1",
     endpoints.TCP4ServerEndpoint),
    ("", 9102, "tcp:port=9102:backlog=1024:interface=0.0.0.0", endpoints.TCP4ServerEndpoint),
    ("::1", 9103, r"tcp6:port=9103:backlog=1024:interface=\:\:1", endpoints.TCP6ServerEndpoint),
    ("fe80::1%eth0", 9104, r"tcp6:port=9104:backlog=1024:interface=fe80\:\:1%eth0",
     endpoints.TCP6ServerEndpoint),
])
def test_listen_descriptions_escape_ipv6_colons_and_carry_the_backlog(host, port, description,
                                                                      endpoint_type):
    assert listen_description(host, port, 1024) == description
    endpoint = endpoints.serverFromString(Clock(), description)
    assert isinstance(endpoint, endpoint_type) and endpoint._backlog == 1024


class Catalog(service.Service):
    """Stands for the director's catalog: the last thing a stop may close."""

    def __init__(self, events):
        self.events = events

    def stopService(self):
        super().stopService()
        self.events.append("catalog closed")


class JobDaemon(Daemon):
    """A daemon whose jobs are names in a set; they end when the test says so."""

    name = "test-daemon"

    def __init__(self, clock):
        super().__init__(types.SimpleNamespace(warnings=[]), clock)
        self.events = []
        self.jobs = set()
        Catalog(self.events).setServiceParent(self)

    def has_running_jobs(self):
        return bool(self.jobs)

    def cancel_jobs(self, reason):
        self.events.append(f"cancel: {reason}")

    def abandon_jobs(self):
        self.events.append(f"abandon {sorted(self.jobs)}")

    def end(self, job):
        self.jobs.discard(job)
        self.events.append(f"{job} ended")
        self.check_idle()


def started(jobs=()):
    clock = Clock()
    daemon = JobDaemon(clock)
    daemon.startService()
    daemon.jobs.update(jobs)
    return clock, daemon


def test_a_stop_cancels_the_jobs_and_closes_the_catalog_once_they_have_ended():
    clock, daemon = started({"job1", "job2"})
    stopped = daemon.stopService()
    assert daemon.events == ["cancel: test-daemon is stopping"]
    daemon.end("job1")
    clock.advance(JOBS_STOP_TIMEOUT - 1)
    assert not stopped.called
    daemon.end("job2")
    assert daemon.events[-2:] == ["job2 ended", "catalog closed"]
    assert stopped.called


def test_jobs_that_do_not_end_in_time_are_abandoned_before_the_catalog_closes():
    clock, daemon = started({"job1"})
    stopped = daemon.stopService()
    clock.advance(JOBS_STOP_TIMEOUT - 0.1)
    assert "catalog closed" not in daemon.events
    clock.advance(0.1)
    assert daemon.events == ["cancel: test-daemon is stopping", "abandon ['job1']",
                             "catalog closed"]
    assert stopped.called


def test_a_stop_without_jobs_cancels_nothing():
    clock, daemon = started()
    stopped = daemon.stopService()
    assert daemon.events == ["catalog closed"] and stopped.called


def test_spawned_work_delays_the_catalog_close_up_to_the_bound():
    clock, daemon = started()
    pending, late = defer.Deferred(), defer.Deferred()
    daemon.spawn(pending, "a catalog write")
    daemon.spawn(late, "a stuck write")
    stopped = daemon.stopService()
    pending.callback(None)
    assert daemon.events == []
    clock.advance(CLOSE_TIMEOUT)
    assert daemon.events == ["catalog closed"] and stopped.called


def test_a_failed_spawn_is_logged_not_left_unhandled(capture_failures):
    clock, daemon = started()
    daemon.spawn(defer.fail(RuntimeError("boom")), "Storing a job message")
    assert capture_failures == [("Storing a job message failed", "boom")]


@pytest.fixture
def capture_failures():
    from twisted.logger import globalLogPublisher
    seen = []

    def observer(event):
        if "log_failure" in event:
            seen.append((event["log_format"].format(**event), event["log_failure"].getErrorMessage()))
    globalLogPublisher.addObserver(observer)
    yield seen
    globalLogPublisher.removeObserver(observer)
