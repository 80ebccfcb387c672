"""A console's life: authentication, greeting, then the command loop."""

from twisted.logger import Logger

import bareos
from bareos.catalog.api import CatalogError
from bareos.daemon.acceptor import authenticate_peer, resource_policy
from bareos.protocol.connection import ConnectionClosed, ReceiveTimeout
from bareos.protocol.framing import Signal
from bareos.protocol.handshake import AuthenticationFailed
from bareos.protocol.tls import TlsPolicy, negotiated_cipher
from bareos.director.console import commands
from bareos.director.console.arguments import BadArgument, parse_command_line
from bareos.director.console import jobcommands  # noqa: F401 -- registers the job commands
from bareos.director.console import restore  # noqa: F401 -- registers restore
from bareos.director.console import bvfs  # noqa: F401 -- registers the .bvfs_* commands
from bareos.director.console.output import API_JSON, API_TEXT, Reply

DEFAULT_CONSOLE = "*UserAgent*"
NOT_AUTHORIZED = b"1999 You are not authorized.\n"

log = Logger(namespace="bareos.director.console")


class ConsoleLimitReached(Exception):
    def __init__(self, limit):
        super().__init__(f"{limit} consoles are connected or logging in "
                         f"(Maximum Console Connections)")


class ConsoleSession:
    """One authenticated console: its identity, api mode and ACLs."""

    def __init__(self, director, conn, name, resource):
        self.director = director
        self.conn = conn
        self.name = name
        self.resource = resource              # the Console resource, None for the default console
        self.api = API_TEXT
        self.compact = False
        self.autodisplay = True
        self.connected_at = conn.connected_at

    @property
    def is_default(self):
        return self.resource is None

    @property
    def display_name(self):
        """What ``whoami`` says: the default console acts as root."""
        return "root" if self.is_default else self.name

    def acl_allows(self, acl_name, value):
        """Console ACLs (``Command ACL``, ``Client ACL``...), the console's own plus its profiles'.

        The default console may do anything; a named console may do only what
        an ACL grants (no ACL of a kind means nothing of that kind).
        """
        if self.is_default:
            return True
        return _acl_matches(self._acl_entries(acl_name), value)

    def _acl_entries(self, acl_name):
        entries = list(getattr(self.resource, acl_name, None) or [])
        for profile_name in getattr(self.resource, "profile", None) or []:
            profile = self.director.config.get("profile", profile_name)
            entries += getattr(profile, acl_name, None) or []
        return entries

    async def confirm(self, question, reply):
        """Ask a yes/no question inside a command (api 0 and 1 only)."""
        if self.api == API_JSON:
            reply.error("This command needs confirmation: add 'yes' to it in api mode 2.")
            return False
        self.conn.send(question)
        self.conn.send_signal(Signal.SUB_PROMPT)
        answer = await self.conn.receive()
        return isinstance(answer, bytes) and answer.strip().lower() in (b"yes", b"y")

    async def ask(self, prompt):
        """One line from the console at a sub-prompt inside a command (``$ `` of the restore
        tree, ``Select item:``); None when a signal comes instead."""
        self.conn.send(prompt)
        self.conn.send_signal(Signal.SUB_PROMPT)
        answer = await self.conn.receive()
        if not isinstance(answer, bytes):
            return None
        return answer.decode("utf-8", "surrogateescape").rstrip("\x00\r\n")

    async def run(self):
        while self.conn.is_open:
            if self.api != API_TEXT:
                self.conn.send_signal(Signal.MAIN_PROMPT)
            try:
                packet = await self.conn.receive()
            except ConnectionClosed:
                return
            if packet == Signal.TERMINATE:
                self.conn.close(terminate=False)
                return
            if not isinstance(packet, bytes):
                continue
            # surrogateescape: a file name that is not UTF-8 (file=, directory=) arrives as
            # the raw bytes Bareos' bconsole sends, and must match the catalog's name
            # exactly; parse_command_line makes every other word text.
            line = packet.decode("utf-8", "surrogateescape").rstrip("\x00\r\n ")
            if not await self.execute(line):
                return

    async def execute(self, line):
        """Run one command line; False when the console asked to leave."""
        reply = Reply(self.conn, self.api, self.compact)
        try:
            words = parse_command_line(line)
        except BadArgument as exc:
            reply.begin()
            reply.error(str(exc))
            reply.finish(False)
            return True
        if not words:
            reply.finish()
            return True
        command = commands.lookup(words[0][0])
        if command is None or not (command.always_allowed
                                   or self.acl_allows("command_acl", command.name)):
            reply.begin()
            reply.error(f"{words[0][0]}: is an invalid command.")
            reply.finish(False)
            return True
        if command.name in ("quit", "exit"):
            if self.api != API_TEXT:
                reply.begin()
                reply.finish()
            self.conn.close(terminate=False)
            return False
        if not command.changes_api:
            reply.begin()
        try:
            ok = await command.run(self, reply, words[1:])
        except BadArgument as exc:
            reply.error(str(exc))
            ok = False
        except CatalogError as exc:
            log.warn("Console command {name!r}: {problem}", name=command.name,
                     problem=self.director.catalog_problem(exc))
            reply.error(self.director.catalog_problem(exc))
            ok = False
        except Exception:
            log.failure("Console command {line!r} failed", line=line)
            reply.error(f"Internal error while running {command.name!r}; see the director's log.")
            ok = False
        reply.finish(ok is not False)
        return True


def _acl_matches(allowed, value):
    for entry in allowed:
        entry = entry.strip()
        if entry.lower() == "*all*" or entry == value:
            return True
    return False


async def accept_console(director, conn, hello):
    """Authenticate a console (default or named) and serve it until it leaves."""
    if hello.name == DEFAULT_CONSOLE:
        resource, key = None, director.resource.password.key
        policy = resource_policy(director.resource)
    else:
        resource = director.config.get("console", hello.name)
        key = resource.password.key if resource else None
        policy = resource_policy(resource) if resource else TlsPolicy.NONE
    try:
        with director.console_login():
            await authenticate_peer(conn, hello, key, policy, director.qualified_name,
                                    director.reactor)
    except ConsoleLimitReached as exc:
        director.console_refusals.warn(
            "console limit", f"Console {hello.name} from {conn.peer_text()} refused: {exc}")
        conn.send(NOT_AUTHORIZED)
        conn.close()
        return
    except (AuthenticationFailed, ReceiveTimeout) as exc:
        log.warn("Console login from {peer} refused: {reason}", peer=conn.peer_text(), reason=exc)
        if not hello.is_console_18_2:
            conn.send(NOT_AUTHORIZED)
        conn.close()
        return
    session = ConsoleSession(director, conn, hello.name, resource)
    director.admit_console(session)
    try:
        send_greeting(director, session, hello)
        log.info("Console {name} logged in from {peer}{tls}", name=hello.name,
                 peer=conn.peer_text(), tls=" (TLS-PSK)" if conn.is_tls else "")
        await session.run()
    finally:
        director.release_console(session)


def send_greeting(director, session, hello):
    conn = session.conn
    cipher = negotiated_cipher(conn.transport) if conn.is_tls else None
    banner = f"{director.name} Version: {bareos.VERSION} ({bareos.VERSION_DATE})"
    if not hello.is_console_18_2:
        conn.send(f"1000 OK: {banner} --  Encryption: {cipher or 'None'}\n")
        return
    conn.send(f"1000\x1eOK: {banner}")
    who = ("You are connected using the default console" if session.is_default
           else f"You are logged in as: {session.name}")
    conn.send(f"1002\x1eEncryption: {cipher or 'None'}\n{who}")
