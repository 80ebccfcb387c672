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


def test_a_waiting_receive_many_gets_everything_one_read_brought():
    conn = connection()
    d = conn.receive_many()
    assert not d.called
    conn.dataReceived(encode_message(b"a") + encode_message(b"b") + encode_signal(Signal.EOD))
    assert result_of(d) == [b"a", b"b", Signal.EOD]  # one wake-up for the read, not three
    assert not conn.has_pending_packets()


def test_a_waiting_receive_gets_one_packet_and_the_rest_stays_queued():
    conn = connection()
    first, many = conn.receive(), conn.receive_many()
    conn.dataReceived(b"".join(encode_message(b"%d" % i) for i in range(4)))
    assert result_of(first) == b"0"
    assert result_of(many) == [b"1", b"2", b"3"]


def test_a_receiver_woken_by_a_read_can_receive_the_rest_of_it_at_once():
    conn = connection()
    got = []

    def consume(packet):
        got.append(packet)
        got.append(result_of(conn.receive_many()))
    conn.receive().addCallback(consume)
    conn.dataReceived(encode_message(b"header") + encode_message(b"data") + encode_message(b"more"))
    assert got == [b"header", [b"data", b"more"]]


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


def test_a_heartbeat_after_a_packet_reaches_the_handler_that_packet_installed():
    # a director puts a client in its waiting pool (and starts answering its heartbeats)
    # when the client's hello arrives; the first heartbeat may come in the same read
    conn = connection()
    heartbeats = []

    def greeted(packet):
        conn.on_heartbeat = lambda: heartbeats.append(packet)
    conn.receive().addCallback(greeted)
    conn.dataReceived(encode_message(b"hello") + encode_signal(Signal.HEARTBEAT))
    assert heartbeats == [b"hello"]
    assert not conn.has_pending_packets()  # heartbeats are never queued


def test_closing_a_paused_connection_resumes_it_so_the_close_can_complete():
    # Under TLS the close waits for the peer's close alert, which a paused transport
    # never reads (issue 17 item 9); what the peer still sends is dropped.
    conn = connection()
    conn.high_water_bytes = 10
    conn.dataReceived(encode_message(b"x" * 20))
    assert conn.transport.producerState == "paused"
    conn.close()
    assert conn.transport.producerState == "producing" and conn.transport.disconnecting
    conn.dataReceived(encode_message(b"after the close"))
    assert conn.has_pending_packets() and result_of(conn.receive()) == b"x" * 20
    assert isinstance(result_of(conn.receive()).value, ConnectionClosed)


class AbortRecordingTransport(StringTransport):
    aborted = False

    def abortConnection(self):
        self.aborted = True


def test_close_with_abort_after_aborts_a_peer_that_does_not_take_the_rest():
    conn = BareosConnection(clock=Clock())
    conn.makeConnection(AbortRecordingTransport())
    conn.close(abort_after=10)
    conn.clock.advance(9)
    assert not conn.transport.aborted
    conn.clock.advance(1)
    assert conn.transport.aborted


def test_close_with_abort_after_leaves_a_connection_that_closed_in_time():
    conn = BareosConnection(clock=Clock())
    conn.makeConnection(AbortRecordingTransport())
    conn.close(abort_after=10)
    conn.connectionLost()
    conn.clock.advance(10)
    assert not conn.transport.aborted and not conn.clock.getDelayedCalls()


def test_a_connection_closed_earlier_is_bounded_by_a_later_close_with_abort_after():
    conn = BareosConnection(clock=Clock())
    conn.makeConnection(AbortRecordingTransport())
    conn.close()                                  # e.g. the job ended; the peer still reads
    conn.close(abort_after=2)                     # the file daemon's cancel: no longer than 2 s
    assert conn.transport.value().count(encode_signal(Signal.TERMINATE)) == 1
    conn.clock.advance(2)
    assert conn.transport.aborted
