"""The director's pool of client-initiated connections, over StringTransport and a Clock."""

from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport

from bareos.director.client_connections import (
    CHECK_INTERVAL, DEFAULT_CLIENT_HEARTBEAT, ClientConnectionPool, WaitingConnection)
from bareos.protocol.connection import BareosConnection
from bareos.protocol.framing import Signal, encode_message, encode_signal


class AbortableTransport(StringTransport):
    aborted = False

    def abortConnection(self):
        self.aborted = True
        self.loseConnection()


def waiting(pool, clock, name="fd1", configured=0):
    conn = BareosConnection(clock=clock)
    conn.makeConnection(AbortableTransport())
    entry = WaitingConnection(name, conn, 54, configured)
    pool.add(entry)
    return entry


def beat(entry):
    entry.conn.dataReceived(encode_signal(Signal.HEARTBEAT))


def setup():
    clock = Clock()
    pool = ClientConnectionPool(clock)
    pool.startService()
    return clock, pool


def test_heartbeats_are_answered_while_waiting():
    clock, pool = setup()
    entry = waiting(pool, clock)
    beat(entry)
    assert entry.conn.transport.value() == encode_signal(Signal.HB_RESPONSE)
    assert entry.conn.has_pending_packets() is False


def test_a_taken_connection_is_no_longer_answered():
    clock, pool = setup()
    entry = waiting(pool, clock)
    assert pool.take("fd1") is entry
    beat(entry)
    assert entry.conn.transport.value() == b""


def test_a_client_that_never_heartbeats_is_kept_however_silent():
    clock, pool = setup()
    entry = waiting(pool, clock, configured=60)
    clock.pump([CHECK_INTERVAL] * int(1000 / CHECK_INTERVAL))   # 1000 s of silence (a Bareos FD waits so)
    assert pool.entries() == [entry]


def test_a_heartbeating_client_is_dropped_when_its_heartbeat_is_half_an_interval_late():
    clock, pool = setup()
    entry = waiting(pool, clock)
    for _ in range(4):                                # learns the rhythm: every 4 s
        beat(entry)
        clock.advance(4)
    assert entry.interval() == 4
    assert pool.entries() == [entry]
    clock.advance(2)                                  # 6 s since the last heartbeat
    assert pool.entries() == [entry]
    clock.advance(1)                                  # 7 s > 1.5 intervals
    assert entry.conn.transport.aborted and not entry.conn.is_open   # nobody had to look
    assert pool.entries() == []


def test_before_the_rhythm_is_known_the_configured_or_default_interval_applies():
    clock, pool = setup()
    entry = waiting(pool, clock, configured=10)
    beat(entry)
    assert entry.interval() == 10
    other = waiting(pool, clock, name="fd2")
    beat(other)
    assert other.interval() == DEFAULT_CLIENT_HEARTBEAT


def test_a_client_speaking_out_of_turn_or_closing_is_dropped():
    clock, pool = setup()
    talker = waiting(pool, clock, name="talker")
    closer = waiting(pool, clock, name="closer")
    keeper = waiting(pool, clock, name="keeper")
    talker.conn.dataReceived(encode_message(b"hello?"))
    closer.conn.connectionLost(None)
    assert pool.entries() == [keeper]


def test_newest_connection_first_and_waiters_served_by_the_next_one():
    clock, pool = setup()
    old, new = waiting(pool, clock), waiting(pool, clock)
    assert pool.take("fd1") is new
    assert pool.take("fd1") is old
    results = []
    pool.wait_for("fd1", 5).addCallback(results.append)
    arriving = waiting(pool, clock)
    assert results == [arriving]
    beat(arriving)                                    # handed to the job: not answered
    assert arriving.conn.transport.value() == b""
    pool.wait_for("fd1", 5).addCallback(results.append)
    clock.advance(5)
    assert results == [arriving, None]


def test_waiting_for_a_client_takes_the_connection_already_there():
    """One wait covers both: a connection that came while the caller was busy (dialling)
    is handed over at once, not left in the pool while the caller waits for the next."""
    clock, pool = setup()
    there = waiting(pool, clock)
    results = []
    pool.wait_for("fd1", 5).addCallback(results.append)
    assert results == [there]
    assert pool.entries() == []


def test_taking_a_clients_connection_looks_at_that_clients_connections_only():
    clock, pool = setup()
    others = [waiting(pool, clock, name=f"fd{n}") for n in range(2, 1002)]
    dead_other = others[0]
    dead_other.conn.dataReceived(encode_message(b"spoke out of turn"))   # dead, found so
    looked_at = []                                                       # at the next check
    entries = [waiting(pool, clock), waiting(pool, clock)]
    for entry in others + entries:
        entry.is_dead = lambda now, entry=entry: looked_at.append(entry) or \
            WaitingConnection.is_dead(entry, now)
    assert pool.take("fd1") is entries[1]             # the newest
    assert looked_at == [entries[1]]
    assert pool.take("fd1") is entries[0] and pool.take("fd1") is None
    assert dead_other in pool._waiting
    clock.advance(CHECK_INTERVAL)
    assert dead_other not in pool.entries() and len(pool.entries()) == 999
