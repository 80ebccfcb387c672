"""The console protocol of a real director on loopback, packet by packet."""

import json
import socket
import struct
import types

import pytest
import pytest_twisted
from twisted.internet import defer, reactor, threads
from twisted.internet.endpoints import HostnameEndpoint, wrapClientTLS
from twisted.internet.protocol import Factory

from bareos.console.client import ConsoleClient, ConsoleLoginFailed
from bareos.protocol import cram, handshake
from bareos.protocol.connection import BareosConnection, ConnectionClosed
from bareos.protocol.framing import Signal
from bareos.protocol.hello import Hello, HelloKind, format_hello
from bareos.protocol.tls import PskClientContextFactory, TlsPolicy, psk_identity


pytestmark = pytest.mark.usefixtures("quick_refusals")


def login(director, name="admin", password="adminpw", policy=TlsPolicy.NONE):
    target = types.SimpleNamespace(address="127.0.0.1", port=director.port)
    return defer.ensureDeferred(ConsoleClient.connect(
        reactor, target, name, cram.password_key(password), policy))


async def packets_until(conn, *terminators):
    received = []
    while True:
        packet = await conn.receive(timeout=10)
        received.append(packet)
        if packet in terminators:
            return received


@pytest_twisted.ensureDeferred
async def test_default_console_status_director_in_api_0(director):
    client = await login(director, "*UserAgent*", "dirpw")
    assert "You are connected using the default console" in client.greeting
    client.conn.send("status director")
    packets = await packets_until(client.conn, Signal.EOD)
    text = b"".join(p for p in packets if isinstance(p, bytes)).decode()
    assert text.startswith("test-dir Version: ")
    assert "Client Initiated Connections (waiting for jobs):\n" \
           "Connect time        Protocol            Authenticated       Name" in text
    assert "=" * 100 + "\n====\n" in text
    client.close()


@pytest_twisted.ensureDeferred
async def test_api_1_frames_every_command_with_signals(director):
    client = await login(director)
    conn = client.conn
    conn.send(".api 1")
    assert await packets_until(conn, Signal.MAIN_PROMPT) == [b"api: 1\n", Signal.CMD_OK, Signal.MAIN_PROMPT]
    conn.send("whoami")
    assert await packets_until(conn, Signal.MAIN_PROMPT) == [
        Signal.CMD_BEGIN, b"admin\n", Signal.CMD_OK, Signal.MAIN_PROMPT]
    conn.send("nonsense")
    assert await packets_until(conn, Signal.MAIN_PROMPT) == [
        Signal.CMD_BEGIN, Signal.ERROR_MSG, b"nonsense: is an invalid command.\n",
        Signal.CMD_FAILED, Signal.MAIN_PROMPT]
    client.close()


@pytest_twisted.ensureDeferred
async def test_api_2_answers_json_rpc_documents(director):
    client = await login(director)
    conn = client.conn
    conn.send(".api json compact=yes")
    assert await packets_until(conn, Signal.MAIN_PROMPT) == [
        Signal.CMD_OK, b'{"jsonrpc":"2.0","id":null,"result":{"api":2}}', Signal.MAIN_PROMPT]
    conn.send("list clients")
    packets = await packets_until(conn, Signal.MAIN_PROMPT)
    assert packets[:2] == [Signal.CMD_BEGIN, Signal.CMD_OK]
    document = json.loads(packets[2])
    assert [c["name"] for c in document["result"]["clients"]] == ["fd-one", "fd-two"]
    conn.send("frobnicate")
    packets = await packets_until(conn, Signal.MAIN_PROMPT)
    assert packets[:2] == [Signal.CMD_BEGIN, Signal.CMD_FAILED]
    assert json.loads(packets[2])["error"] == {
        "code": 1, "message": "failed",
        "data": {"result": {}, "messages": {"error": ["frobnicate: is an invalid command.\n"]}}}
    conn.send("status director")
    document = json.loads((await packets_until(conn, Signal.MAIN_PROMPT))[2])
    assert set(document["result"]) >= {"header", "scheduled", "running", "terminated",
                                       "client-connection"}
    client.close()


@pytest_twisted.ensureDeferred
async def test_commands_match_by_prefix(director):
    client = await login(director)
    output = []
    await client.command("who", output.append, None)
    await client.command("stat dir", output.append, None)
    assert output[0] == "admin\n"
    assert "Client Initiated Connections" in "".join(output[1:])
    client.close()


@pytest_twisted.ensureDeferred
async def test_a_restricted_console_sees_only_what_its_acls_grant(director):
    client = await login(director, "limited", "limitedpw")
    output = []
    await client.command("show clients", output.append, None)
    assert output == ["show: is an invalid command.\n"]
    output.clear()
    await client.command("list clients", output.append, None)
    listed = "".join(output)
    assert "fd-one" in listed and "fd-two" not in listed
    client.close()


@pytest_twisted.ensureDeferred
async def test_wrong_password_and_unknown_console_are_refused_alike(director, log_lines):
    for name, password in (("admin", "wrong"), ("nobody", "adminpw")):
        with pytest.raises(ConsoleLoginFailed):
            await login(director, name, password)
    assert any("unknown console 'nobody'" in line for line in log_lines)
    client = await login(director)           # and the director still serves
    client.close()


@pytest_twisted.ensureDeferred
async def test_cleartext_is_refused_when_the_console_has_tls(director, log_lines):
    with pytest.raises((ConsoleLoginFailed, ConnectionClosed)):
        await login(director, "tlsonly", "tlspw", TlsPolicy.NONE)
    assert any("cleartext connection refused for 'tlsonly'" in line for line in log_lines)
    client = await login(director, "tlsonly", "tlspw", TlsPolicy.REQUIRED)
    assert client.conn.is_tls
    assert any(line.startswith("Encryption: TLS") or "PSK" in line for line in client.greeting)
    client.close()


@pytest.mark.parametrize("hello", [b"Hello admin calling 100\n",            # Bacula 9.6's bconsole
                                   b"Hello admin calling 100 tlspsk=0\n"])  # Bacula 11's
@pytest_twisted.ensureDeferred
async def test_a_bacula_console_hello_logs_in_with_cram_md5_like_a_console_before_18_2(
        director, hello):
    endpoint = HostnameEndpoint(reactor, "127.0.0.1", director.port)
    conn = await endpoint.connect(Factory.forProtocol(BareosConnection))
    conn.send(hello)
    await handshake.authenticate_as_initiator(
        conn, cram.password_key("adminpw"), "R_CONSOLE::admin", TlsPolicy.NONE, reactor)
    greeting = await conn.receive(timeout=10)
    assert greeting.startswith(b"1000 OK: test-dir Version: ")
    conn.send("whoami")
    assert await packets_until(conn, Signal.EOD) == [b"admin\n", Signal.EOD]
    conn.close()


@pytest_twisted.ensureDeferred
async def test_the_psk_identity_must_name_the_console_of_the_hello(director, log_lines):
    # TLS as "admin" with admin's key, then claim to be "limited" in the hello.
    endpoint = wrapClientTLS(
        PskClientContextFactory(psk_identity("R_CONSOLE", "admin"), cram.password_key("adminpw")),
        HostnameEndpoint(reactor, "127.0.0.1", director.port))
    conn = await endpoint.connect(Factory.forProtocol(BareosConnection))
    conn.send(format_hello(Hello(HelloKind.CONSOLE, "limited", calling_version="25.1.1")))
    with pytest.raises(handshake.AuthenticationFailed):
        await handshake.authenticate_as_initiator(
            conn, cram.password_key("limitedpw"), "R_CONSOLE::limited", TlsPolicy.NONE, reactor)
    assert any("TLS-PSK identity was ('R_CONSOLE', 'admin')" in line for line in log_lines)


@pytest_twisted.ensureDeferred
async def test_maximum_console_connections_is_enforced(director):
    clients = [await login(director) for _ in range(3)]
    with pytest.raises(ConsoleLoginFailed):
        await login(director)
    clients.pop().close()
    await _settle()
    clients.append(await login(director))
    for client in clients:
        client.close()


async def _settle():
    d = defer.Deferred()
    reactor.callLater(0.2, d.callback, None)
    await d


def _raw_exchange(port, payload):
    """Send bytes on a fresh connection; return what comes back until the director closes
    or resets it (it aborts a connection whose framing is broken)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(payload)
        received = b""
        while True:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                return received
            if not chunk:
                return received
            received += chunk


@pytest.mark.parametrize("payload, reason", [
    (struct.pack("!i", 2_000_000) + b"Hello " + b"x" * 100, "packet size too big"),
    (struct.pack("!i", 6) + b"Hello \x00", "unknown hello"),
    (struct.pack("!i", 10_020) + b"Hello " + b"n" * 10_000 + b" calling\n" + b"x" * 5, "too long"),
    (struct.pack("!i", 18) + b"Hello a\x00b calling\n", "invalid name in hello"),
])
@pytest_twisted.ensureDeferred
async def test_malformed_first_packets_close_the_connection_with_a_log_line(
        director, log_lines, payload, reason):
    answer = await threads.deferToThread(_raw_exchange, director.port, payload)
    assert answer in (b"", struct.pack("!i", Signal.TERMINATE))
    assert any(reason in line for line in log_lines), log_lines
    client = await login(director)
    client.close()


@pytest_twisted.ensureDeferred
async def test_garbage_instead_of_tls_or_hello_is_dropped(director):
    answer = await threads.deferToThread(_raw_exchange, director.port, b"GET / HTTP/1.0\r\n\r\n")
    assert b"HTTP" not in answer
    client = await login(director)
    client.close()
