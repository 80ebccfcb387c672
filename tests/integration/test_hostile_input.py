"""Hostile input on loopback against real in-process daemons: over-long console lines,
numbers no catalog can store, and oversized frames in the middle of CRAM-MD5."""

import socket
import struct
import time
import types

import pytest
import pytest_twisted
from twisted.internet import defer, reactor, threads
from twisted.logger import formatEvent

from bareos.console.client import ConsoleClient
from bareos.director.console.arguments import MAX_COMMAND_LINE
from bareos.protocol import cram, handshake
from bareos.protocol.framing import MAX_PACKET_SIZE, Signal
from bareos.protocol.hello import format_hello
from bareos.protocol.tls import TlsPolicy

from fuzzing import unexpected_failures
from hostile_daemons import PEERS, build

TIMEOUT = 60


@pytest.fixture(autouse=True)
def quick_refusals(monkeypatch):
    monkeypatch.setattr(handshake, "FAILURE_DELAY", 0.05)


def login(director, name="admin", password="adminpw"):
    target = types.SimpleNamespace(address="127.0.0.1", port=director.port)
    return defer.ensureDeferred(ConsoleClient.connect(
        reactor, target, name, cram.password_key(password), TlsPolicy.NONE))


async def answer_text(conn):
    """The text of one api-0 answer (up to its EOD)."""
    parts = []
    while (packet := await conn.receive(timeout=TIMEOUT)) != Signal.EOD:
        if isinstance(packet, bytes):
            parts.append(packet.decode())
    return "".join(parts)


# -- 5b: one long line must not stall the director -------------------------------------------

@pytest_twisted.ensureDeferred
async def test_a_million_character_line_is_refused_while_another_console_is_served(director):
    attacker = await login(director)
    other = await login(director)
    line = b"help " + b"x" * (MAX_PACKET_SIZE - 5)             # the largest packet a peer may send
    started = time.monotonic()
    attacker.conn.transport.write(struct.pack("!i", len(line)) + line)
    other.conn.send("version")
    refused = defer.ensureDeferred(answer_text(attacker.conn))
    version = await answer_text(other.conn)
    version_took = time.monotonic() - started
    refusal = await refused
    refusal_took = time.monotonic() - started
    print(f"\n1,000,000-character line refused after {refusal_took:.3f} s; the other console's "
          f"version answered after {version_took:.3f} s")
    assert "test-dir Version: " in version
    assert refusal == (f"Command line too long ({MAX_PACKET_SIZE} characters, limit "
                       f"{MAX_COMMAND_LINE}); nothing was run.\n")
    attacker.conn.send("version")                               # the session is still usable
    assert "test-dir Version: " in await answer_text(attacker.conn)
    attacker.close()
    other.close()


# -- 7: numbers the catalog cannot store -----------------------------------------------------

@pytest.mark.parametrize("line, argument", [
    ("list jobid=99999999999999999999", 'jobid="99999999999999999999"'),
    ("llist jobid=99999999999999999999", 'jobid="99999999999999999999"'),
    ("list files jobid=99999999999999999999", 'jobid="99999999999999999999"'),
    ("delete jobid=99999999999999999999", 'jobid="99999999999999999999"'),
    ("list jobs limit=1x", 'limit="1x"'),            # (a limit of many digits means all)
    ("list jobid=2147483648", 'jobid="2147483648"'),
    ("list jobid=\u0663", 'jobid="\u0663"'),                      # a digit, but not ASCII
    ("list jobs limit=-1", 'limit="-1"'),
    ("cancel jobid=1_0", 'jobid="1_0"'),
    ("wait jobid=99999999999999999999", 'jobid="99999999999999999999"'),
    ("restore jobid=1,99999999999999999999 all done yes", 'jobid="99999999999999999999"'),
])
@pytest_twisted.ensureDeferred
async def test_numbers_out_of_range_get_an_error_not_an_internal_error(
        director, log_events, line, argument):
    client = await login(director)
    client.conn.send(line)
    answer = await answer_text(client.conn)
    assert answer.startswith(f"{argument} is not valid: give a number from "), answer
    assert unexpected_failures(log_events) == []
    client.conn.send("list jobid=1")                            # in range: an empty list
    assert "No results to list." in await answer_text(client.conn)
    client.close()


# -- 6: an oversized frame during CRAM-MD5, on every daemon's accept path ----------------------

def _oversized_frame_after_hello(port, hello):
    """Send the hello, read the challenge, send a length of 2^31-1; return the challenge,
    what came after it, and our port."""
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
        sock.sendall(struct.pack("!i", len(hello)) + hello)
        header = _read(sock, 4)
        challenge = _read(sock, struct.unpack("!i", header)[0])
        sock.sendall(struct.pack("!i", 2**31 - 1))
        rest = b""
        try:
            while chunk := sock.recv(65536):
                rest += chunk
        except ConnectionResetError:            # the daemon aborts a broken packet stream
            pass
        return challenge, rest, sock.getsockname()[1]


def _read(sock, count):
    data = b""
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        assert chunk, "connection closed early"
        data += chunk
    return data


@pytest.mark.parametrize("kind, peer", [
    (kind, index) for kind, peers in PEERS.items() for index in range(len(peers))])
@pytest_twisted.ensureDeferred
async def test_an_oversized_frame_during_cram_md5_is_one_log_line_and_a_closed_connection(
        tmp_path, log_events, kind, peer):
    daemon = build(kind, tmp_path, reactor)
    daemon.startService()
    try:
        hello, _password = PEERS[kind][peer]
        challenge, rest, our_port = await threads.deferToThread(
            _oversized_frame_after_hello, daemon.port, format_hello(hello))
    finally:
        await defer.maybeDeferred(daemon.stopService)
    assert challenge.startswith(b"auth cram-md5 <")
    assert rest in (b"", struct.pack("!i", Signal.TERMINATE))
    about_us = [formatEvent(e) for e in log_events if f"127.0.0.1:{our_port}" in formatEvent(e)]
    assert about_us == [f"Closing connection from 127.0.0.1:{our_port}: packet size too big "
                        f"(2147483647 bytes, limit {MAX_PACKET_SIZE})"]
    assert unexpected_failures(log_events) == []
