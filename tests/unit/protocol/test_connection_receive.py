"""BareosConnection.receive / receive_many over a StringTransport (no reactor)."""

from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport

from bareos.protocol.connection import BareosConnection, ConnectionClosed
from bareos.protocol.framing import Signal, encode_message, encode_signal


def connection():
    conn = BareosConnection(clock=Clock())
    conn.makeConnection(StringTransport())
    return conn


def result_of(d):
    out = []
    d.addBoth(out.append)
    assert out, "the Deferred has not fired"
    return out[0]


def test_receive_many_takes_everything_queued():
    conn = connection()
    conn.dataReceived(encode_message(b"one") + encode_message(b"two") + encode_signal(Signal.EOD))
    assert result_of(conn.receive_many()) == [b"one", b"two", Signal.EOD]
    assert not conn.has_pending_packets()


def test_receive_many_waits_for_the_next_packet():
    conn = connection()
    d = conn.receive_many()
    assert not d.called
    conn.dataReceived(encode_message(b"a") + encode_message(b"b"))
    assert result_of(d) == [b"a"]
    assert result_of(conn.receive_many()) == [b"b"]


def test_receive_many_resumes_a_paused_transport():
    conn = connection()
    conn.high_water_bytes = 10
    conn.dataReceived(encode_message(b"x" * 20))
    assert conn.transport.producerState == "paused"
    assert result_of(conn.receive_many()) == [b"x" * 20]
    assert conn.transport.producerState == "producing"


def test_receive_many_and_receive_share_one_order():
    conn = connection()
    conn.dataReceived(b"".join(encode_message(b"%d" % i) for i in range(5)))
    assert result_of(conn.receive()) == b"0"
    assert result_of(conn.receive_many()) == [b"1", b"2", b"3", b"4"]


def test_receive_many_after_close_fails():
    conn = connection()
    conn.connectionLost(None)
    failure = result_of(conn.receive_many())
    assert failure.check(ConnectionClosed)
