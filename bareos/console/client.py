"""The console side of channels 1 and 2: log in to a director and run commands.

``ConsoleClient`` runs on the reactor; ``BlockingConsole`` drives it from a
plain thread (the interactive prompt) while the reactor runs in another.
"""

import threading

from twisted.internet import threads

import bareos
from bareos.console.login import DEFAULT_CONSOLE, ConsoleLoginFailed, login_parameters  # noqa: F401 (API)
from bareos.protocol.connection import ConnectionClosed
from bareos.console.conversation import command_steps, greeting_steps
from bareos.protocol.handshake import AuthenticationFailed, converse, dial
from bareos.protocol.hello import Hello, HelloKind


GREETING_TIMEOUT = 30


class ConsoleClient:
    """An authenticated console session (api 0) on the reactor."""

    def __init__(self, conn, greeting):
        self.conn = conn
        self.greeting = greeting

    @classmethod
    async def connect(cls, reactor, director, name, key, tls, timeout=30):
        """``tls``: TlsSettings (bareos.network.tls) or a bare TlsPolicy (TLS-PSK)."""
        hello = Hello(HelloKind.CONSOLE, name, version=bareos.VERSION, calling_version=bareos.VERSION)
        try:
            conn = await dial(reactor, director.address, director.port, hello, key,
                              f"R_CONSOLE::{name}", tls, connect_timeout=timeout)
        except AuthenticationFailed as exc:
            raise ConsoleLoginFailed(f"Director authorization problem: {exc}") from None
        except ConnectionClosed as exc:
            raise ConsoleLoginFailed(
                f"Director closed the connection during login ({exc}): wrong password, unknown "
                "console, or a TLS setting that does not match the director's") from None
        return cls(conn, await converse(conn, greeting_steps(), reactor, GREETING_TIMEOUT))

    async def command(self, line, on_text, ask):
        """Send one command; call ``on_text`` for output, ``ask(prompt)`` for sub-prompts."""
        return await converse(self.conn, command_steps(line, on_text), self.conn.clock,
                              timeout=None, ask=ask)

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

    def login(self, director, name, key, tls, timeout):
        from twisted.internet import defer
        self.client = self.call(lambda: defer.ensureDeferred(
            ConsoleClient.connect(self.reactor, director, name, key, tls, timeout)))
        return self.client.greeting

    def command(self, line, on_text, ask):
        from twisted.internet import defer

        return self.call(lambda: defer.ensureDeferred(
            self.client.command(line, on_text, lambda prompt: threads.deferToThread(ask, prompt))))

    def stop(self):
        if self.client is not None:
            self.reactor.callFromThread(self.client.close)
        self.reactor.callFromThread(self.reactor.stop)
        self._thread.join(5)
