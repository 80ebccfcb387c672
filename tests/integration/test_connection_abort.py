"""BareosConnection.abort over real loopback TCP, cleartext and TLS-PSK: the connection is
dropped at once, whatever output is still buffered for a peer that does not read."""

import pytest
import pytest_twisted
from twisted.internet import defer, error, protocol, reactor
from twisted.internet.endpoints import TCP4ClientEndpoint, TCP4ServerEndpoint, wrapClientTLS

from bareos.protocol.connection import BareosConnection, ConnectionClosed, SniffingServerFactory
from bareos.protocol.framing import MAX_MESSAGE_LEN
from bareos.protocol.tls import PskClientContextFactory, PskServerContextFactory, psk_identity

KEY = b"5ebe2294ecd0e0f08eab7690d2a6ee69"
IDENTITY = psk_identity("R_JOB", "abort.2026-01-01_00.00.00_01")
BULK = 32 * 1024 * 1024     # far more than the loopback socket buffers hold


class StalledPeer(protocol.Protocol):
    """Stops reading after its first bytes (and fires ``stalled`` with itself)."""

    def __init__(self, stalled):
        self.received = 0
        self.stalled = stalled
        self.lost = defer.Deferred()

    def dataReceived(self, data):
        self.received += len(data)
        if not self.stalled.called:
            self.transport.pauseProducing()
            self.stalled.callback(self)

    def connectionLost(self, reason):
        self.lost.callback(reason.value)


def within(d, seconds):
    """``d``, failed with TimeoutError if it has not fired after ``seconds`` (a hang)."""
    return d.addTimeout(seconds, reactor)


@pytest.mark.parametrize("tls", [False, True], ids=["cleartext", "tls-psk"])
@pytest_twisted.ensureDeferred
async def test_abort_drops_the_connection_without_sending_the_buffered_output(tls):
    stalled = defer.Deferred()
    server_tls = PskServerContextFactory(lambda kind, name: KEY) if tls else None
    factory = SniffingServerFactory(protocol.Factory.forProtocol(lambda: StalledPeer(stalled)), server_tls)
    port = await TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1").listen(factory)
    try:
        endpoint = TCP4ClientEndpoint(reactor, "127.0.0.1", port.getHost().port)
        if tls:
            endpoint = wrapClientTLS(PskClientContextFactory(IDENTITY, KEY), endpoint)
        conn = await endpoint.connect(protocol.Factory.forProtocol(BareosConnection))
        conn.send(b"Hello from a sender that will not be read")
        peer = await within(stalled, 10)

        chunk = b"x" * (MAX_MESSAGE_LEN - 4)
        for _ in range(BULK // len(chunk)):
            conn.send(chunk)
        waiting = conn.receive()
        conn.abort("test abort")

        assert await within(conn.closed, 10) == "test abort"
        with pytest.raises(ConnectionClosed, match="test abort"):
            await waiting
        assert not conn.is_open
        peer.transport.resumeProducing()
        ended = await within(peer.lost, 10)
        assert isinstance(ended, error.ConnectionLost)  # reset, not an orderly close
        assert peer.received < BULK  # the buffered output was dropped, not flushed
    finally:
        await port.stopListening()

