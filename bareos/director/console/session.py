"""A console's life: authentication, greeting, then the command loop."""

from twisted.logger import Logger

import bareos
from bareos.catalog.api import CatalogError
from bareos.daemon.acceptor import authenticate_peer
from bareos.network.tls import resource_policy, session_kind
from bareos.protocol.connection import ConnectionClosed, ReceiveTimeout
from bareos.protocol.framing import Signal
from bareos.protocol.handshake import AuthenticationFailed
from bareos.protocol.tls import TlsPolicy, negotiated_cipher
from bareos.director.console import acl, commands
from bareos.director.console.arguments import BadArgument, parse_command_line
from bareos.director.console import jobcommands  # noqa: F401 -- registers the job commands
from bareos.director.console import admin  # noqa: F401 -- registers the admin commands
from bareos.director.console import show  # noqa: F401 -- registers show (admin calls its configure export)
from bareos.director.console import dotcommands  # noqa: F401 -- registers the dot commands
from bareos.director.console import listing  # noqa: F401 -- registers list and llist
from bareos.director.console import restore  # noqa: F401 -- registers restore
from bareos.director.console import bvfs  # noqa: F401 -- registers the .bvfs_* commands
from bareos.director.console import retention  # noqa: F401 -- registers prune and purge
from bareos.director.console import volumes  # noqa: F401 -- registers relabel and truncate
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
        # The ACLs are those of the login, as in Bareos: a reload changes them for the
        # consoles that log in after it.
        self.profiles = [p for p in (director.config.get("profile", profile_name)
                                     for profile_name in getattr(resource, "profile", None) or [])
                         if p is not None]
        self.api = API_TEXT
        self.compact = False
        self.autodisplay = True
        self.connected_at = conn.connected_at
        self.catalog_named = False

    @property
    def is_default(self):
        return self.resource is None

    @property
    def display_name(self):
        """What ``whoami`` says: the default console acts as root."""
        return "root" if self.is_default else self.name

    def acl_allows(self, acl_name, value):
        """Console ACLs (``Command ACL``, ``Client ACL``...), the console's own plus its
        profiles', read as Bareos reads them (see ``acl``).

        The default console may do anything; a named console may do only what
        an ACL grants (no ACL of a kind means nothing of that kind).
        """
        if self.is_default:
            return True
        return acl.acl_decision(self._acl_entries(acl_name), acl_name, value)

    def _acl_entries(self, acl_name):
        return acl.acl_entries(self.resource, self.profiles, acl_name)

    @property
    def batch(self):
        """api 2 is batch mode, as in Bareos: nobody answers questions, so none are asked."""
        return self.api == API_JSON

    def name_catalog(self, reply):
        """The first command of an api 0 session that reads the catalog names it, as Bareos
        does (clients such as python-bareos' tests skip that line)."""
        if self.api == API_TEXT and not self.catalog_named:
            self.catalog_named = True
            catalog = self.director.config.resources("catalog")[0]
            reply.send(f'Using Catalog "{catalog.name}"\n')

    async def confirm(self, question, reply):
        """Ask a yes/no question inside a command; in batch mode the answer is yes."""
        if self.batch:
            return True
        answer = await self.ask(question)
        return answer is not None and answer.lower() in ("yes", "y")

    async def ask(self, question):
        """Send ``question`` at a sub-prompt (``Select item:``, the restore tree's ``$ ``) and
        wait for the console's one-line answer (stripped; bytes that are not UTF-8 kept as
        surrogates, as file names need); None when the console left or sent a lone ``.``
        (cancel)."""
        self.conn.send(question)
        self.conn.send_signal(Signal.SUB_PROMPT)
        while True:
            try:
                answer = await self.conn.receive()
            except ConnectionClosed:
                return None
            if isinstance(answer, bytes):
                break
            if answer == Signal.TERMINATE:
                return None
        text = answer.decode("utf-8", "surrogateescape").rstrip("\x00").strip()
        return None if text == "." else text

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
                 peer=conn.peer_text(), tls=f" ({session_kind(conn)})" if conn.is_tls else "")
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
