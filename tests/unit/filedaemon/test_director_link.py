"""The client-initiated director link on an injected Clock: backoff, heartbeats, hand-off."""

import types

import pytest
from twisted.internet import defer, error
from twisted.internet.task import Clock

from bareos.config import parse_config_text
from bareos.config.schemas import FILEDAEMON
from bareos.filedaemon.director_link import (
    DEFAULT_HEARTBEAT, REPORT_EVERY, DirectorLink, LinkFailed, LinkState, client_initiated_directors)
from bareos.protocol.connection import ConnectionClosed
from bareos.protocol.framing import Signal


# -- fakes ----------------------------------------------------------------------------------------

class FakeConn:
    """What the link uses of a BareosConnection."""

    def __init__(self, clock):
        self.clock = clock
        self.signals = []
        self.sent = []
        self.is_open = True
        self.last_received_at = None
        self.transport = None
        self.abort_reason = None
        self._waiter = None

    def receive(self, timeout=None):
        self._waiter = defer.Deferred()
        if not self.is_open:
            waiter, self._waiter = self._waiter, None
            waiter.errback(ConnectionClosed("closed"))
        return self._waiter if self._waiter is not None else defer.fail(ConnectionClosed("closed"))

    def send(self, data):
        self.sent.append(data)

    def send_signal(self, signal):
        self.signals.append(signal)

    def deliver(self, packet):
        self.last_received_at = self.clock.seconds()
        if packet in (Signal.HEARTBEAT, Signal.HB_RESPONSE):
            return
        waiter, self._waiter = self._waiter, None
        waiter.callback(packet)

    def lose(self, reason="connection closed by peer"):
        self.is_open = False
        if self._waiter is not None:
            waiter, self._waiter = self._waiter, None
            waiter.errback(ConnectionClosed(reason))

    def close(self, terminate=True):
        self.lose("closed by us")

    def abort(self, reason):
        self.abort_reason = reason
        self.lose(reason)


class Harness:
    """A link with a Clock, a scripted connect and a recording hand-off."""

    CONFIG = """
Client {{ Name = fd1; Heartbeat Interval = {heartbeat}; Reconnect Min Interval = 1;
         Reconnect Max Interval = 16; Reconnect Jitter Percent = {jitter} }}
Director {{ Name = dir1; Address = 127.0.0.1; Port = 9101; Password = pw;
           Connection From Client To Director = yes; Connection From Director To Client = no
           {extra} }}
"""

    def __init__(self, heartbeat=10, jitter=0, extra=""):
        self.clock = Clock()
        config = parse_config_text(self.CONFIG.format(heartbeat=heartbeat, jitter=jitter,
                                                      extra=extra), FILEDAEMON)
        self.messages = []
        self.daemon = types.SimpleNamespace(
            name="fd1", reactor=self.clock, resource=config.only("client"),
            messages=types.SimpleNamespace(
                daemon_message=lambda kind, text: self.messages.append((kind, text))))
        self.attempts = []          # Deferreds of connect attempts, in order
        self.served = []            # (conn, director, first packet)
        self.link = DirectorLink(self.daemon, client_initiated_directors(config)[0],
                                 clock=self.clock, connect=self.connect, serve=self.serve,
                                 rand=lambda: 0.5)

    def connect(self, link):
        attempt = defer.Deferred()
        self.attempts.append(attempt)
        return attempt

    async def serve(self, conn, director, first_packet):
        self.served.append((conn, director, first_packet))

    def connect_ok(self):
        conn = FakeConn(self.clock)
        self.attempts[-1].callback(conn)
        return conn

    def refuse(self):
        self.attempts[-1].errback(error.ConnectionRefusedError("Connection refused"))


@pytest.fixture
def harness():
    h = Harness()
    h.link.startService()
    yield h
    h.link.stopService()


# -- connecting and backoff -----------------------------------------------------------------------

def test_connects_at_start_and_waits(harness):
    assert len(harness.attempts) == 1
    harness.connect_ok()
    assert harness.link.state is LinkState.WAITING
    assert harness.link.connections == 1


def test_refusals_back_off_exponentially_up_to_the_maximum():
    h = Harness(jitter=0)
    h.link.startService()
    waits = []
    for _ in range(7):
        h.refuse()
        assert h.link.state is LinkState.RETRYING
        waits.append(h.link.next_attempt_at - h.clock.seconds())
        attempts_before = len(h.attempts)
        h.clock.advance(waits[-1] * 0.99)
        assert len(h.attempts) == attempts_before
        h.clock.advance(waits[-1] * 0.01)
        assert len(h.attempts) == attempts_before + 1
    assert waits == [1, 2, 4, 8, 16, 16, 16]
    h.link.stopService()


def test_jitter_spreads_the_waits_below_the_bound():
    h = Harness(jitter=50)
    h.link.startService()
    for _ in range(6):
        h.refuse()
        wait = h.link.next_attempt_at - h.clock.seconds()
        h.clock.advance(wait)
    assert wait == 16 * (1 - 0.5 * 0.5)           # rand() = 0.5, jitter 50 %
    h.link.stopService()


def test_a_good_connection_resets_the_backoff(harness):
    for _ in range(4):
        harness.refuse()
        harness.clock.advance(harness.link.next_attempt_at - harness.clock.seconds())
    conn = harness.connect_ok()
    assert harness.link.failures == 4                 # not yet: it has to prove itself
    for _ in range(2):                                # the director answers two heartbeats
        harness.clock.advance(1)
        conn.deliver(Signal.HB_RESPONSE)
        harness.clock.advance(9)
    conn.lose()                                       # a director restart after 20 s of waiting
    assert harness.link.failures == 0
    assert harness.messages[-1] == ("warning", "waiting connection to Director dir1 lost: "
                                               "connection closed by peer. Reconnecting.")
    attempts = len(harness.attempts)
    harness.clock.advance(0.5 - 0.01)                 # replaced within Reconnect Min Interval:
    assert len(harness.attempts) == attempts          # rand() = 0.5 of its 1 s
    harness.clock.advance(0.01)
    assert len(harness.attempts) == attempts + 1
    harness.refuse()                                  # the director is down: back off from here
    assert harness.link.next_attempt_at - harness.clock.seconds() == 1


def test_clients_losing_their_director_together_do_not_all_dial_in_the_same_instant():
    retries = []
    for rand in (0.0, 0.3, 0.9):                  # three clients of one director
        h = Harness()
        h.link._rand = lambda rand=rand: rand
        h.link.startService()
        conn = h.connect_ok()
        h.clock.advance(1)
        conn.deliver(Signal.HB_RESPONSE)
        h.clock.advance(9)                        # it proved itself
        conn.lose()                               # the director stopped
        retries.append(h.link.next_attempt_at - h.clock.seconds())
        h.link.stopService()
    assert retries == pytest.approx([0.0, 0.3, 0.9])   # spread over Reconnect Min Interval (1 s)


def test_a_connection_that_dies_at_once_keeps_backing_off(harness):
    harness.refuse()
    harness.clock.advance(1)
    conn = harness.connect_ok()
    conn.lose()
    assert harness.link.failures == 2
    assert harness.link.next_attempt_at - harness.clock.seconds() == 2


# -- heartbeats -------------------------------------------------------------------------------

def test_heartbeat_at_once_and_every_interval_while_answered(harness):
    conn = harness.connect_ok()
    assert conn.signals == [Signal.HEARTBEAT]
    for beat in range(2, 6):
        harness.clock.advance(0.1)
        conn.deliver(Signal.HB_RESPONSE)
        harness.clock.advance(9.9)
        assert conn.signals == [Signal.HEARTBEAT] * beat
    assert harness.link.state is LinkState.WAITING and conn.is_open


def test_unanswered_heartbeat_means_dead_within_half_an_interval(harness):
    conn = harness.connect_ok()
    harness.clock.advance(1)
    conn.deliver(Signal.HB_RESPONSE)
    harness.clock.advance(9)                          # second heartbeat, never answered
    assert len(conn.signals) == 2
    harness.clock.advance(4.9)
    assert conn.is_open
    harness.clock.advance(0.2)
    assert not conn.is_open
    assert "did not answer a heartbeat within 5 s" in conn.abort_reason
    harness.clock.advance(0.5)                        # it had proved itself: replaced soon
    assert len(harness.attempts) == 2
    assert harness.link.state is LinkState.CONNECTING


def test_a_young_connection_found_dead_counts_as_a_failure(harness):
    harness.connect_ok()
    harness.clock.advance(5.1)                        # the first heartbeat is never answered
    assert harness.link.failures == 1
    assert harness.link.next_attempt_at - harness.clock.seconds() == 1


def test_default_heartbeat_when_the_client_sets_none():
    h = Harness(heartbeat=0)
    assert h.link.heartbeat == DEFAULT_HEARTBEAT == 60
    assert h.link.answer_window == 30


def test_heartbeats_can_be_switched_off_for_a_bareos_director():
    h = Harness(extra="Heartbeat While Waiting = no")
    h.link.startService()
    conn = h.connect_ok()
    h.clock.advance(1000)
    assert conn.signals == [] and conn.is_open and h.link.state is LinkState.WAITING
    h.link.stopService()


# -- hand-off -------------------------------------------------------------------------------

def test_first_packet_hands_the_connection_over_and_a_new_one_is_dialled(harness):
    conn = harness.connect_ok()
    conn.deliver(b"JobId=7 Job=backup.2026-11-26_05.39.00_03 SDid=1 SDtime=1 Authorization=x\n")
    assert len(harness.served) == 1
    served_conn, director, first = harness.served[0]
    assert served_conn is conn and director.name == "dir1" and first.startswith(b"JobId=7")
    assert len(harness.attempts) == 2                 # at once, no delay
    assert harness.link.state is LinkState.CONNECTING and harness.link.taken == 1
    signals = len(conn.signals)
    harness.clock.advance(100)                        # the taken connection is not heartbeated
    assert len(conn.signals) == signals and conn.is_open


def test_stray_signals_do_not_take_the_connection(harness):
    conn = harness.connect_ok()
    conn.deliver(Signal.EOD)
    assert harness.served == [] and harness.link.state is LinkState.WAITING
    conn.deliver(b"status\n")
    assert [p for _, _, p in harness.served] == [b"status\n"]


def test_terminate_from_the_director_means_reconnect(harness):
    conn = harness.connect_ok()
    for _ in range(2):
        harness.clock.advance(1)
        conn.deliver(Signal.HB_RESPONSE)
        harness.clock.advance(9)
    conn.deliver(Signal.TERMINATE)
    assert not conn.is_open and harness.served == []
    assert harness.link.state is LinkState.RETRYING
    assert "closed the waiting connection" in harness.link.last_error
    assert harness.link.next_attempt_at == harness.clock.seconds() + 0.5   # it was a good one


def test_greeting_refused_is_a_failure(harness):
    harness.attempts[-1].errback(LinkFailed("Director dir1 refused us as a waiting client"))
    assert harness.link.state is LinkState.RETRYING
    assert harness.link.last_error == "Director dir1 refused us as a waiting client"


# -- messages and stopping --------------------------------------------------------------------

def test_failures_reach_the_messages_resource_sparingly(harness):
    for _ in range(2 * REPORT_EVERY):
        harness.refuse()
        harness.clock.advance(harness.link.next_attempt_at - harness.clock.seconds())
    errors = [text for kind, text in harness.messages if kind == "error"]
    assert len(errors) == 3                           # the 1st, the 10th and the 20th
    assert errors[0].startswith("Cannot keep a connection to Director dir1 at 127.0.0.1:9101: "
                                "Connection refused. Retrying in ")
    assert not any(".." in text for text in errors)
    assert "(failure 10 in a row)" in errors[1]
    harness.connect_ok()
    assert harness.messages[-1] == (
        "info", "Connection to Director dir1 at 127.0.0.1:9101 is back after 20 failed attempts.")


def test_stop_cancels_the_retry_and_closes_the_waiting_connection():
    h = Harness()
    h.link.startService()
    h.refuse()
    h.link.stopService()
    h.clock.advance(1000)
    assert len(h.attempts) == 1 and h.link.state is LinkState.STOPPED

    h = Harness()
    h.link.startService()
    conn = h.connect_ok()
    h.link.stopService()
    assert not conn.is_open
    h.clock.advance(1000)
    assert len(h.attempts) == 1 and h.clock.getDelayedCalls() == []


def test_stop_during_an_attempt_cancels_it():
    h = Harness()
    h.link.startService()
    attempt = h.attempts[0]
    h.link.stopService()
    assert attempt.called                             # cancelled
    attempt.addErrback(lambda f: f.trap(defer.CancelledError))
    assert h.clock.getDelayedCalls() == []


def test_status_line(harness):
    harness.refuse()
    line = harness.link.status_line(lambda t: "T")
    assert line == "dir1 at 127.0.0.1:9101: retry 1 in 1 s after: Connection refused"
    harness.clock.advance(1)
    harness.connect_ok()
    assert harness.link.status_line(lambda t: "T") == "dir1 at 127.0.0.1:9101: waiting since T, 0 taken"


def test_only_directors_allowing_it_are_dialled():
    config = parse_config_text(
        "Client { Name = fd }\n"
        "Director { Name = a; Password = p; Address = 127.0.0.1; Connection From Client To Director = yes }\n"
        "Director { Name = b; Password = p }\n", FILEDAEMON)
    assert [d.name for d in client_initiated_directors(config)] == ["a"]
    director = config.get("director", "a")
    assert (director.port, director.heartbeat_while_waiting) == (9101, True)
    assert config.only("client").reconnect_jitter_percent == 20
