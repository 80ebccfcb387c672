"""The director's control connections to file daemons (channel 3) and storage daemons (5a).

``DaemonLink`` wraps an authenticated connection: it sends a command and
returns the daemon's reply, passing job messages (``Jmsg ...``) that arrive
in between to a handler.  ``connect_client`` and ``connect_storage`` dial,
retrying until the configured timeout as Bareos does.
"""

from twisted.internet import error
from twisted.logger import Logger

import bareos
from bareos.network import tls as network_tls
from bareos.network.retry import every, retrying
from bareos.protocol.connection import ConnectionClosed, ReceiveTimeout
from bareos.protocol.framing import Signal
from bareos.protocol.handshake import AuthenticationFailed, dial
from bareos.protocol.hello import Hello, HelloKind

log = Logger(namespace="bareos.director.links")

RETRY_INTERVAL = 10
REPLY_TIMEOUT = 300


class DaemonUnreachable(Exception):
    """A file or storage daemon could not be reached or refused us."""


class ProtocolViolation(Exception):
    """A daemon answered something we did not expect."""


class DaemonLink:
    """An authenticated control connection to a file or storage daemon."""

    def __init__(self, conn, kind, name, greeting):
        self.conn = conn
        self.kind = kind            # "client" or "storage"
        self.name = name
        self.greeting = greeting
        self.on_job_message = None  # callable(text) for "Jmsg" lines

    def send(self, line):
        self.conn.send(line)

    async def receive(self, timeout=REPLY_TIMEOUT):
        """The next packet that is not a job message (those go to ``on_job_message``)."""
        while True:
            packet = await self.conn.receive(timeout)
            if isinstance(packet, bytes) and packet.startswith(b"Jmsg "):
                if self.on_job_message is not None:
                    self.on_job_message(packet)
                continue
            return packet

    async def receive_line(self, timeout=REPLY_TIMEOUT):
        packet = await self.receive(timeout)
        if not isinstance(packet, bytes):
            raise ProtocolViolation(f"{self.kind} {self.name} sent {signal_text(packet)} "
                                    f"where a reply was expected")
        return packet.decode("utf-8", "replace").rstrip("\x00")

    async def receive_line_while_alive(self, silence=None):
        """The next reply line, however long it takes while the daemon shows it is alive:
        only a whole ``silence`` seconds (REPLY_TIMEOUT) without a packet from it, heartbeats
        included, is a ReceiveTimeout.  For answers that wait on something else, such as a
        storage daemon reserving a busy device (it heartbeats meanwhile)."""
        silence = REPLY_TIMEOUT if silence is None else silence
        while True:
            heard_at = self.conn.last_received_at
            try:
                return await self.receive_line(silence)
            except ReceiveTimeout:
                if self.conn.last_received_at == heard_at:
                    raise

    async def command(self, line, expect, timeout=REPLY_TIMEOUT):
        """Send ``line``; return the reply if it starts with ``expect``, else raise."""
        self.send(line)
        reply = await self.receive_line(timeout)
        if not reply.startswith(expect):
            raise ProtocolViolation(f"{self.kind} {self.name} answered {reply.strip()!r} "
                                    f"to {line.split(' ', 1)[0].strip()!r}")
        return reply

    def close(self):
        self.conn.close()


def signal_text(packet):
    try:
        return f"signal {Signal(packet).name}"
    except ValueError:
        return f"signal {packet}"


async def connect_daemon(director, kind, resource, greeting_prefix, timeout,
                         retry_interval=RETRY_INTERVAL, address=None, tls=None):
    """Dial a daemon's Director port, retrying every ``retry_interval`` until ``timeout``.

    ``tls``: TLS settings or policy other than the resource's own TLS directives."""
    reactor = director.reactor
    if tls is None:
        tls = network_tls.settings(resource)
    hello = Hello(HelloKind.DIRECTOR, director.name, version=bareos.VERSION)
    host = address or resource.address

    async def attempt(remaining):
        conn = await dial(reactor, host, resource.port, hello, resource.password.key,
                          director.qualified_name, tls,
                          connect_timeout=min(30, max(1, remaining)))
        greeting = (await conn.receive(30))
        if not isinstance(greeting, bytes) or not greeting.startswith(greeting_prefix):
            conn.close()
            raise DaemonUnreachable(f"{kind} {resource.name} at {host}:{resource.port} "
                                    f"refused us: {_show(greeting)}")
        return DaemonLink(conn, kind, resource.name, greeting.decode("utf-8", "replace"))

    try:
        return await retrying(reactor, attempt, every(retry_interval), timeout=timeout,
                              should_retry=lambda exc: isinstance(exc, RETRY_ERRORS))
    except AuthenticationFailed as exc:
        raise DaemonUnreachable(
            f"{kind} {resource.name} at {host}:{resource.port}: authorization failed "
            f"({exc}); check the passwords of both sides") from None
    except RETRY_ERRORS as exc:
        raise DaemonUnreachable(
            f"cannot connect to {kind} {resource.name} at {host}:{resource.port}: "
            f"{_describe(exc)}") from None


# The daemon could not be reached, or dropped us before its greeting: worth another try
RETRY_ERRORS = (error.ConnectError, error.TimeoutError, error.DNSLookupError,
                ConnectionClosed, ReceiveTimeout, OSError)


def _show(packet):
    if isinstance(packet, bytes):
        return repr(packet.decode("utf-8", "replace").strip())
    return signal_text(packet)


def _describe(exc):
    if isinstance(exc, error.ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, (error.TimeoutError, ReceiveTimeout)):
        return "timed out"
    return str(exc) or exc.__class__.__name__


async def connect_client(director, client, timeout=None, retry_interval=RETRY_INTERVAL):
    timeout = director.resource.fd_connect_timeout if timeout is None else timeout
    return await connect_daemon(director, "client", client, b"2000 OK Hello", timeout,
                                retry_interval)


async def connect_storage(director, storage, timeout=None, retry_interval=RETRY_INTERVAL):
    timeout = director.resource.sd_connect_timeout if timeout is None else timeout
    return await connect_daemon(director, "storage", storage, b"3000 OK Hello", timeout,
                                retry_interval)


async def query_status(link, command="status"):
    """Run ``status`` on a daemon and return its text (up to EOD)."""
    link.send(command)
    chunks = []
    while True:
        packet = await link.receive(60)
        if isinstance(packet, bytes):
            chunks.append(packet.decode("utf-8", "replace"))
        elif packet in (Signal.EOD, Signal.TERMINATE):
            return "".join(chunks)
