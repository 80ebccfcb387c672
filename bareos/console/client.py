"""The console side of channels 1 and 2: log in to a director and run commands.

``ConsoleClient`` runs on the reactor; ``BlockingConsole`` drives it from a
plain thread (the interactive prompt) while the reactor runs in another.
"""

import threading

from twisted.internet import threads

import bareos
from bareos.console.login import DEFAULT_CONSOLE, ConsoleLoginFailed, login_parameters  # noqa: F401 (API)
from bareos.protocol.connection import ConnectionClosed
from bareos.protocol.framing import Signal
from bareos.protocol.handshake import AuthenticationFailed, dial
from bareos.protocol.hello import Hello, HelloKind


GREETING_TIMEOUT = 30


class ConsoleClient:
    """An authenticated console session (api 0) on the reactor."""

    def __init__(self, conn, greeting):
        self.conn = conn
        self.greeting = greeting

    @classmethod
    async def connect(cls, reactor, director, name, key, policy, timeout=30):
        hello = Hello(HelloKind.CONSOLE, name, version=bareos.VERSION, calling_version=bareos.VERSION)
        try:
            conn = await dial(reactor, director.address, director.port, hello, key,
                              f"R_CONSOLE::{name}", policy, connect_timeout=timeout)
        except AuthenticationFailed as exc:
            raise ConsoleLoginFailed(f"Director authorization problem: {exc}") from None
        except ConnectionClosed:
            raise ConsoleLoginFailed(
                "Director closed the connection during login: wrong password, unknown console, "
                "or a TLS setting that does not match the director's") from None
        return cls(conn, await cls._read_greeting(conn))

    @staticmethod
    async def _read_greeting(conn):
        lines = []
        while True:
            packet = await conn.receive(timeout=GREETING_TIMEOUT)
            if not isinstance(packet, bytes):
                raise ConsoleLoginFailed(f"unexpected {Signal(packet).name} during login")
            code, _, text = packet.decode("utf-8", "replace").partition("\x1e")
            if code == "1000":
                lines.append(f"1000 {text}")
            elif code == "1002":
                lines += text.splitlines()
                return lines
            elif code == "1001":
                conn.close()
                raise ConsoleLoginFailed("the director asks for PAM authentication, "
                                         "which this console does not support")
            else:
                raise ConsoleLoginFailed(packet.decode("utf-8", "replace").strip())

    async def command(self, line, on_text, ask):
        """Send one command; call ``on_text`` for output, ``ask(prompt)`` for sub-prompts."""
        self.conn.send(line)
        prompt = []
        while True:
            packet = await self.conn.receive()
            if isinstance(packet, bytes):
                text = packet.decode("utf-8", "replace")
                prompt.append(text)
                on_text(text)
            elif packet == Signal.SUB_PROMPT:
                answer = await ask("".join(prompt[-1:]))
                prompt = []
                self.conn.send(answer)
            elif packet in (Signal.EOD, Signal.MAIN_PROMPT):
                return True
            elif packet == Signal.TERMINATE:
                return False

    def close(self):
        self.conn.close()


class BlockingConsole:
    """Runs the reactor in a background thread and offers blocking calls."""

    def __init__(self, reactor):
        self.reactor = reactor
        self._thread = threading.Thread(target=reactor.run, kwargs={"installSignalHandlers": False},
                                        daemon=True)
        self._thread.start()
        self.client = None

    def call(self, function, *args):
        return threads.blockingCallFromThread(self.reactor, function, *args)

    def login(self, director, name, key, policy, timeout):
        from twisted.internet import defer
        self.client = self.call(lambda: defer.ensureDeferred(
            ConsoleClient.connect(self.reactor, director, name, key, policy, timeout)))
        return self.client.greeting

    def command(self, line, on_text, ask):
        from twisted.internet import defer

        async def ask_in_thread(prompt):
            return await threads.deferToThread(ask, prompt)
        return self.call(lambda: defer.ensureDeferred(
            self.client.command(line, on_text, ask_in_thread)))

    def stop(self):
        if self.client is not None:
            self.reactor.callFromThread(self.client.close)
        self.reactor.callFromThread(self.reactor.stop)
        self._thread.join(5)
