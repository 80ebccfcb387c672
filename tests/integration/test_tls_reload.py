"""Reload, all or nothing, with new TLS settings for new connections: an in-process director
(console ``reload``'s method) and file daemon (SIGHUP, sent to this process)."""

import os
import signal
import types

import pytest
import pytest_twisted
from twisted.internet import defer, reactor

from bareos.config import ConfigError, load_config, parse_config_text
from bareos.config.schemas import CONSOLE, FILEDAEMON
from bareos.console.client import ConsoleClient, ConsoleLoginFailed
from bareos.console.login import login_parameters
from bareos.director.jobs.common import client_link
from bareos.director.links import DaemonUnreachable
from bareos.filedaemon.daemon import FileDaemon
from bareos.network.tls import session_kind, settings
from bareos.protocol import cram
from bareos.testing.certificates import TestCA
from bareos.testing.director_tree import start_director
from bareos.testing.ports import free_port
from bareos.testing.waiting import wait_until_in_reactor

DIRECTOR_RESOURCE = """Director { Name = test-dir; DirAddress = 127.0.0.1; DirPort = {port};
  Password = "dirpw"; Messages = Daemon; Working Directory = "{workdir}"; %s }"""
CERTIFICATE = ('TLS Certificate = "%(pki)s/test-dir.pem"; TLS Key = "%(pki)s/test-dir-key.pem"; '
               'TLS CA Certificate File = "%(pki)s/ca.pem";')
FILES = {
    "console/admin.conf": 'Console { Name = admin; Password = "adminpw"; Command ACL = *all* }',
    "messages/Daemon.conf": "Messages { Name = Daemon; Console = all }",
    "catalog/MyCatalog.conf": "Catalog { Name = MyCatalog; DB Driver = sqlite3; DB Name = bareos }",
    "client/fd1.conf": 'Client { Name = fd1; Address = 127.0.0.1; Port = {fd_port}; '
                       'Password = "fdpw"; TLS Enable = no }',
}


pytestmark = pytest.mark.usefixtures("quick_refusals")


@pytest.fixture
def pki(tmp_path):
    ca = TestCA(tmp_path / "pki")
    ca.issue("test-dir", dns_names=["localhost"])
    return tmp_path / "pki"


@pytest.fixture
def director(tmp_path, pki):
    files = dict(FILES, **{"director/test-dir.conf": DIRECTOR_RESOURCE % ""})
    files["client/fd1.conf"] = files["client/fd1.conf"].replace("{fd_port}", "9")
    service = start_director(tmp_path / "dir", files, reactor)
    pytest_twisted.blockon(service.catalog_ready())
    yield service
    pytest_twisted.blockon(service.stopService())


def certificate_console(pki):
    text = f"""Director {{ Name = test-dir; Address = localhost; Password = "dirpw" }}
Console {{ Name = admin; Password = "adminpw"; TLS PSK Enable = no;
          TLS CA Certificate File = "{pki}/ca.pem" }}"""
    return settings(login_parameters(parse_config_text(text, CONSOLE))[3])


def login(director, tls):
    target = types.SimpleNamespace(address="localhost", port=director.port)
    return defer.ensureDeferred(ConsoleClient.connect(
        reactor, target, "admin", cram.password_key("adminpw"), tls, timeout=5))


def rewrite_director(director, directives):
    path = director.tree / "director" / "test-dir.conf"
    text = DIRECTOR_RESOURCE % directives
    path.write_text(text.replace("{port}", str(director.port))
                    .replace("{workdir}", str(director.tree.parent)) + "\n")


@pytest_twisted.ensureDeferred
async def test_a_certificate_added_by_reload_serves_new_connections(director, pki):
    with pytest.raises(ConsoleLoginFailed):                 # no certificate yet
        await login(director, certificate_console(pki))
    psk_console = await login(director, settings(director.config.get("console", "admin")))

    rewrite_director(director, CERTIFICATE % {"pki": pki})
    await director.reload_config()
    client = await login(director, certificate_console(pki))
    assert session_kind(client.conn) == "TLS"
    output = []
    await psk_console.command("whoami", output.append, None)   # kept over the reload
    assert output == ["admin\n"]
    client.close()
    psk_console.close()


@pytest_twisted.ensureDeferred
async def test_a_broken_tls_setting_keeps_the_configuration_in_use(director, pki):
    rewrite_director(director, CERTIFICATE % {"pki": pki})
    await director.reload_config()
    rewrite_director(director, CERTIFICATE % {"pki": pki / "missing"})
    with pytest.raises(ConfigError, match="Director test-dir: cannot read TLS Certificate"):
        await director.reload_config()
    client = await login(director, certificate_console(pki))      # still served as before
    assert session_kind(client.conn) == "TLS"
    client.close()


FD_CONFIG = """
Client {{ Name = fd1; FdAddress = 127.0.0.1; FdPort = {fd_port}; Working Directory = "{work}" }}
Director {{ Name = test-dir; Password = "{password}"; TLS Enable = no }}
Messages {{ Name = Standard; Append = "{work}/fd.log" = all }}
"""


@pytest_twisted.ensureDeferred
async def test_sighup_makes_a_file_daemon_take_a_new_director_password(tmp_path, director,
                                                                       log_lines):
    fd_port = free_port()
    config_file = tmp_path / "bareos-fd.conf"
    config_file.write_text(FD_CONFIG.format(fd_port=fd_port, work=tmp_path, password="old"))
    fd = FileDaemon(load_config(config_file, FILEDAEMON), reactor)
    fd.config_path = str(config_file)
    fd.startService()
    previous = signal.getsignal(signal.SIGHUP)
    client = director.config.get("client", "fd1")
    client.port = fd_port
    try:
        fd.reload_on_sighup()
        with pytest.raises(DaemonUnreachable, match="authorization failed"):
            await client_link(director, client, 1, retry_interval=5)

        config_file.write_text("Client { Name = fd1; this is not a directive }\n")
        os.kill(os.getpid(), signal.SIGHUP)
        await wait_until_in_reactor(
            lambda: [line for line in log_lines if "fd1: reload failed, the configuration in use "
                     "stays: " in line and "bareos-fd.conf:1" in line], 10,
            "the failed reload logged")
        assert fd.config.get("director", "test-dir").password.key == cram.password_key("old")
        config_file.write_text(FD_CONFIG.format(fd_port=fd_port, work=tmp_path, password="fdpw"))
        os.kill(os.getpid(), signal.SIGHUP)
        await wait_until_in_reactor(lambda: fd.config.get("director", "test-dir").password.key
                                    == cram.password_key("fdpw"), 10, "the FD reloaded")
        link, _ = await client_link(director, client, 5)
        link.close()
    finally:
        signal.signal(signal.SIGHUP, previous)
        await fd.stopService()


LINKED_FD_CONFIG = """
Client {{ Name = fd1; Working Directory = "{work}"; Reconnect Min Interval = 1;
         Reconnect Max Interval = 2 }}
Director {{ Name = test-dir; Password = "fdpw"; Address = 127.0.0.1; Port = {dir_port};
           TLS Enable = no; Connection From Client To Director = yes;
           Connection From Director To Client = no }}
Messages {{ Name = Standard; Append = "{work}/fd.log" = all }}
"""


@pytest_twisted.ensureDeferred
async def test_reload_takes_a_new_client_and_closes_a_removed_ones_waiting_connection(
        tmp_path, director):
    client_file = director.tree / "client" / "fd1.conf"
    client_file.write_text('Client { Name = fd1; Address = 127.0.0.1; Password = "fdpw"; '
                           'TLS Enable = no; Connection From Client To Director = yes }\n')
    await director.reload_config()
    fd = FileDaemon(parse_config_text(LINKED_FD_CONFIG.format(
        work=tmp_path, dir_port=director.port), FILEDAEMON), reactor)
    fd.startService()
    try:
        await wait_until_in_reactor(lambda: director.client_connections.entries(), 10,
                                    "the new client's connection waits in the director")
        waiting = director.client_connections.entries()[0]
        client_file.unlink()
        await director.reload_config()
        await wait_until_in_reactor(lambda: not waiting.conn.is_open, 10,
                                    "the removed client's connection is closed")
        assert director.config.get("client", "fd1") is None
    finally:
        await fd.stopService()
