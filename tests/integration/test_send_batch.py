"""datachannel.send_batch over real loopback TCP, cleartext and TLS-PSK: batches far larger
than the socket buffers arrive whole and in order, whether a batch went to the socket
directly (and partly to the transport), or wholly through the transport (behind data it
still held, or under TLS, where the socket must never see the plain bytes)."""

import random

import pytest
import pytest_twisted
from twisted.internet import defer, protocol, reactor, task
from twisted.internet.endpoints import TCP4ClientEndpoint, TCP4ServerEndpoint, wrapClientTLS

from bareos.filedaemon.datachannel import send_batch
from bareos.protocol.connection import SniffingServerFactory
from bareos.protocol.tls import PskClientContextFactory, PskServerContextFactory, psk_identity

KEY = b"5ebe2294ecd0e0f08eab7690d2a6ee69"
IDENTITY = psk_identity("R_JOB", "sendbatch.2026-01-01_00.00.00_01")


class Collector(protocol.Protocol):
    def __init__(self, expected, done):
        self.expected = expected
        self.chunks = []
        self.size = 0
        self.done = done

    def dataReceived(self, data):
        self.chunks.append(data)
        self.size += len(data)
        if self.size >= self.expected and not self.done.called:
            self.done.callback(b"".join(self.chunks))


def batch(rng, nbytes):
    """Packet-like pieces (4-byte headers, data of odd sizes) of about ``nbytes``."""
    parts = []
    while nbytes > 0:
        parts.append(rng.randbytes(4))
        size = rng.choice([65536, rng.randrange(1, 70000)])
        parts.append(rng.randbytes(size))
        nbytes -= size + 4
    return parts


@pytest.mark.parametrize("tls", [False, True], ids=["cleartext", "tls-psk"])
@pytest_twisted.ensureDeferred
async def test_batches_arrive_whole_and_in_order(tls):
    rng = random.Random(16)
    batches = [batch(rng, 12 << 20), batch(rng, 3 << 20), batch(rng, 1 << 20)]
    expected = b"".join(b"".join(parts) for parts in batches)
    done = defer.Deferred()
    factory = protocol.Factory.forProtocol(lambda: Collector(len(expected), done))
    if tls:  # (the sniffer would take the first cleartext bytes for a hello)
        factory = SniffingServerFactory(factory, PskServerContextFactory(lambda kind, name: KEY))
    port = await TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1").listen(factory)
    try:
        endpoint = TCP4ClientEndpoint(reactor, "127.0.0.1", port.getHost().port)
        if tls:
            endpoint = wrapClientTLS(PskClientContextFactory(IDENTITY, KEY), endpoint)
        sender = await endpoint.connect(protocol.Factory.forProtocol(protocol.Protocol))
        transport = sender.transport
        send_batch(transport, batches[0])    # more than the socket takes: the rest is buffered
        if not tls:
            assert transport.dataBuffer or transport._tempDataBuffer
        send_batch(transport, batches[1])    # behind buffered data: through the transport
        while transport.dataBuffer or transport._tempDataBuffer:
            await task.deferLater(reactor, 0.01, lambda: None)
        send_batch(transport, batches[2])    # the buffer has drained: to the socket again
        received = await done.addTimeout(60, reactor)
        assert len(received) == len(expected) and received == expected
        transport.loseConnection()
    finally:
        await port.stopListening()
