"""The one Twisted protocol of the suite: bytes in, Bareos messages out.

``BareosConnection`` turns the byte stream into packets (data ``bytes`` or
``Signal``) and hands them to conversations written as coroutines::

    packet = await conn.receive(timeout=30)
    conn.send(b"1000 OK auth\\n")

Packets queue up until somebody receives them; when too many are waiting the
transport is paused, which gives back-pressure all the way to the sender.

``SniffingServerFactory`` decides per accepted connection, from its first
bytes, whether the peer speaks cleartext (a hello packet) or starts TLS; before
that, its ``AdmissionControl`` decides whether the connection is served now, waits for
its turn, or is refused.
"""

from __future__ import annotations

import collections
import typing
from typing import Any, Callable, Optional, cast

from twisted.internet import defer, error, interfaces, protocol
from twisted.internet.interfaces import IAddress, IDelayedCall, IReactorTime
from twisted.logger import Logger
from twisted.protocols.tls import TLSMemoryBIOFactory
from twisted.python.failure import Failure

from bareos.protocol import framing
from bareos.protocol.admission import Admission, AdmissionControl
from bareos.protocol.framing import Packet, Signal

_SKIPPED_SIGNALS = (Signal.HEARTBEAT, Signal.HB_RESPONSE)


class ConnectionClosed(Exception):
    """The peer closed the connection (or we did) while a packet was awaited."""


class InvalidPacketStream(ConnectionClosed):
    """We closed the connection because the peer's bytes are not a Bareos packet
    stream (e.g. an oversized length).  The connection has logged the peer and the
    reason; whoever receives this should not log it again."""


class ReceiveTimeout(Exception):
    """No packet arrived in time."""


class _Transport(typing.Protocol):
    """What we use of a transport: TCP, or TLS over TCP."""

    def write(self, data: bytes) -> None: ...
    def loseConnection(self) -> None: ...
    def abortConnection(self) -> None: ...
    def getPeer(self) -> IAddress: ...
    def pauseProducing(self) -> None: ...
    def resumeProducing(self) -> None: ...


class BareosConnection(protocol.Protocol):
    """Packets in, packets out; see the module docstring."""

    # Twisted declares Optional[ITransport]; we use it while connected, and need more of it.
    transport: _Transport  # type: ignore[assignment]
    log = Logger(namespace="bareos.protocol")
    # Pause the transport above this many queued bytes, resume below a quarter of it.
    high_water_bytes = 4 * 1024 * 1024

    def __init__(self, clock: Optional[IReactorTime] = None,
                 on_connect: Optional[Callable[["BareosConnection"], object]] = None) -> None:
        self._decoder = framing.PacketDecoder()
        self._queue: collections.deque[Packet] = collections.deque()
        self._queued_bytes = 0
        self._waiters: collections.deque[tuple[defer.Deferred[Any], bool]] = collections.deque()
        self._paused = False
        self._closed_reason: Optional[str] = None
        self._closed_error: type[ConnectionClosed] = ConnectionClosed     # what receivers get once it is closed
        self._on_connect = on_connect
        self.clock = clock
        self.connected_at: Optional[float] = None
        self.last_received_at: Optional[float] = None
        self.closed: defer.Deferred[str] = defer.Deferred()
        # Called (no arguments) for each BNET_HEARTBEAT the peer sends; heartbeats are
        # never queued.  A director sets it on waiting client-initiated connections.
        self.on_heartbeat: Optional[Callable[[], object]] = None
        # The listening daemon's claim for this connection (see ``admission``); None for
        # connections we dialled.
        self.admission: Optional[Admission] = None

    # -- Twisted side --------------------------------------------------------

    def connectionMade(self) -> None:
        self.connected_at = self._now()
        if self._on_connect is not None:
            self._on_connect(self)

    def dataReceived(self, data: bytes) -> None:
        if self._closed_reason is not None:
            return
        self.last_received_at = self._now()
        try:
            packets = self._decoder.feed(data)
        except framing.FramingError as exc:
            self.log.warn("Closing connection from {peer}: {reason}",
                          peer=self.peer_text(), reason=exc)
            self._closed_error = InvalidPacketStream
            self.abort(str(exc))
            return
        queue = self._queue
        nbytes = 0
        for packet in packets:
            if packet.__class__ is bytes:
                nbytes += len(packet)
            elif packet in _SKIPPED_SIGNALS:
                if packet == Signal.HEARTBEAT:
                    # the packets before it go to their receiver first: that may be the
                    # conversation that installs on_heartbeat
                    self._queued_bytes += nbytes
                    nbytes = 0
                    self._deliver()
                    if self.on_heartbeat is not None:
                        self.on_heartbeat()
                continue
            else:
                nbytes += 4
            queue.append(packet)
        self._queued_bytes += nbytes
        # Everything this read brought is queued before any receiver runs: a bulk
        # receiver gets it in one list, not one packet (and one Deferred) at a time.
        self._deliver()
        if self._queued_bytes > self.high_water_bytes and not self._paused:
            self._paused = True
            self.transport.pauseProducing()

    def _deliver(self) -> None:
        """Hand queued packets to waiting receivers, in order: one packet to a
        ``receive()``, all of them to a ``receive_many()``."""
        waiters, queue = self._waiters, self._queue
        while waiters and queue:
            waiter, many = waiters.popleft()
            if many:
                packets = list(queue)
                queue.clear()
                self._queued_bytes = 0
                waiter.callback(packets)
            else:
                packet = queue.popleft()
                self._queued_bytes -= _size(packet)
                waiter.callback(packet)

    def connectionLost(self, reason: Failure = protocol.connectionDone) -> None:
        if self._closed_reason is None:
            self._closed_reason = _describe(reason)
        while self._waiters:
            self._waiters.popleft()[0].errback(self._closed_error(self._closed_reason))
        if not self.closed.called:
            self.closed.callback(self._closed_reason)

    # -- conversation side ---------------------------------------------------

    def receive(self, timeout: Optional[float] = None) -> "defer.Deferred[Packet]":
        """A Deferred firing with the next packet (bytes, or a Signal / int)."""
        if self._queue:
            packet = self._queue.popleft()
            self._queued_bytes -= _size(packet)
            if self._paused and self._queued_bytes < self.high_water_bytes // 4:
                self._paused = False
                self.transport.resumeProducing()
            return defer.succeed(packet)
        return self._wait(timeout, many=False)

    def _wait(self, timeout: Optional[float], many: bool) -> "defer.Deferred[Any]":
        if self._closed_reason is not None:
            return defer.fail(self._closed_error(self._closed_reason))
        waiter: defer.Deferred[Any] = defer.Deferred(lambda d: self._waiters.remove((d, many)))
        self._waiters.append((waiter, many))
        if timeout is not None:
            waiter.addTimeout(timeout, self._clock())
            waiter.addErrback(_translate_timeout, timeout)
        return waiter

    def receive_many(self, timeout: Optional[float] = None) -> "defer.Deferred[list[Packet]]":
        """A Deferred firing with a non-empty list of packets: all those queued now,
        or (when none is queued) all those the next read brings.

        For bulk consumers (data channels): one Deferred per batch instead of one
        per packet.  Same errors as :meth:`receive`.
        """
        queue = self._queue
        if queue:
            packets = list(queue)
            queue.clear()
            self._queued_bytes = 0
            if self._paused:
                self._paused = False
                self.transport.resumeProducing()
            return defer.succeed(packets)
        return self._wait(timeout, many=True)

    def unreceive(self, packets: list[Packet]) -> None:
        """Put *packets* back in front of the queue, in order (a batch consumer that
        took packets past the end of its part of the conversation)."""
        for packet in reversed(packets):
            self._queue.appendleft(packet)
            self._queued_bytes += _size(packet)

    def send(self, payload: bytes | str) -> None:
        """Send a message (bytes or str), split into packets if long.

        A str goes out as UTF-8; bytes that came in undecodable and were kept as
        surrogateescape code points (file names that are not UTF-8) go out as they came."""
        if isinstance(payload, str):
            payload = payload.encode("utf-8", "surrogateescape")
        if self._closed_reason is None:
            self.transport.write(framing.encode_message(payload))

    def send_signal(self, signal: int) -> None:
        if self._closed_reason is None:
            self.transport.write(framing.encode_signal(signal))

    def close(self, terminate: bool = True, abort_after: Optional[float] = None) -> None:
        """End the conversation politely: TERMINATE, then close after the write.

        ``abort_after``: seconds after which the connection is aborted (``abort``) if the
        peer has not taken the rest by then (a data channel whose job is over); also for a
        connection we closed before without a bound."""
        if self._closed_reason is None:
            if terminate:
                self.send_signal(Signal.TERMINATE)
            self._closed_reason = "closed by us"
            self._lose_connection()
        if abort_after is not None and self.transport is not None and not self.closed.called:
            call = self._clock().callLater(
                abort_after, self.abort, f"the peer did not take the rest within {abort_after:g} s")

            def cancel_abort(result: str) -> str:
                if call.active():
                    call.cancel()
                return result
            self.closed.addBoth(cancel_abort)

    def abort(self, reason: str) -> None:
        """Drop the connection now (a peer that is gone or misbehaves): output still
        buffered is discarded, not sent first; receivers fail with ``reason``."""
        if self._closed_reason is None:
            self._closed_reason = reason
        if not self.closed.called:
            # also under TLS: TLSMemoryBIOProtocol aborts the TCP transport below it
            self.transport.abortConnection()
        while self._waiters:
            self._waiters.popleft()[0].errback(self._closed_error(reason))

    def _lose_connection(self) -> None:
        # A transport paused for back-pressure is resumed first: what the peer still sends
        # is read and dropped (dataReceived), so the close can complete.  Left paused, a
        # TLS close waited for ever for the peer's close alert, and a peer blocked writing
        # to us never got to send it (issue 17 item 9: FD and SD both stuck after the SD
        # failed a job on a full disk).
        if self._paused:
            self._paused = False
            self.transport.resumeProducing()
        self.transport.loseConnection()

    def has_pending_packets(self) -> bool:
        """True if packets arrived that nobody has received yet."""
        return bool(self._queue)

    @property
    def is_tls(self) -> bool:
        return interfaces.ISSLTransport.providedBy(self.transport)

    @property
    def is_open(self) -> bool:
        return self._closed_reason is None

    def peer_host(self) -> str:
        peer = self.transport.getPeer()
        return getattr(peer, "host", str(peer))

    def peer_text(self) -> str:
        peer = self.transport.getPeer()
        host, port = getattr(peer, "host", None), getattr(peer, "port", None)
        return f"{host}:{port}" if host is not None else str(peer)

    def _clock(self) -> IReactorTime:
        if self.clock is None:
            from twisted.internet import reactor
            self.clock = reactor
        return self.clock

    def _now(self) -> float:
        return self._clock().seconds()


def _size(packet: Packet) -> int:
    return len(packet) if isinstance(packet, bytes) else 4


def _describe(reason: Optional[Failure]) -> str:
    if reason is None or reason.check(error.ConnectionDone):
        return "connection closed by peer"
    return failure_reason(cast(BaseException, reason.value))


def failure_reason(exc: BaseException) -> str:
    """An exception as a clause for log lines and job messages.

    Twisted's network errors end with a full stop ("...: Connection refused."),
    and the sentences a reason is put in add their own: it is dropped here.
    """
    return str(exc).strip().rstrip(".").rstrip() or type(exc).__name__


def _translate_timeout(failure: Failure, timeout: float) -> None:
    failure.trap(defer.TimeoutError)
    raise ReceiveTimeout(f"no answer within {timeout:g} seconds")


class _Sniffer(protocol.Protocol):
    """Buffers the first bytes of an accepted connection, then hands over.

    Bytes 4..10 of a cleartext connection read ``Hello `` (after the length
    header of the hello packet); anything else is taken as a TLS ClientHello.

    A connection that waits for its turn (over Maximum Connections, see ``admission``)
    is read but not processed: its bytes are kept, so that a peer hanging up is seen
    and leaves the queue, up to ``_WAITING_BUFFER_BYTES``; above that it is no longer
    read until its turn (TCP then holds the peer back).
    """

    _SNIFF_BYTES = 10
    _WAITING_BUFFER_BYTES = 16 * 1024     # a hello, or a TLS ClientHello, fits
    transport: _Transport  # type: ignore[assignment]

    def __init__(self, factory: "SniffingServerFactory", addr: Optional[IAddress],
                 admission: Optional[Admission]) -> None:
        self._factory = factory
        self._addr = addr
        self._admission = admission
        self._buffer = b""
        self._inner: Optional[interfaces.IProtocol] = None
        self._timeout: Optional[IDelayedCall] = None
        self._waiting = admission is not None and admission.waiting
        if admission is not None and self._waiting:
            admission.wait_for_turn(self._let_in, self._refused_after_waiting)

    def connectionMade(self) -> None:
        if not self._waiting:
            self._start_timeout()

    def dataReceived(self, data: bytes) -> None:
        if self._inner is not None:
            self._inner.dataReceived(data)
            return
        self._buffer += data
        if self._waiting:
            if len(self._buffer) > self._WAITING_BUFFER_BYTES:
                self.transport.pauseProducing()
            return
        self._sniff()

    def _let_in(self) -> None:
        self._waiting = False
        self.transport.resumeProducing()
        self._start_timeout()
        self._sniff()

    def _refused_after_waiting(self) -> None:
        self.transport.loseConnection()

    def _start_timeout(self) -> None:
        self._timeout = self._factory.clock.callLater(
            self._factory.sniff_timeout, self.transport.abortConnection)

    def _sniff(self) -> None:
        if len(self._buffer) < self._SNIFF_BYTES:
            return
        self._cancel_timeout()
        buffered, self._buffer = self._buffer, b""
        factory: protocol.Factory[Any]
        if buffered[4:10] == b"Hello ":
            factory = self._factory.wrapped
        elif self._factory.tls is not None:
            factory = self._factory.tls
        else:
            self._factory.log.warn("Refusing TLS from {peer}: no TLS configured", peer=self._addr)
            self.transport.loseConnection()
            return
        inner = factory.buildProtocol(self._addr)
        if inner is None:  # the factory refuses the connection
            self.transport.loseConnection()
            return
        self._inner = inner
        # The BareosConnection itself, or the one a TLS layer wraps
        connection = cast(BareosConnection, getattr(inner, "wrappedProtocol", inner))
        connection.admission = self._admission
        inner.makeConnection(cast(interfaces.ITransport, self.transport))
        inner.dataReceived(buffered)

    def connectionLost(self, reason: Failure = protocol.connectionDone) -> None:
        self._cancel_timeout()
        if self._inner is not None:
            self._inner.connectionLost(reason)
        if self._admission is not None:
            self._admission.connection_closed()

    def _cancel_timeout(self) -> None:
        if self._timeout is not None and self._timeout.active():
            self._timeout.cancel()
        self._timeout = None


class SniffingServerFactory(protocol.Factory):
    """Accepts cleartext and TLS on one port, as every Bareos daemon does.

    ``wrapped`` builds the BareosConnection; ``tls_context`` (an
    IOpenSSLServerConnectionCreator, e.g. a PSK context factory) or None;
    ``admission`` makes connections over the daemon's limits wait or refuses them (None:
    serve all).
    """

    log = Logger(namespace="bareos.protocol")
    sniff_timeout = 30
    noisy = False

    def __init__(self, wrapped: protocol.Factory,
                 tls_context: Optional[interfaces.IOpenSSLServerConnectionCreator] = None,
                 clock: Optional[IReactorTime] = None,
                 admission: Optional[AdmissionControl] = None) -> None:
        self.wrapped = wrapped
        self.admission = admission
        self.use_tls(tls_context)
        if clock is None:
            from twisted.internet import reactor
            clock = reactor
        self.clock = clock

    def use_tls(self, tls_context: Optional[interfaces.IOpenSSLServerConnectionCreator]) -> None:
        """TLS for the connections accepted from now on (a reload's new settings)."""
        self.tls = TLSMemoryBIOFactory(tls_context, False, self.wrapped) if tls_context else None

    def buildProtocol(self, addr: Optional[IAddress]) -> Optional["_Sniffer"]:
        """A protocol for the connection from ``addr``, or None: refused, and Twisted
        closes the socket at once."""
        admission = None
        if self.admission is not None:
            admission = self.admission.admit(getattr(addr, "host", str(addr)))
            if admission is None:
                return None
        return _Sniffer(self, addr, admission)
