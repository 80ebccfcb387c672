"""Client-initiated connections (channel 4): the file daemon dials its director and waits.

For every Director resource with ``Connection From Client To Director = yes`` a
``DirectorLink`` keeps one authenticated connection open to the director's
``Address``/``Port`` (hello ``Hello Client <fd> FdProtocolVersion=54 calling
Version="..."``; TLS-PSK identity ``R_CLIENT`` when the resource's policy enables
TLS; the director challenges first and greets with ``1000 OK: ...``).

While it waits, the link sends ``BNET_HEARTBEAT`` at once and then every
Heartbeat Interval (the Client resource's; ``DEFAULT_HEARTBEAT`` if that is 0),
so that NAT gateways keep the mapping, and expects ``BNET_HB_RESPONSE`` (or any
other traffic) within half an interval (at least a second): this suite's director answers a waiting
client's heartbeat; a connection without an answer is dead (a frozen relay, a NAT
that forgot the mapping, a director host that vanished) and is replaced.  TCP
keepalive with the same interval and ``TCP_USER_TIMEOUT`` of two intervals
catch what the heartbeats cannot (``Heartbeat While Waiting = no``, for a Bareos
director, whose pool drops a waiting connection that sends anything).

The director takes the connection by sending a command (``JobId=...``,
``status``, ``cancel ...``): the link hands the connection and that first packet
to the daemon's director command loop, exactly as for a session the director
opened, and dials a new waiting connection at once.

After any failure (refused, reset, authentication, no greeting, a dead or closed
waiting connection) the link retries after the ``bareos.network.retry.backoff``
delay: exponential from ``Reconnect Min Interval`` up to ``Reconnect Max Interval``,
shortened by a random part of up to ``Reconnect Jitter Percent`` so that many
clients do not return in step after a director restart.  The count restarts once a
connection has been waited on for a heartbeat interval or was taken.  A taken connection
is replaced at once; a waiting one that proved itself and ends is replaced after a random
part of ``Reconnect Min Interval``: when a director stops, all its clients lose their
connections in the same instant, and should not all dial again in the next one.  Failures go to the daemon's
Messages resource: the first of a series, every ``REPORT_EVERY``-th, and the recovery.

Why not ``twisted.application.internet.ClientService``: its ``prepareConnection``
hook (Twisted 18.7 and later, so bookworm's 22.4 too) could run the authentication,
and a failure there counts as a failed attempt, so that part would fit.  Two rules
do not: (1) it keeps *one* connection and opens the next only when that one is
lost, while a taken connection must live on (carrying the job) as the link opens
the next waiting one at once; (2) it resets its count as soon as a connection is
prepared and waits ``retryPolicy(1)`` after any loss, while here a waiting
connection that dies within a heartbeat interval is one more failure (a director
that authenticates and then drops us is not hammered) and one that proved itself
is replaced within a Reconnect Min Interval.  The link is the same machine (attempt → connected → wait →
retry with backoff on an injected clock), written for these rules.
"""

import enum
import random

from twisted.application import service
from twisted.internet import defer
from twisted.logger import Logger

import bareos
from bareos.network.tls import settings as tls_settings
from bareos.network.retry import backoff
from bareos.protocol.connection import ConnectionClosed, ReceiveTimeout
from bareos.protocol.framing import Signal
from bareos.protocol.handshake import AuthenticationFailed, connect_failure_reason, dial
from bareos.protocol.hello import Hello, HelloKind
from bareos.protocol.keepalive import clear_user_timeout, enable_keepalive

log = Logger(namespace="bareos.filedaemon.director_link")

DEFAULT_HEARTBEAT = 60        # seconds, when the Client resource's Heartbeat Interval is 0
BACKOFF_FACTOR = 2
MIN_HANDSHAKE_TIMEOUT = 15    # seconds for TCP connect and each authentication step
REPORT_EVERY = 10             # report every n-th failure of a series to the Messages resource
FD_PROTOCOL_VERSION = 54


class LinkState(enum.Enum):
    IDLE = "idle"
    CONNECTING = "connecting"
    WAITING = "waiting"
    RETRYING = "retrying"
    STOPPED = "stopped"


class LinkFailed(Exception):
    """The director did not greet us as a waiting client."""


def heartbeat_interval(client):
    return int(getattr(client, "heartbeat_interval", 0) or 0) or DEFAULT_HEARTBEAT


class DirectorLink(service.Service):
    """One director's client-initiated connection, kept open; see the module docstring.

    ``connect``: a coroutine function ``(link) -> authenticated BareosConnection`` (the
    default dials the director); ``serve``: a coroutine function
    ``(conn, director resource, first packet)`` running the director's command loop;
    ``clock``: an ``IReactorTime``; ``rand``: the jitter's random source.  Tests inject all four.
    """

    def __init__(self, daemon, director, clock=None, connect=None, serve=None,
                 rand=random.random):
        self.daemon = daemon
        self.director = director
        self.name = f"director-link:{director.name}"
        self.clock = clock if clock is not None else daemon.reactor
        self._connect = connect or dial_director
        self._serve = serve or daemon.serve_director_link
        client = daemon.resource
        self.heartbeat = heartbeat_interval(client)
        self.heartbeats = bool(getattr(director, "heartbeat_while_waiting", True))
        self.answer_window = max(1.0, self.heartbeat / 2)
        self.reconnect_min_interval = float(getattr(client, "reconnect_min_interval", 1) or 0)
        self._rand = rand
        self.retry_delay = backoff(
            self.reconnect_min_interval,
            float(getattr(client, "reconnect_max_interval", 60) or 0),
            factor=BACKOFF_FACTOR,
            jitter=float(getattr(client, "reconnect_jitter_percent", 20) or 0) / 100, rand=rand)
        self.handshake_timeout = max(self.heartbeat, MIN_HANDSHAKE_TIMEOUT)
        self.state = LinkState.IDLE
        self.failures = 0                # consecutive failed attempts (the backoff exponent)
        self.attempts = 0
        self.connections = 0             # authenticated waiting connections made
        self.taken = 0                   # connections handed to the director's command loop
        self.last_error = None
        self.waiting_conn = None
        self.waiting_since = None
        self.next_attempt_at = None
        self._attempt = None
        self._retry_call = None
        self._beat_call = None
        self._answer_call = None
        self._sessions = set()

    @property
    def address(self):
        return f"{self.director.address}:{self.director.port}"

    # -- service ------------------------------------------------------------------------
    def startService(self):
        super().startService()
        self._attempt_now()

    def stopService(self):
        super().stopService()
        self.state = LinkState.STOPPED
        self._cancel(self._retry_call)
        self._retry_call = None
        if self._attempt is not None:
            attempt, self._attempt = self._attempt, None
            attempt.cancel()
        conn = self.waiting_conn
        if conn is not None:
            self._stop_waiting()
            conn.close()
        return None

    # -- connecting ---------------------------------------------------------------------
    def _attempt_now(self):
        self._retry_call = None
        if not self.running:
            return
        self.state = LinkState.CONNECTING
        self.attempts += 1
        self.next_attempt_at = None
        attempt = defer.ensureDeferred(self._connect(self))
        self._attempt = attempt
        attempt.addCallbacks(self._connected, self._connect_failed,
                             callbackArgs=(attempt,), errbackArgs=(attempt,))
        attempt.addErrback(self._internal_error)

    def _internal_error(self, failure):
        log.failure("{fd}: director link to {director} failed unexpectedly", failure,
                    fd=self.daemon.name, director=self.director.name)
        conn = self.waiting_conn
        if conn is not None:
            self._stop_waiting()
            conn.abort("internal error")
        if self.running and self._retry_call is None and self._attempt is None:
            self._failed(f"internal error: {failure.getErrorMessage()}")

    def _connected(self, conn, attempt):
        if attempt is not self._attempt or not self.running:
            conn.close()
            return
        self._attempt = None
        self.connections += 1
        if self.failures:
            self._report("info", f"Connection to Director {self.director.name} at {self.address} "
                                 f"is back after {self.failures} failed attempt"
                                 f"{'s' if self.failures != 1 else ''}.")
        log.info("{fd}: waiting for Director {director} on {peer}", fd=self.daemon.name,
                 director=self.director.name, peer=self.address)
        self.state = LinkState.WAITING
        self.last_error = None
        self.waiting_conn = conn
        self.waiting_since = self.clock.seconds()
        enable_keepalive(getattr(conn, "transport", None), self.heartbeat,
                         user_timeout=2 * self.heartbeat)
        if self.heartbeats:
            self._beat()
        else:
            self._beat_call = None
        self._wait_for_packet(conn)

    def _connect_failed(self, failure, attempt):
        if attempt is not self._attempt or not self.running:
            return None
        self._attempt = None
        self._failed(describe_failure(failure))
        return None

    # -- waiting ------------------------------------------------------------------------
    def _wait_for_packet(self, conn):
        conn.receive().addCallbacks(self._packet, self._lost, callbackArgs=(conn,),
                                    errbackArgs=(conn,))

    def _packet(self, packet, conn):
        if conn is not self.waiting_conn:
            return
        if packet == Signal.TERMINATE:
            conn.close(terminate=False)
            self._ended(conn, f"Director {self.director.name} closed the waiting connection")
            return
        if not isinstance(packet, bytes):
            self._wait_for_packet(conn)           # a stray signal: keep waiting
            return
        self._hand_off(conn, packet)

    def _lost(self, failure, conn):
        if conn is not self.waiting_conn:
            return None
        reason = failure.value if failure.check(ConnectionClosed) else describe_failure(failure)
        self._ended(conn, f"waiting connection to Director {self.director.name} lost: {reason}")
        return None

    def _hand_off(self, conn, first_packet):
        """The director took the connection: serve it, and wait on a new one at once."""
        self._stop_waiting()
        self.taken += 1
        self.failures = 0
        clear_user_timeout(getattr(conn, "transport", None))
        log.info("{fd}: Director {director} took the waiting connection", fd=self.daemon.name,
                 director=self.director.name)
        session = defer.ensureDeferred(self._serve(conn, self.director, first_packet))
        self._sessions.add(session)
        session.addErrback(lambda f: log.failure("Director session on a client-initiated "
                                                 "connection failed", f))
        session.addBoth(lambda _: self._sessions.discard(session))
        self._attempt_now()

    def _ended(self, conn, reason):
        """The waiting connection is gone (closed, or found dead).  One that had proved
        itself (waited a heartbeat interval) is replaced after a random part of Reconnect
        Min Interval (see the module docstring); one that dies young counts as a failed
        attempt."""
        now = self.clock.seconds()
        lived = now - (now if self.waiting_since is None else self.waiting_since)
        self._stop_waiting()
        if lived < self.heartbeat:
            self._failed(reason)
            return
        self.failures = 0
        if not self.running:
            return
        log.warn("{fd}: {reason}; reconnecting", fd=self.daemon.name, reason=reason)
        self._report("warning", f"{reason}. Reconnecting.")
        self.state = LinkState.RETRYING
        self.last_error = reason
        delay = self._rand() * self.reconnect_min_interval
        self.next_attempt_at = self.clock.seconds() + delay
        self._retry_call = self.clock.callLater(delay, self._attempt_now)

    def _stop_waiting(self):
        self.waiting_conn = None
        self.waiting_since = None
        self._cancel(self._beat_call)
        self._cancel(self._answer_call)
        self._beat_call = self._answer_call = None

    # -- heartbeats ----------------------------------------------------------------------
    def _beat(self):
        conn = self.waiting_conn
        if conn is None or not conn.is_open:
            return
        sent_at = self.clock.seconds()
        conn.send_signal(Signal.HEARTBEAT)
        self._answer_call = self.clock.callLater(self.answer_window, self._check_answer, conn,
                                                 sent_at)
        self._beat_call = self.clock.callLater(self.heartbeat, self._beat)

    def _check_answer(self, conn, sent_at):
        self._answer_call = None
        if conn is not self.waiting_conn:
            return
        last = conn.last_received_at
        if last is not None and last >= sent_at:
            return
        reason = (f"Director {self.director.name} at {self.address} did not answer a heartbeat "
                  f"within {self.answer_window:g} s: connection presumed dead")
        self._ended(conn, reason)
        conn.abort(reason)                # no FIN handshake with a peer that is gone

    # -- failures -----------------------------------------------------------------------
    def _failed(self, reason):
        if not self.running:
            return
        self.failures += 1
        delay = self.retry_delay(self.failures)
        self.state = LinkState.RETRYING
        self.last_error = reason
        self.next_attempt_at = self.clock.seconds() + delay
        log.warn("{fd}: {reason}; retry {n} in {delay:.1f} s", fd=self.daemon.name,
                 reason=reason, n=self.failures, delay=delay)
        if self.failures == 1 or self.failures % REPORT_EVERY == 0:
            series = "" if self.failures == 1 else f" (failure {self.failures} in a row)"
            self._report("error", f"Cannot keep a connection to Director {self.director.name} "
                                  f"at {self.address}: {reason}{series}. Retrying in "
                                  f"{delay:.0f} s.")
        self._retry_call = self.clock.callLater(delay, self._attempt_now)

    def _report(self, type_name, text):
        messages = getattr(self.daemon, "messages", None)
        if messages is not None:
            messages.daemon_message(type_name, text)

    @staticmethod
    def _cancel(call):
        if call is not None and call.active():
            call.cancel()

    # -- status ---------------------------------------------------------------------------
    def status_line(self, format_datetime):
        head = f"{self.director.name} at {self.address}:"
        if self.state is LinkState.WAITING:
            return f"{head} waiting since {format_datetime(self.waiting_since)}, " \
                   f"{self.taken} taken"
        if self.state is LinkState.RETRYING:
            wait = max(0, (self.next_attempt_at or 0) - self.clock.seconds())
            return f"{head} retry {self.failures} in {wait:.0f} s after: {self.last_error}"
        return f"{head} {self.state.value}"


async def dial_director(link):
    """Dial the link's director, authenticate as a waiting client, read its greeting."""
    daemon, director = link.daemon, link.director
    if not director.address:
        raise LinkFailed(f"Director {director.name} has no Address to connect to")
    hello = Hello(HelloKind.CLIENT, daemon.name, fd_protocol_version=FD_PROTOCOL_VERSION,
                  version=bareos.VERSION)
    conn = await dial(daemon.reactor, director.address, director.port, hello,
                      director.password.key, daemon.qualified_name, tls_settings(director),
                      connect_timeout=link.handshake_timeout,
                      answer_timeout=link.handshake_timeout)
    try:
        greeting = await conn.receive(timeout=link.handshake_timeout)
    except BaseException:
        conn.close(terminate=False)
        raise
    if not (isinstance(greeting, bytes) and greeting.startswith(b"1000 OK")):
        conn.close(terminate=False)
        text = greeting.decode("utf-8", "replace").strip() if isinstance(greeting, bytes) \
            else f"signal {greeting}"
        raise LinkFailed(f"Director {director.name} refused us as a waiting client: {text!r}")
    return conn


def describe_failure(failure):
    """A short reason for a failed attempt, for logs and messages."""
    value = failure.value
    if isinstance(value, (AuthenticationFailed, LinkFailed)):
        return f"authentication failed: {value}" if isinstance(value, AuthenticationFailed) \
            else str(value)
    if isinstance(value, ReceiveTimeout):
        return f"the director did not answer: {value}"
    if isinstance(value, defer.CancelledError):
        return "connection attempt cancelled (timed out)"
    return connect_failure_reason(value)


def client_initiated_directors(config):
    """The Director resources this file daemon dials."""
    return [d for d in config.resources("director") if d.connection_from_client_to_director]
