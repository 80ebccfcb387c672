"""A director's command session on a file or storage daemon (channels 3, 5a, 10, 11).

Both daemons authenticate the director the same way and dispatch its
commands by prefix; they differ in reply codes and in their command tables.
A Director resource with ``Monitor = yes`` (a tray monitor) may only ask for
status.
"""

import dataclasses

from twisted.logger import Logger

import bareos
from bareos.daemon.acceptor import authenticate_peer
from bareos.network.tls import resource_policy, session_kind
from bareos.daemon.service import Daemon, format_datetime, os_info
from bareos.protocol.connection import ConnectionClosed, ReceiveTimeout
from bareos.protocol.framing import Signal
from bareos.protocol.handshake import AuthenticationFailed, RefusedBeforeChallenge
from bareos.protocol.hello import HelloKind

log = Logger(namespace="bareos.daemon")

STATUS_COMMANDS = ("status", ".status")


@dataclasses.dataclass(frozen=True)
class Dialect:
    """Reply codes of one daemon kind."""
    greeting: bytes
    auth_failed: bytes
    terminate_after_auth_failed: bool   # Bareos' SD signals TERMINATE after it, the FD does not
    invalid_command: str          # format with {command}
    monitor_refused: bytes


FILE_DAEMON = Dialect(
    greeting=b"2000 OK Hello 54\n",
    auth_failed=b"2999 Authentication failed.\n",
    terminate_after_auth_failed=False,
    invalid_command="2999 Invalid command\n",
    monitor_refused=b"2997 Invalid command for a Director with Monitor directive enabled.\n")

STORAGE_DAEMON = Dialect(
    greeting=b"3000 OK Hello\n",
    auth_failed=b"3999 No go\n",
    terminate_after_auth_failed=True,
    invalid_command="3900 Invalid command: {command}\n",
    monitor_refused=b"3997 Invalid command for a Director with Monitor directive enabled.\n")


class DirectorSession:
    """One authenticated director (or tray monitor) talking to this daemon."""

    def __init__(self, daemon, conn, resource):
        self.daemon = daemon
        self.conn = conn
        self.resource = resource
        self.connected_at = conn.connected_at

    @property
    def name(self):
        return self.resource.name

    def describe(self):
        """The line ``status`` shows for this session."""
        return f"{self.name} (director) connected at: {format_datetime(self.connected_at)}"

    async def run(self, commands, dialect, first_packet=None):
        """Serve commands until the director leaves.  ``commands``: ordered (prefix, coroutine).

        ``first_packet``: a command already read from the connection (a client-initiated
        connection learns that the director took it from its first packet)."""
        while self.conn.is_open:
            if first_packet is not None:
                packet, first_packet = first_packet, None
            else:
                try:
                    # the director's next command, as long as it keeps the session: ends
                    # when it closes the connection (a client-initiated link also has
                    # heartbeats and TCP keepalive)
                    packet = await self.conn.receive()
                except ConnectionClosed:
                    return
            if packet in (Signal.TERMINATE, Signal.EOD):
                if packet == Signal.TERMINATE:
                    self.conn.close(terminate=False)
                    return
                continue
            if not isinstance(packet, bytes):
                continue
            text = packet.decode("utf-8", "replace").rstrip("\x00")
            handler = next((h for prefix, h in commands if text.startswith(prefix)), None)
            if self.resource.monitor and not text.startswith(STATUS_COMMANDS):
                self.conn.send(dialect.monitor_refused)
                self.conn.send_signal(Signal.EOD)
                self.conn.close()
                return
            if handler is None:
                log.warn("{daemon}: invalid command from {director}: {command!r}",
                         daemon=self.daemon.name, director=self.name, command=text[:100])
                self.conn.send(dialect.invalid_command.format(command=text.strip()))
                self.conn.close()
                return
            if await handler(self, text) is False:
                return


async def accept_director(daemon, conn, hello, dialect, commands):
    """Authenticate a director by its resource and serve its session."""
    resource = daemon.config.get("director", hello.name)
    key = resource.password.key if resource else None
    policy = resource_policy(resource) if resource else None
    try:
        await authenticate_peer(conn, hello, key, policy, daemon.qualified_name, daemon.reactor)
    except (AuthenticationFailed, ReceiveTimeout) as exc:
        log.warn("{daemon}: director login from {peer} refused: {reason}",
                 daemon=daemon.name, peer=conn.peer_text(), reason=exc)
        if isinstance(exc, RefusedBeforeChallenge):
            conn.close()                        # TERMINATE alone
        else:
            conn.send(dialect.auth_failed)
            conn.close(terminate=dialect.terminate_after_auth_failed)
        return
    conn.send(dialect.greeting)
    log.info("{daemon}: director {name} connected from {peer}{tls}", daemon=daemon.name,
             name=resource.name, peer=conn.peer_text(), tls=f" ({session_kind(conn)})" if conn.is_tls else "")
    await serve_session(daemon, conn, resource, dialect, commands)


async def serve_session(daemon, conn, resource, dialect, commands, first_packet=None):
    """Serve an authenticated director's commands: a connection the director opened, or one
    this daemon opened (client-initiated) that the director has just taken."""
    session = DirectorSession(daemon, conn, resource)
    daemon.director_sessions.append(session)
    try:
        await session.run(commands, dialect, first_packet)
    finally:
        daemon.director_sessions.remove(session)


class DirectorServedDaemon(Daemon):
    """A daemon that directors command: the file daemon and the storage daemon."""

    dialect = None
    qualified_type = None

    def __init__(self, config, own_resource_type, reactor=None):
        super().__init__(config, reactor)
        self.own_resource_type = own_resource_type
        self.resource = config.only(own_resource_type)
        self.name = self.resource.name
        self.qualified_name = f"{self.qualified_type}::{self.name}"
        self.director_sessions = []
        self.jobs_run = 0
        if self.accepts_directors():
            self.listen(self.resource.addresses)

    def minimum_connections(self):
        # Bareos' rule for its file and storage daemons: room for two connections per job
        return 2 * self.resource.maximum_concurrent_jobs + 2

    def accepts_directors(self):
        """Whether to listen at all (a file daemon that only dials out does not)."""
        return True

    def psk_key(self, resource_type, name):
        if resource_type == "R_DIRECTOR":
            director = self.config.get("director", name)
            return director.password.key if director else None
        return None

    def hello_handlers(self):
        return {HelloKind.DIRECTOR: self.serve_director}

    async def serve_director(self, conn, hello):
        await accept_director(self, conn, hello, self.dialect, self.commands())

    def commands(self):
        """Ordered ``(prefix, coroutine(session, text))`` pairs."""
        return [("status", status_command), (".status", status_command)]

    def status_header(self):
        return [
            f"{self.name} Version: {bareos.VERSION} ({bareos.VERSION_DATE}) {os_info()}",
            f"Daemon started {format_datetime(self.started_at)}. Jobs: run={self.jobs_run}, "
            f"running=0, bareos-twisted binary",
            "",
            "Running Jobs:",
        ] + [session.describe() for session in self.director_sessions]

    def status_text(self):
        raise NotImplementedError


async def status_command(session, text):
    session.conn.send(b"\n")
    session.conn.send(session.daemon.status_text())
    session.conn.send_signal(Signal.EOD)
