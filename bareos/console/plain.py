"""A cleartext console session over a blocking socket: no Twisted, no pyOpenSSL.

bconsole started from a script pays its start-up on every command (benchmarks,
cron jobs, ``echo "run job=x yes" | bconsole``); importing Twisted and pyOpenSSL
costs about 0.3-0.4 s of it.  When the console's policy is cleartext (``TLS Enable =
no``) nothing of them is needed: this module runs the same conversations as
:class:`bareos.console.client.ConsoleClient` (``bareos.protocol.conversation`` and
``bareos.console.conversation``: CRAM-MD5 both ways, greeting, commands with
sub-prompts) over a blocking socket.  TLS consoles keep using
the Twisted client.
"""

import socket
import time

import bareos
from bareos.console.conversation import command_steps, greeting_steps
from bareos.console.login import ConsoleLoginFailed
from bareos.protocol.conversation import (
    FAILURE_DELAY, RECEIVE, Ask, AuthenticationFailed, Sleep, initiator_steps)
from bareos.protocol.framing import (
    FramingError, PacketDecoder, Signal, encode_message, encode_signal)
from bareos.protocol.hello import Hello, HelloKind, format_hello
from bareos.protocol.tlspolicy import TlsPolicy

GREETING_TIMEOUT = 30
_SKIPPED = (Signal.HEARTBEAT, Signal.HB_RESPONSE)


class _Closed(Exception):
    pass


class PlainConsole:
    """Same calls as :class:`bareos.console.client.BlockingConsole`, cleartext only."""

    def __init__(self):
        self.sock = None
        self._decoder = PacketDecoder()
        self._packets = []

    # -- packets -------------------------------------------------------------
    def _send(self, payload):
        if isinstance(payload, str):
            payload = payload.encode("utf-8", "surrogateescape")
        self.sock.sendall(encode_message(payload))

    def _receive(self, timeout=None):
        self.sock.settimeout(timeout)
        while not self._packets:
            try:
                data = self.sock.recv(1 << 16)
            except socket.timeout:
                raise ConsoleLoginFailed(f"no answer from the director within {timeout:g} seconds") \
                    from None
            if not data:
                raise _Closed("connection closed by the director")
            try:
                packets = self._decoder.feed(data)
            except FramingError as exc:
                raise _Closed(str(exc)) from None
            self._packets.extend(p for p in packets if p not in _SKIPPED)
        return self._packets.pop(0)

    # -- session -------------------------------------------------------------
    def login(self, director, name, key, policy, timeout, source_address=None):
        """``source_address``: (host, port) to connect from, as for socket.create_connection."""
        if policy != TlsPolicy.NONE:
            raise ValueError("PlainConsole is for cleartext consoles only")
        try:
            self.sock = socket.create_connection((director.address, director.port), timeout=timeout,
                                                 source_address=source_address)
        except OSError as exc:
            raise ConsoleLoginFailed(f"cannot connect to {director.address}:{director.port}: "
                                     f"{exc.strerror or exc}") from None
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        hello = Hello(HelloKind.CONSOLE, name, version=bareos.VERSION, calling_version=bareos.VERSION)
        try:
            self._send(format_hello(hello))
            remote_policy = self._converse(
                initiator_steps(key, f"R_CONSOLE::{name}", TlsPolicy.NONE, FAILURE_DELAY), timeout)
            if remote_policy == TlsPolicy.REQUIRED:
                raise ConsoleLoginFailed("Director authorization problem: the director requires "
                                         "TLS but this console has TLS Enable = no")
            return self._converse(greeting_steps(), GREETING_TIMEOUT)
        except AuthenticationFailed as exc:
            raise ConsoleLoginFailed(f"Director authorization problem: {exc}") from None
        except _Closed:
            raise ConsoleLoginFailed(
                "Director closed the connection during login: wrong password, unknown console, "
                "or a TLS setting that does not match the director's") from None

    def _converse(self, steps, timeout=None, ask=None):
        """Run a conversation (``bareos.protocol.conversation``) over the socket."""
        reply = None
        while True:
            try:
                step = steps.send(reply)
            except StopIteration as done:
                return done.value
            reply = None
            if step is RECEIVE:
                reply = self._receive(timeout)
            elif isinstance(step, Sleep):
                time.sleep(step.seconds)
            elif isinstance(step, Ask):
                reply = ask(step.prompt)
            else:
                self._send(step)

    def command(self, line, on_text, ask):
        """Send one command; ``on_text`` for output, ``ask(prompt)`` for sub-prompts."""
        try:
            return self._converse(command_steps(line, on_text), ask=ask)
        except (_Closed, OSError):
            return False

    def stop(self):
        if self.sock is not None:
            try:
                self.sock.sendall(encode_signal(Signal.TERMINATE))
            except OSError:
                pass
            self.sock.close()
            self.sock = None
