"""Listening on the configured addresses, and the daemon service skeleton."""

import functools
import os
import platform
import time

from twisted.application import service
from twisted.application.internet import StreamServerEndpointService
from twisted.internet import endpoints
from twisted.internet.protocol import Factory
from twisted.logger import Logger

import bareos
from bareos.protocol import conversation, handshake
from bareos.protocol.admission import AdmissionControl, AdmissionLimits
from bareos.protocol.connection import (
    BareosConnection, ConnectionClosed, InvalidPacketStream, ReceiveTimeout,
    SniffingServerFactory)
from bareos.protocol.hello import HelloError, parse_hello
from bareos.protocol.handshake import defer_coroutine
from bareos.protocol.tls import PskServerContextFactory

HELLO_TIMEOUT = 30


def listening_endpoint(reactor, host, port):
    if ":" in (host or ""):
        return endpoints.TCP6ServerEndpoint(reactor, port, interface=host)
    return endpoints.TCP4ServerEndpoint(reactor, port, interface=host or "0.0.0.0")


class Daemon(service.MultiService):
    """A daemon: listens where the config says and runs ``handle_connection`` per peer.

    Subclasses implement ``hello_handlers()`` and ``psk_key(resource_type, name)``,
    set ``log`` and ``resource`` (their own resource: Director, Client or Storage) before
    they listen, and may raise ``minimum_connections()``.
    """

    log = Logger(namespace="bareos")

    def __init__(self, config, reactor=None):
        super().__init__()
        if reactor is None:
            from twisted.internet import reactor
        self.reactor = reactor
        self.config = config
        self.started_at = time.time()
        self.connections = set()
        self.listening_ports = []

    def listen(self, addresses):
        factory = SniffingServerFactory(
            Factory.forProtocol(lambda: BareosConnection(self.reactor, self._accepted)),
            PskServerContextFactory(self.psk_key),
            clock=self.reactor, admission=self.admission)
        for host, port in addresses:
            svc = StreamServerEndpointService(listening_endpoint(self.reactor, host, port), factory)
            svc._raiseSynchronously = True  # refuse to start when the port is taken
            svc.setServiceParent(self)

    @functools.cached_property
    def admission(self):
        """One AdmissionControl for all the daemon's listening ports."""
        return AdmissionControl(self.admission_limits(), self.reactor, self.name)

    def admission_limits(self):
        res = self.resource
        return AdmissionLimits(
            max_connections=max(res.maximum_connections, self.minimum_connections()),
            max_waiting=res.maximum_waiting_connections,
            max_unauthenticated=res.maximum_unauthenticated_connections,
            max_unauthenticated_per_address=res.maximum_unauthenticated_connections_per_address,
            max_failed_logins_per_address=res.maximum_failed_logins_per_address,
            failed_login_window=res.failed_login_window)

    def minimum_connections(self):
        """``Maximum Connections`` is raised to this (Bareos' rule, which differs per daemon)."""
        return 1

    def startService(self):
        for warning in self.config.warnings:
            self.log.warn("Configuration: {warning}", warning=warning)
        failure_delay = handshake.shorten_failure_delay_for_tests(os.environ)
        if failure_delay is not None:
            self.log.warn("{variable} is set: failed logins are refused after {delay:g} s instead "
                          "of {default:g} s. This is meant for tests only.",
                          variable=handshake.TEST_FAILURE_DELAY_ENV, delay=failure_delay,
                          default=conversation.FAILURE_DELAY)
        super().startService()
        self.log.info("{name} {version} started", name=self.name, version=bareos.VERSION)

    def stopService(self):
        self.log.info("{name} stopping", name=self.name)
        for conn in list(self.connections):
            conn.close()
        return super().stopService()

    def _accepted(self, conn):
        self.connections.add(conn)
        conn.closed.addBoth(lambda _: self.connections.discard(conn))
        if conn.admission is not None:
            conn.admission.session_started()
        d = defer_coroutine(self.handle_connection(conn))
        d.addErrback(self._session_failed, conn)
        if conn.admission is not None:
            d.addBoth(lambda _: conn.admission.session_ended())

    def _session_failed(self, failure, conn):
        self.log.failure("Session with {peer} failed", failure, peer=conn.peer_text())
        conn.close(terminate=False)

    async def handle_connection(self, conn):
        """Read the hello and hand the connection to whoever serves that kind of peer.

        A peer whose connection closes, during authentication or later, ends its
        session: that is never a failure of ours, and gets one log line.
        """
        try:
            hello = parse_hello(await conn.receive(timeout=HELLO_TIMEOUT))
        except InvalidPacketStream:
            return                                  # closed and logged by the connection
        except (HelloError, ReceiveTimeout, ConnectionClosed) as exc:
            self.log.warn("Connection from {peer} refused: {reason}",
                          peer=conn.peer_text(), reason=exc)
            conn.close()
            return
        serve = self.hello_handlers().get(hello.kind)
        if serve is None:
            self.log.warn("Connection from {peer} refused: {name} does not accept {kind} "
                          "connections", peer=conn.peer_text(), name=self.name,
                          kind=hello.kind.value)
            conn.close()
            return
        try:
            await serve(conn, hello)
        except InvalidPacketStream:
            pass                                    # closed and logged by the connection
        except ConnectionClosed as exc:
            self.log.info("Connection from {peer} ({kind} {name}) ended: {reason}",
                          peer=conn.peer_text(), kind=hello.kind.value, name=hello.name,
                          reason=exc)

    def hello_handlers(self):
        """``{HelloKind: coroutine function(conn, hello)}`` for the peers this daemon serves."""
        raise NotImplementedError

    def psk_key(self, resource_type, name):
        raise NotImplementedError


def os_info():
    return f"{platform.system().lower()} {platform.release()}"


def format_datetime(timestamp):
    """Bareos' short timestamp, e.g. ``26-Nov-26 05:39``."""
    return time.strftime("%d-%b-%y %H:%M", time.localtime(timestamp))
