"""Client-initiated connections in one process: a real Director and a real FileDaemon whose
director link dials it, on 127.0.0.1 with the real reactor."""

import socket
import types

import pytest
import pytest_twisted
from twisted.internet import defer, reactor, task
from twisted.logger import formatEvent

from bareos.config import parse_config_text
from bareos.config.schemas import DIRECTOR, FILEDAEMON
from bareos.director.daemon import Director
from bareos.director.jobs.common import client_link
from bareos.director.links import DaemonUnreachable
from bareos.filedaemon.daemon import FileDaemon
from bareos.filedaemon.director_link import LinkState
from bareos.protocol import handshake
from bareos.protocol.framing import Signal, encode_packet
from bareos.protocol.hello import Hello, HelloKind, format_hello
from bareos.testing.ports import free_port, refusing_port
from bareos.testing.waiting import wait_until_in_reactor

DIRECTOR_CONFIG = """
Director {{ Name = test-dir; DirAddress = 127.0.0.1; DirPort = {port}; Password = "dirpw";
           Messages = Daemon; Working Directory = "{work}"; TLS Enable = no; {limits} }}
Client {{ Name = fd1; Address = 127.0.0.1; Port = 1; Password = "fdpw"; {tls}
         Connection From Client To Director = yes; Connection From Director To Client = no }}
Client {{ Name = intruder; Address = 127.0.0.1; Port = 1; Password = "fdpw"; TLS Enable = no }}
Messages {{ Name = Daemon; Console = all }}
Catalog {{ Name = MyCatalog; DB Driver = sqlite3; DB Name = bareos }}
"""

FD_CONFIG = """
Client {{ Name = {name}; Working Directory = "{work}"; Heartbeat Interval = 1;
         Reconnect Min Interval = 1; Reconnect Max Interval = 2 }}
Director {{ Name = test-dir; Password = "{password}"; Address = 127.0.0.1; Port = {port}; {tls}
           Connection From Client To Director = yes; Connection From Director To Client = no }}
Messages {{ Name = Standard; Append = "{log}" = all }}
"""

CLEAR = "TLS Enable = no;"
PSK = "TLS Enable = yes; TLS Require = yes;"
TIMEOUT = 20


@pytest.fixture(autouse=True)
def quick_refusals(monkeypatch):
    monkeypatch.setattr(handshake, "FAILURE_DELAY", 0.05)


def start_director(tmp_path, tls, limits=""):
    port = free_port()
    work = tmp_path / "dir"
    work.mkdir()
    config = parse_config_text(DIRECTOR_CONFIG.format(port=port, work=work, tls=tls,
                                                      limits=limits), DIRECTOR)
    director = Director(config, reactor)
    director.port = port
    director.startService()
    return director


def start_fd(tmp_path, director, tls, name="fd1", password="fdpw"):
    work = tmp_path / f"fd-{name}"
    work.mkdir()
    config = parse_config_text(FD_CONFIG.format(
        name=name, work=work, password=password, port=director.port, tls=tls,
        log=work / "fd.log"), FILEDAEMON)
    fd = FileDaemon(config, reactor)
    fd.log_path = work / "fd.log"
    fd.startService()
    return fd


def waiting_names(director):
    return [entry.name for entry in director.client_connections.entries()]


@pytest.fixture
def stoppers():
    services = []
    yield services
    for service in reversed(services):
        pytest_twisted.blockon(defer.maybeDeferred(service.stopService))


@pytest.mark.parametrize("tls", [CLEAR, PSK], ids=["cleartext", "tls-psk"])
@pytest_twisted.ensureDeferred
async def test_waiting_connection_is_taken_for_status_and_replaced(tmp_path, stoppers, tls):
    director = start_director(tmp_path, tls)
    stoppers.append(director)
    fd = start_fd(tmp_path, director, tls)
    stoppers.append(fd)
    await wait_until_in_reactor(lambda: waiting_names(director) == ["fd1"], TIMEOUT,
                                "the FD waits in the director")
    entry = director.client_connections.entries()[0]
    assert entry.conn.is_tls == (tls == PSK)
    assert entry.protocol_version == 54
    await wait_until_in_reactor(lambda: entry.heartbeats >= 2, TIMEOUT,
                                "heartbeats arrive and are answered")
    assert fd.director_links[0].state is LinkState.WAITING

    link, how = await client_link(director, director.config.get("client", "fd1"), 5)
    assert how == "Using Client Initiated Connection (fd1)"
    link.send("status\n")
    output = []
    while (packet := await link.receive(TIMEOUT)) != Signal.EOD:
        output.append(packet.decode())
    text = "".join(output)
    assert "fd1 Version:" in text
    assert "Client Initiated Connections (to directors):" in text
    assert "test-dir (director) connected at:" in text         # the session knows its director
    link.close()
    await wait_until_in_reactor(lambda: waiting_names(director) == ["fd1"], TIMEOUT,
                                "a new waiting connection, opened at once")
    assert director.client_connections.entries()[0] is not entry
    assert fd.director_links[0].taken == 1


@pytest_twisted.ensureDeferred
async def test_over_a_full_queue_a_connection_waits_in_the_listen_backlog(tmp_path, stoppers):
    # Maximum Connections raised to 11 (1 console + 10, Bareos' rule) and 2 in the queue:
    # 13 silent peers fill both
    director = start_director(tmp_path, CLEAR, limits="Maximum Connections = 1; "
                                                      "Maximum Console Connections = 1; "
                                                      "Maximum Waiting Connections = 2")
    stoppers.append(director)
    blockers = [socket.create_connection(("127.0.0.1", director.port)) for _ in range(13)]
    admission = director.admission
    await wait_until_in_reactor(lambda: admission.served == 11 and len(admission.waiting) == 2,
                                TIMEOUT, "11 served and 2 waiting")
    assert admission.intake_paused
    late = socket.create_connection(("127.0.0.1", director.port))   # the kernel completes it
    late.sendall(encode_packet(format_hello(Hello(HelloKind.CLIENT, "fd1", version="25.1.1"))))
    late.setblocking(False)
    await task.deferLater(reactor, 0.1, lambda: None)   # the director would have accepted it
    for blocker in blockers:
        blocker.close()

    def challenged():
        try:
            return late.recv(100)                   # b"" had it been accepted and refused
        except BlockingIOError:
            return None
    answer = await wait_until_in_reactor(challenged, TIMEOUT, "the late peer's turn")
    late.close()
    assert b"auth cram-md5" in answer and not admission.intake_paused


@pytest_twisted.ensureDeferred
async def test_wrong_password_is_retried_with_backoff_and_logged(tmp_path, stoppers):
    director = start_director(tmp_path, CLEAR)
    stoppers.append(director)
    fd = start_fd(tmp_path, director, CLEAR, password="wrong")
    stoppers.append(fd)
    link = fd.director_links[0]
    await wait_until_in_reactor(lambda: link.failures >= 2, TIMEOUT, "two failed attempts")
    assert waiting_names(director) == []
    assert "authentication failed" in link.last_error
    log = fd.log_path.read_text()
    assert "Cannot keep a connection to Director test-dir at 127.0.0.1:" in log


@pytest_twisted.ensureDeferred
async def test_a_client_not_allowed_to_connect_is_refused(tmp_path, stoppers):
    director = start_director(tmp_path, CLEAR)
    stoppers.append(director)
    fd = start_fd(tmp_path, director, CLEAR, name="intruder")
    stoppers.append(fd)
    await wait_until_in_reactor(lambda: fd.director_links[0].failures >= 1, TIMEOUT,
                                "a refused attempt")
    assert waiting_names(director) == []


@pytest_twisted.ensureDeferred
async def test_director_restart_is_survived(tmp_path, stoppers):
    director = start_director(tmp_path, CLEAR)
    fd = start_fd(tmp_path, director, CLEAR)
    stoppers.append(fd)
    await wait_until_in_reactor(lambda: waiting_names(director) == ["fd1"], TIMEOUT,
                                "the FD waits in the director")
    await director.stopService()
    port = director.port
    await wait_until_in_reactor(lambda: fd.director_links[0].failures >= 2, TIMEOUT,
                                "refused twice: the backoff is at its bound (2 s)")
    config = director.config
    director = Director(config, reactor)
    director.port = port
    director.startService()
    stoppers.append(director)
    await wait_until_in_reactor(lambda: waiting_names(director) == ["fd1"], 2 + 5,
                                "the FD is back within the backoff bound")
    with pytest.raises(DaemonUnreachable, match="cannot connect to client intruder"):
        await client_link(director, config.get("client", "intruder"), 0.2, retry_interval=0.1)


@pytest_twisted.ensureDeferred
async def test_a_client_connecting_while_the_director_dials_it_is_used(tmp_path, stoppers):
    director = start_director(tmp_path, CLEAR)
    stoppers.append(director)
    client = director.config.get("client", "fd1")
    client.connection_from_director_to_client = True          # dialling port 1: refused
    reaching = defer.ensureDeferred(client_link(director, client, 3, retry_interval=0.5))
    fd = start_fd(tmp_path, director, CLEAR)
    stoppers.append(fd)
    await wait_until_in_reactor(lambda: waiting_names(director) == ["fd1"], TIMEOUT,
                                "the FD waiting")
    assert not reaching.called                                 # still dialling
    link, how = await reaching
    assert how == "Using Client Initiated Connection (fd1), which arrived while waiting"
    link.close()


@pytest_twisted.ensureDeferred
async def test_a_refused_connection_is_reported_in_one_sentence(tmp_path, stoppers, log_events):
    """The reason Twisted gives ("...: Connection refused.") is not followed by a second
    full stop in the FD's log and messages."""
    with refusing_port() as port:
        fd = start_fd(tmp_path, types.SimpleNamespace(port=port), CLEAR)
        stoppers.append(fd)
        link = fd.director_links[0]
        await wait_until_in_reactor(lambda: link.failures >= 1, TIMEOUT, "a failed attempt")
    assert link.last_error == "Connection refused"
    await fd.messages.files.written()        # the message file is written off the reactor
    log_lines = [formatEvent(event) for event in log_events]
    reported = [line for line in log_lines + fd.log_path.read_text().splitlines()
                if "Connection refused" in line]
    assert reported, log_lines
    assert not [line for line in reported if ".." in line], reported
