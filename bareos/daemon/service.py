"""The daemon service skeleton: listening, top-level work, and the orderly stop.

A daemon is a ``MultiService``.  Its first child, ``intake``, holds what brings in new
work: a listener per configured address (endpoint-string descriptions, as
``twisted.application.strports`` makes them), and the director's scheduler or the file
daemon's client-initiated director links.  The other children are what the work uses
(the director's catalog and client connection pool).

Stopping (SIGTERM, ``systemctl stop``, ``reactor.stop()``) goes in this order:

1. ``intake`` stops: no new connection, scheduled job or director link.
2. Running jobs are canceled, the way a ``cancel`` command cancels them, and the stop waits
   up to ``JOBS_STOP_TIMEOUT`` for them to end; the director records the end of every job
   in its catalog, also of one that did not end in time.
3. The remaining connections are closed, and the stop waits up to ``CLOSE_TIMEOUT`` for
   their sessions and for all other work started with ``spawn`` (e.g. job messages on
   their way to the catalog) to end; what is left is aborted.
4. The other children stop: the catalog closes.

So a stop takes at most ``JOBS_STOP_TIMEOUT + CLOSE_TIMEOUT`` seconds plus the catalog's
close, well within the 90 s systemd gives a unit (``TimeoutStopSec``) before it kills it.
"""

import functools
import os
import platform
import signal
import time

from twisted.application import service, strports
from twisted.internet import defer, endpoints
from twisted.internet.error import CannotListenError
from twisted.internet.protocol import Factory
from twisted.logger import Logger

import bareos
from bareos.config import ConfigError, load_config
from bareos.network import tls as network_tls
from bareos.protocol import conversation, handshake
from bareos.protocol.admission import AdmissionControl, AdmissionLimits
from bareos.protocol.connection import (
    BareosConnection, ConnectionClosed, InvalidPacketStream, ReceiveTimeout,
    SniffingServerFactory)
from bareos.protocol.hello import HelloError, parse_hello

HELLO_TIMEOUT = 30
# Seconds a stopping daemon gives its canceled jobs to end.  A director's cancel reaches
# each peer daemon with a fresh connection (seconds on a LAN, 15 s per peer at worst
# before it gives up), a file or storage daemon's cancel stops its threads and tells its
# director at once; 30 s covers both peers of a job answering slowly.
JOBS_STOP_TIMEOUT = 30
# Seconds a stopping daemon waits, after closing its connections, for their sessions and
# its other work to end before it aborts them (a peer that reads nothing keeps a closed
# connection's unsent data, and so the connection, alive for ever).
CLOSE_TIMEOUT = 5


def listen_description(host, port, backlog):
    """The endpoint-string description of a listening address: ``tcp6`` for an IPv6
    address (its colons escaped), else ``tcp``; host "" listens on all IPv4 interfaces.
    ``backlog``: connections the kernel completes and holds before we accept them."""
    if ":" in (host or ""):
        return f"tcp6:port={port}:backlog={backlog}:interface={endpoints.quoteStringArgument(host)}"
    return (f"tcp:port={port}:backlog={backlog}:"
            f"interface={endpoints.quoteStringArgument(host or '0.0.0.0')}")


class _PortsOf:
    """An endpoint wrapper keeping the ports it listens on, so the daemon can pause them."""

    def __init__(self, endpoint, ports):
        self._endpoint = endpoint
        self._ports = ports

    def listen(self, factory):
        return self._endpoint.listen(factory).addCallback(self._keep)

    def _keep(self, port):
        self._ports.append(port)
        return port


def when_all_fired(deferreds):
    """A Deferred firing (with None) once each of ``deferreds`` has fired; their own results
    pass on untouched, and none is cancelled if the caller gives up waiting."""
    deferreds = list(deferreds)
    if not deferreds:
        return defer.succeed(None)
    done = defer.Deferred()
    left = [len(deferreds)]

    def one_fired(result):
        left[0] -= 1
        if left[0] == 0:
            done.callback(None)
        return result
    for d in deferreds:
        d.addBoth(one_fired)
    return done


def within(d, seconds, clock):
    """A Deferred firing True when ``d`` fires within ``seconds``, else False; ``d`` is not
    cancelled (nor its result consumed: pass one made by ``when_all_fired``)."""
    outcome = defer.Deferred()
    timer = clock.callLater(seconds, outcome.callback, False)

    def fired(_):
        if timer.active():
            timer.cancel()
            outcome.callback(True)
    d.addBoth(fired)
    return outcome


class Daemon(service.MultiService):
    """A daemon: listens where the config says and runs ``handle_connection`` per peer.

    Subclasses implement ``hello_handlers()`` and ``psk_key(resource_type, name)``,
    set ``log`` and ``resource`` (their own resource: Director, Client or Storage) before
    they listen, may raise ``minimum_connections()``, and where they run jobs implement
    ``has_running_jobs()``, ``cancel_jobs(reason)`` and call ``check_idle()`` wherever a
    job ends.
    """

    log = Logger(namespace="bareos")
    schema = None               # the DaemonSchema of the daemon's configuration
    own_resource_type = None    # its own resource: "director", "client" or "storage"
    config_path = None          # what the configuration was read from (-c); reload reads it
    listener = None             # the SniffingServerFactory of its ports, if it listens

    def __init__(self, config, reactor=None):
        super().__init__()
        if reactor is None:
            from twisted.internet import reactor
        self.reactor = reactor
        self.config = config
        self.started_at = time.time()
        self.connections = set()
        self.intake = service.MultiService()
        self.intake.setServiceParent(self)
        self._work = set()              # Deferreds of spawn() not fired yet
        self._idle_waiters = []         # Deferreds of jobs_ended()

    def listen(self, addresses):
        self.listener = factory = SniffingServerFactory(
            Factory.forProtocol(lambda: BareosConnection(self.reactor, self._accepted)),
            self.server_tls(self.resource), clock=self.reactor, admission=self.admission)
        ports = []
        # While the admission queue is full the ports are not read: new connections wait
        # in the kernel's listen backlog instead of being accepted and refused.
        self.admission.pause_intake_with(
            lambda: [port.pauseProducing() for port in ports],
            lambda: [port.resumeProducing() for port in ports])
        for host, port in addresses:
            # strports' service refuses to start (CannotListenError) when the port is taken
            listening = strports.service(
                listen_description(host, port, self.resource.listen_backlog), factory,
                reactor=self.reactor)
            listening.endpoint = _PortsOf(listening.endpoint, ports)
            listening.setServiceParent(self.intake)

    def server_tls(self, resource):
        """The listener's TLS side for our own ``resource``; raises TlsConfigError."""
        return network_tls.server_creator(network_tls.settings(resource), self.psk_key,
                                          f"{self.name} listening")

    # -- the configuration at run time ----------------------------------------------------

    def read_config(self):
        """The configuration as it is on disk now, checked (ConfigError when it is not good)."""
        if self.config_path is None:
            raise ConfigError("(none)", None, "the configuration was not read from a file")
        config = load_config(self.config_path, self.schema)
        self.check_config(config)
        network_tls.check_config(config, self.schema.daemon_name)
        return config

    def check_config(self, config):
        """The daemon's rules beyond the schema; raise ConfigError."""

    async def reload_config(self):
        """Read the configuration again and use it, all or nothing (SIGHUP, and the
        director's ``reload``): on a ConfigError the configuration in use stays.

        New connections and jobs use the new resources, passwords and TLS settings;
        connections and jobs already running keep theirs.  The listening addresses stay
        until a restart.  Subclasses take up the rest in ``use_config``.
        """
        config = self.read_config()
        resource = config.only(self.own_resource_type)
        if resource.addresses != self.resource.addresses:
            self.log.warn("reload: the listening addresses of {name} changed; they take "
                          "effect when it restarts", name=self.name)
        listener_tls = self.server_tls(resource) if self.listener is not None else None
        self.config, self.resource = config, resource
        if self.listener is not None:
            self.listener.use_tls(listener_tls)
        for warning in config.warnings:
            self.log.warn("Configuration: {warning}", warning=warning)
        await defer.maybeDeferred(self.use_config, config)
        self.log.info("{name}: configuration reloaded from {path}", name=self.name,
                      path=self.config_path)

    def use_config(self, config):
        """After a reload: take up what the daemon derived from its configuration (may
        return a Deferred)."""

    def reload_on_sighup(self):
        """SIGHUP reloads the configuration (twistd daemons; a failure is logged and the
        configuration in use stays)."""
        signal.signal(signal.SIGHUP,
                      lambda _signum, _frame: self.reactor.callFromThread(self._sighup))

    def _sighup(self):
        self.log.info("{name}: SIGHUP: reloading the configuration", name=self.name)
        self.spawn(self._reload_logging_failure(), "Reload on SIGHUP")

    async def _reload_logging_failure(self):
        try:
            await self.reload_config()
        except ConfigError as exc:
            self.log.error("{name}: reload failed, the configuration in use stays: {reason}",
                           name=self.name, reason=exc)

    # -- start and stop ------------------------------------------------------------------

    def privilegedStartService(self):
        """twistd listens here, before it drops privileges; a port already taken ends the
        program with one clear line instead of a traceback."""
        if self.config_path is not None:
            self.reload_on_sighup()
        try:
            super().privilegedStartService()
        except CannotListenError as exc:
            reason = getattr(exc.socketError, "strerror", None) or exc.socketError
            address = f"[{exc.interface}]" if ":" in exc.interface else exc.interface
            self.log.critical("{name} cannot listen on {address}:{port}: {reason} "
                              "(is another daemon using that port?)", name=self.name,
                              address=address, port=exc.port, reason=reason)
            raise SystemExit(1) from None

    @functools.cached_property
    def admission(self):
        """One AdmissionControl for all the daemon's listening ports."""
        return AdmissionControl(self.admission_limits(), self.reactor, self.name)

    def admission_limits(self):
        res = self.resource
        return AdmissionLimits(
            max_connections=max(res.maximum_connections, self.minimum_connections()),
            max_waiting=max(res.maximum_waiting_connections, self.minimum_waiting_connections()),
            max_unauthenticated=res.maximum_unauthenticated_connections,
            max_unauthenticated_per_address=res.maximum_unauthenticated_connections_per_address,
            max_failed_logins_per_address=res.maximum_failed_logins_per_address,
            failed_login_window=res.failed_login_window)

    def minimum_connections(self):
        """``Maximum Connections`` is raised to this (Bareos' rule, which differs per daemon)."""
        return 1

    def minimum_waiting_connections(self):
        """``Maximum Waiting Connections`` is raised to this: the peers that may all dial at
        once (e.g. after a restart) should find a place in the queue."""
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
        service.Service.stopService(self)     # running = False; the children stop below
        return defer.ensureDeferred(self._stop())

    async def _stop(self):
        self.log.info("{name} stopping", name=self.name)
        await self.intake.stopService()
        if self.has_running_jobs():
            self.cancel_jobs(f"{self.name} is stopping")
            if not await within(self.jobs_ended(), JOBS_STOP_TIMEOUT, self.reactor):
                self.log.warn("{name}: jobs still running {timeout} s after they were "
                              "canceled; stopping without waiting for them",
                              name=self.name, timeout=JOBS_STOP_TIMEOUT)
                await defer.maybeDeferred(self.abandon_jobs)
        # Closed means gone: a connection's last packets (a job's end) leave the process
        # only once it is lost, before the reactor drops whatever is still open.
        closing = [conn.closed for conn in self.connections]
        for conn in list(self.connections):
            conn.close()
        if not await within(when_all_fired(closing + list(self._work)), CLOSE_TIMEOUT,
                            self.reactor):
            self.log.warn("{name}: {count} connection(s) still open {timeout} s after they "
                          "were closed; aborting them", name=self.name,
                          count=len(self.connections), timeout=CLOSE_TIMEOUT)
            for conn in list(self.connections):
                conn.abort(f"{self.name} is stopping")
        await defer.DeferredList([defer.maybeDeferred(child.stopService)
                                  for child in reversed(list(self)) if child is not self.intake])
        self.log.info("{name} stopped", name=self.name)

    # -- jobs, as far as stopping cares ------------------------------------------------------

    def has_running_jobs(self):
        return False

    def cancel_jobs(self, reason):
        """Cancel every job (``reason`` says why, for the job logs); do not wait."""

    def abandon_jobs(self):
        """The canceled jobs did not end in time: note what must be noted before the
        services stop.  May return a Deferred."""

    def jobs_ended(self):
        """A Deferred firing once no job runs any more."""
        waiter = defer.Deferred()
        self._idle_waiters.append(waiter)
        self.check_idle()
        return waiter

    def check_idle(self):
        """Subclasses call this wherever a job ends."""
        if self._idle_waiters and not self.has_running_jobs():
            waiters, self._idle_waiters = self._idle_waiters, []
            for waiter in waiters:
                waiter.callback(None)

    # -- top-level work ------------------------------------------------------------------------

    def spawn(self, work, what):
        """Run ``work`` (a coroutine or a Deferred) whose result nobody awaits.  A failure is
        logged with ``what`` (text naming the work); a stopping daemon waits for it before
        its services (the catalog) stop.  Returns nothing on purpose."""
        d = defer.ensureDeferred(work)
        self._work.add(d)
        d.addErrback(self._work_failed, what)
        d.addBoth(lambda _: self._work.discard(d))

    def _work_failed(self, failure, what):
        if failure.check(defer.CancelledError):    # a waiter the stop cancelled
            return None
        self.log.failure("{what} failed", failure, what=what)
        return None

    # -- connections -----------------------------------------------------------------------

    def _accepted(self, conn):
        self.connections.add(conn)
        conn.closed.addBoth(lambda _: self.connections.discard(conn))
        if conn.admission is not None:
            conn.admission.session_started()
        self.spawn(self._serve(conn), f"Session with {conn.peer_text()}")

    async def _serve(self, conn):
        try:
            await self.handle_connection(conn)
        except BaseException:
            conn.close(terminate=False)
            raise
        finally:
            if conn.admission is not None:
                conn.admission.session_ended()

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
