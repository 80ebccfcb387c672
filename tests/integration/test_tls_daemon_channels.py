"""Certificate TLS on the director's control channels to a file daemon, both ways, in one
process: a real Director and a real FileDaemon with certificates made here, on 127.0.0.1."""

import pytest
import pytest_twisted
from twisted.internet import defer, reactor

from bareos.config import parse_config_text
from bareos.config.schemas import DIRECTOR, FILEDAEMON
from bareos.director.daemon import Director
from bareos.director.jobs.common import client_link
from bareos.director.links import DaemonUnreachable
from bareos.filedaemon.daemon import FileDaemon
from bareos.network.tls import common_name, session_kind
from bareos.testing.certificates import TestCA
from bareos.testing.ports import free_port
from bareos.testing.waiting import wait_until_in_reactor
from bareos.traymonitor.config import load_monitor_config
from bareos.traymonitor.sessions import open_session

CERTIFICATE = ('TLS Certificate = "{pki}/{name}.pem"; TLS Key = "{pki}/{name}-key.pem"; '
               'TLS CA Certificate File = "{pki}/ca.pem"; ')

DIRECTOR_CONFIG = """
Director {{ Name = test-dir; DirAddress = 127.0.0.1; DirPort = {dir_port}; Password = "dirpw";
           Messages = Daemon; Working Directory = "{work}"; {dir_certificate} }}
Client {{ Name = fd1; Address = localhost; Port = {fd_port}; Password = "fdpw";
         {dir_certificate} TLS Verify Peer = yes; {client_tls}
         Connection From Client To Director = {initiated}; Connection From Director To Client = yes }}
Messages {{ Name = Daemon; Console = all }}
Catalog {{ Name = MyCatalog; DB Driver = sqlite3; DB Name = bareos }}
"""

FD_CONFIG = """
Client {{ Name = fd1; FdAddress = 127.0.0.1; FdPort = {fd_port}; Working Directory = "{work}";
         {fd_certificate} TLS Verify Peer = yes; TLS Allowed CN = test-dir;
         Reconnect Min Interval = 1; Reconnect Max Interval = 2 }}
Director {{ Name = test-dir; Password = "fdpw"; Address = localhost; Port = {dir_port};
           TLS CA Certificate File = "{pki}/ca.pem"; TLS Verify Peer = yes; {director_tls}
           Connection From Client To Director = {initiated}; Connection From Director To Client = yes }}
Messages {{ Name = Standard; Append = "{work}/fd.log" = all }}
"""

CERTIFICATE_ONLY = "TLS PSK Enable = no;"


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    directory = tmp_path_factory.mktemp("pki")
    ca = TestCA(directory)
    ca.issue("test-dir", dns_names=["localhost"])
    ca.issue("fd1", dns_names=["localhost"])
    return directory


pytestmark = pytest.mark.usefixtures("quick_refusals")


@pytest.fixture
def start(tmp_path, pki):
    """``start(client_tls=..., director_tls=..., initiated=...)`` -> (director, fd)."""
    services = []

    def start_both(client_tls="", director_tls="", initiated="no"):
        values = dict(dir_port=free_port(), fd_port=free_port(), pki=pki, initiated=initiated,
                      client_tls=client_tls, director_tls=director_tls,
                      dir_certificate=CERTIFICATE.format(pki=pki, name="test-dir"),
                      fd_certificate=CERTIFICATE.format(pki=pki, name="fd1"))
        (tmp_path / "dir").mkdir()
        (tmp_path / "fd").mkdir()
        director = Director(parse_config_text(
            DIRECTOR_CONFIG.format(work=tmp_path / "dir", **values), DIRECTOR), reactor)
        director.port = values["dir_port"]
        director.startService()
        services.append(director)
        fd = FileDaemon(parse_config_text(
            FD_CONFIG.format(work=tmp_path / "fd", **values), FILEDAEMON), reactor)
        fd.startService()
        services.append(fd)
        return director, fd

    yield start_both
    for service in reversed(services):
        pytest_twisted.blockon(defer.maybeDeferred(service.stopService))


def peer_cn(conn):
    cert = conn.transport.getHandle().get_peer_certificate()
    return None if cert is None else common_name(cert)


@pytest_twisted.ensureDeferred
async def test_director_to_fd_with_certificates_both_verified(start):
    director, _ = start(client_tls=CERTIFICATE_ONLY)
    link, _ = await client_link(director, director.config.get("client", "fd1"), 5)
    assert session_kind(link.conn) == "TLS"
    assert peer_cn(link.conn) == "fd1"
    link.close()


@pytest_twisted.ensureDeferred
async def test_director_to_fd_with_both_uses_psk(start):
    director, _ = start()
    link, _ = await client_link(director, director.config.get("client", "fd1"), 5)
    assert session_kind(link.conn) == "TLS-PSK"
    link.close()


@pytest_twisted.ensureDeferred
async def test_director_refuses_an_fd_certificate_whose_cn_is_not_allowed(start, log_lines):
    director, _ = start(client_tls=CERTIFICATE_ONLY + " TLS Allowed CN = fd2;")
    with pytest.raises(DaemonUnreachable):
        await client_link(director, director.config.get("client", "fd1"), 1, retry_interval=5)
    assert any("common name 'fd1' is not in TLS Allowed CN" in line for line in log_lines)


@pytest_twisted.ensureDeferred
async def test_client_initiated_connection_with_certificates(start):
    director, _ = start(director_tls=CERTIFICATE_ONLY, initiated="yes")
    await wait_until_in_reactor(lambda: director.client_connections.entries(), 10,
                                "the FD waits in the director")
    conn = director.client_connections.entries()[0].conn
    assert session_kind(conn) == "TLS"


TRAY_MONITOR_CONFIG = """
Monitor {{ Name = test-dir; Password = "unused" }}
Client {{ Name = fd1; Address = localhost; Port = {port}; Password = "fdpw";
         TLS Certificate = "{pki}/{name}.pem"; TLS Key = "{pki}/{name}-key.pem";
         TLS CA Certificate File = "{pki}/ca.pem"; TLS Verify Peer = yes; TLS PSK Enable = no }}
"""


def tray_monitor_target(tmp_path, pki, fd, certificate_of):
    path = tmp_path / f"tray-monitor-{certificate_of}.conf"
    path.write_text(TRAY_MONITOR_CONFIG.format(port=fd.resource.port, pki=pki,
                                               name=certificate_of))
    return load_monitor_config(path).targets[0]


@pytest_twisted.ensureDeferred
async def test_the_tray_monitor_watches_a_file_daemon_over_certificates(start, pki, tmp_path):
    _, fd = start()
    target = tray_monitor_target(tmp_path, pki, fd, certificate_of="test-dir")
    session = await open_session(reactor, "test-dir", target)
    try:
        assert session_kind(session.link.conn) == "TLS"
        assert peer_cn(session.link.conn) == "fd1"
        assert "fd1" in await session.query()
    finally:
        session.close()


@pytest_twisted.ensureDeferred
async def test_a_tray_monitor_certificate_whose_cn_is_not_allowed_is_refused(
        start, pki, tmp_path, log_lines):
    _, fd = start()
    target = tray_monitor_target(tmp_path, pki, fd, certificate_of="fd1")
    with pytest.raises(DaemonUnreachable):
        await open_session(reactor, "test-dir", target)
    assert any("common name 'fd1' is not in TLS Allowed CN" in line for line in log_lines)
