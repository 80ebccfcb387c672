"""A cleartext console session over a blocking socket: no Twisted, no pyOpenSSL.

bconsole started from a script pays its start-up on every command (benchmarks,
cron jobs, ``echo "run job=x yes" | bconsole``); importing Twisted and pyOpenSSL
costs about 0.3-0.4 s of it.  When the console's policy is cleartext (``TLS Enable =
no``) nothing of them is needed: this module speaks the same conversation as
:class:`bareos.console.client.ConsoleClient` (hello, CRAM-MD5 both ways, greeting,
commands with sub-prompts) with the pure protocol pieces.  TLS consoles keep using
the Twisted client.
"""

import socket

import bareos
from bareos.console.login import ConsoleLoginFailed
from bareos.protocol import cram
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
            payload = payload.encode("utf-8")
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
    def login(self, director, name, key, policy, timeout):
        if policy != TlsPolicy.NONE:
            raise ValueError("PlainConsole is for cleartext consoles only")
        try:
            self.sock = socket.create_connection((director.address, director.port), timeout=timeout)
        except OSError as exc:
            raise ConsoleLoginFailed(f"cannot connect to {director.address}:{director.port}: "
                                     f"{exc.strerror or exc}") from None
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        hello = Hello(HelloKind.CONSOLE, name, version=bareos.VERSION, calling_version=bareos.VERSION)
        try:
            self._send(format_hello(hello))
            self._authenticate(key, f"R_CONSOLE::{name}", timeout)
            return self._read_greeting()
        except _Closed:
            raise ConsoleLoginFailed(
                "Director closed the connection during login: wrong password, unknown console, "
                "or a TLS setting that does not match the director's") from None

    def _authenticate(self, key, own_name, timeout):
        # the initiator answers first, then challenges (handshake.authenticate_as_initiator)
        try:
            token, remote_policy, compatible = cram.parse_challenge(self._receive(timeout))
        except cram.CramError as exc:
            raise ConsoleLoginFailed(f"Director authorization problem: {exc}") from None
        if cram.is_reflected(token, own_name):
            raise ConsoleLoginFailed("Director authorization problem: peer reflected our own "
                                     "challenge back to us")
        self._send(cram.response_for(key, token, compatible) + b"\x00")
        if self._receive(timeout) != cram.OK_AUTH:
            raise ConsoleLoginFailed("Director authorization problem: peer refused our answer "
                                     "(wrong password?)")
        message, token = cram.make_challenge(own_name, TlsPolicy.NONE)
        self._send(message)
        if not cram.verify_response(key, token, self._receive(timeout)):
            self._send(cram.AUTH_FAILED)
            raise ConsoleLoginFailed("Director authorization problem: peer's answer to our "
                                     "challenge is wrong (wrong password?)")
        self._send(cram.OK_AUTH)
        if min(remote_policy, TlsPolicy.REQUIRED) == TlsPolicy.REQUIRED:
            raise ConsoleLoginFailed("Director authorization problem: TLS is required by one "
                                     "side but the connection is cleartext")

    def _read_greeting(self):
        lines = []
        while True:
            packet = self._receive(GREETING_TIMEOUT)
            if not isinstance(packet, bytes):
                raise ConsoleLoginFailed(f"unexpected {Signal(packet).name} during login")
            code, _, text = packet.decode("utf-8", "replace").partition("\x1e")
            if code == "1000":
                lines.append(f"1000 {text}")
            elif code == "1002":
                lines += text.splitlines()
                return lines
            elif code == "1001":
                raise ConsoleLoginFailed("the director asks for PAM authentication, "
                                         "which this console does not support")
            else:
                raise ConsoleLoginFailed(packet.decode("utf-8", "replace").strip())

    def command(self, line, on_text, ask):
        """Send one command; ``on_text`` for output, ``ask(prompt)`` for sub-prompts."""
        try:
            self._send(line)
            prompt = []
            while True:
                packet = self._receive()
                if isinstance(packet, bytes):
                    text = packet.decode("utf-8", "replace")
                    prompt.append(text)
                    on_text(text)
                elif packet == Signal.SUB_PROMPT:
                    answer = ask("".join(prompt[-1:]))
                    prompt = []
                    self._send(answer)
                elif packet in (Signal.EOD, Signal.MAIN_PROMPT):
                    return True
                elif packet == Signal.TERMINATE:
                    return False
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
