"""How a file or storage daemon refuses a director, packet by packet, as Bareos does.

Refused before any CRAM-MD5 (a cleartext hello from a director whose resource enables TLS):
a bare TERMINATE signal, no text -- python-bareos reads a text there as the CRAM challenge
and crashed on "2999 Authentication failed.".  A wrong answer to the challenge: the
challenge's "1999 Authorization failed.", then the daemon's own refusal line (the FD then
closes, the SD signals TERMINATE first).  A director the file daemon may not accept
(Connection From Director To Client = no) gets nothing at all.
"""

import socket
import struct

import pytest
import pytest_twisted
from twisted.internet import defer, reactor, threads

from bareos.config import parse_config_text
from bareos.config.schemas import FILEDAEMON, STORAGEDAEMON
from bareos.filedaemon.daemon import FileDaemon
from bareos.protocol import handshake
from bareos.protocol.framing import Signal
from bareos.storagedaemon.daemon import StorageDaemon
from bareos.testing.ports import free_port

DIRECTORS = """
Director {{ Name = tls-dir; Password = "tlspw"; TLS Enable = yes }}
Director {{ Name = plain-dir; Password = "plainpw"; TLS Enable = no }}
"""
FD_CONFIG = """
Client {{ Name = test-fd; FdAddress = 127.0.0.1; FdPort = {port}; Working Directory = "{work}" }}
Director {{ Name = dialled-only-dir; Password = "dialpw"; TLS Enable = no;
            Connection From Director To Client = no }}
""" + DIRECTORS
SD_CONFIG = """
Storage {{ Name = test-sd; SDAddress = 127.0.0.1; SDPort = {port}; Working Directory = "{work}" }}
Device {{ Name = FileStorage; Archive Device = "{work}"; Media Type = File }}
""" + DIRECTORS
TERMINATE = Signal.TERMINATE


@pytest.fixture(autouse=True)
def quick_refusals(monkeypatch):
    monkeypatch.setattr(handshake, "FAILURE_DELAY", 0.05)


@pytest.fixture(params=["fd", "sd"])
def daemon(request, tmp_path):
    port = free_port()
    schema, config_text, cls = {"fd": (FILEDAEMON, FD_CONFIG, FileDaemon),
                                "sd": (STORAGEDAEMON, SD_CONFIG, StorageDaemon)}[request.param]
    service = cls(parse_config_text(config_text.format(port=port, work=tmp_path), schema), reactor)
    service.port = port
    service.kind = request.param
    service.startService()
    yield service
    pytest_twisted.blockon(defer.maybeDeferred(service.stopService))


def _frame(data):
    return struct.pack("!i", len(data)) + data


def _login_packets(port, director):
    """Say hello as *director* in cleartext, answer any challenge wrongly, and return every
    packet (bytes, or a Signal) until the daemon closes the connection."""
    packets = []
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(_frame(f"Hello Director {director} calling\n".encode()))
        stream = sock.makefile("rb")
        while (header := stream.read(4)) and len(header) == 4:
            (length,) = struct.unpack("!i", header)
            if length <= 0:
                packets.append(Signal(length))
                continue
            packet = stream.read(length)
            packets.append(packet)
            if packet.startswith(b"auth cram-md5 "):
                sock.sendall(_frame(b"not+the+answer"))
    return packets


@pytest_twisted.ensureDeferred
async def test_a_cleartext_director_whose_resource_enables_tls_gets_terminate_alone(daemon):
    packets = await threads.deferToThread(_login_packets, daemon.port, "tls-dir")
    assert packets == [TERMINATE]


@pytest_twisted.ensureDeferred
async def test_a_wrong_answer_gets_the_daemons_refusal_line(daemon):
    packets = await threads.deferToThread(_login_packets, daemon.port, "plain-dir")
    assert packets[0].startswith(b"auth cram-md5 ")
    expected = {"fd": [b"1999 Authorization failed.\n", b"2999 Authentication failed.\n"],
                "sd": [b"1999 Authorization failed.\n", b"3999 No go\n", TERMINATE]}
    assert packets[1:] == expected[daemon.kind]


@pytest.mark.parametrize("daemon", ["fd"], indirect=True)
@pytest_twisted.ensureDeferred
async def test_a_director_the_file_daemon_does_not_accept_gets_no_answer(daemon):
    packets = await threads.deferToThread(_login_packets, daemon.port, "dialled-only-dir")
    assert packets == []
