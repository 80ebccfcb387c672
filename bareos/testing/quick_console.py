"""Blocking protocol sessions for tests and benchmarks that poll.

``QuickConsole``: one logged-in console session with a director.  ``bconsole`` in a
subprocess costs an interpreter start per call; tests that watch ``status
director`` change second by second keep one session open instead.
``QuickDirector``: a director's session with a file daemon that accepts directors
(to send it commands such as ``setbandwidth=``).

Both are cleartext only and run the suite's own conversations
(``bareos.protocol.conversation``) over bconsole's blocking socket path
(``bareos.console.plain``): no second implementation of the protocol.
"""

import socket
import types

import bareos
from bareos.console.plain import PlainConsole
from bareos.protocol.conversation import FAILURE_DELAY, initiator_steps
from bareos.protocol.cram import password_key
from bareos.protocol.hello import Hello, HelloKind, format_hello
from bareos.protocol.tlspolicy import TlsPolicy

LOOPBACK = "127.0.0.1"
DEFAULT_CONSOLE = "*UserAgent*"
CLIENT_CONNECTIONS_HEADER = "Client Initiated Connections (waiting for jobs):"


class ConsoleError(Exception):
    pass


class QuickConsole:
    def __init__(self, port, password, host=LOOPBACK, name=DEFAULT_CONSOLE, timeout=30,
                 source=None):
        """``source``: the local address to connect from (e.g. another loopback address)."""
        self._console = PlainConsole()
        director = types.SimpleNamespace(address=host, port=port)
        self.greeting = self._console.login(director, name, password_key(password),
                                            TlsPolicy.NONE, timeout,
                                            source_address=source and (source, 0))

    def command(self, line):
        """Run one command; return its output (up to the EOD).  Sub-prompts are cancelled."""
        output = []
        if not self._console.command(line, output.append, lambda prompt: "."):
            raise ConsoleError(f"the director ended the session during {line!r}")
        return "".join(output)

    def waiting_clients(self):
        """Names in the client-initiated section of ``status director`` (one per connection)."""
        return waiting_clients(self.command("status director"))

    def close(self):
        self._console.stop()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class QuickDirector(PlainConsole):
    """A director's command session with a file (or storage) daemon.

    ``log_in=False`` only connects and sends the hello; ``log_in()`` does the rest (a test
    can so queue connections in a known order and log them in one by one)."""

    def __init__(self, port, password, name, host=LOOPBACK, timeout=30, log_in=True):
        super().__init__()
        self.timeout = timeout
        self._key = password_key(password)
        self._name = name
        self.sock = socket.create_connection((host, port), timeout=timeout)
        try:
            self._send(format_hello(Hello(HelloKind.DIRECTOR, name, version=bareos.VERSION)))
            if log_in:
                self.log_in()
        except BaseException:
            self.stop()
            raise

    def log_in(self):
        """Answer the daemon's challenge and authenticate it; keeps its greeting."""
        self._converse(initiator_steps(self._key, f"R_DIRECTOR::{self._name}", TlsPolicy.NONE,
                                       FAILURE_DELAY), self.timeout)
        self.greeting = self._receive(self.timeout)

    def command(self, line):
        """Send one command line; return the first reply packet."""
        self._send(line)
        return self._receive(self.timeout)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def waiting_clients(status_text):
    """Client names listed under "Client Initiated Connections (waiting for jobs)"."""
    lines = status_text.splitlines()
    try:
        start = lines.index(CLIENT_CONNECTIONS_HEADER) + 3   # header, column titles, rule
    except ValueError:
        return []
    names = []
    for line in lines[start:]:
        if line.startswith("===="):
            break
        if line.strip():
            names.append(line[60:].strip())
    return names
