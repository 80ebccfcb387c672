"""Self-tests of the process harness (bareos.testing): they need none of our daemons.

A toy twistd plugin (an echo server written into tmp_path) stands in for a
daemon, so DaemonProcess start / log / restart / stop / kill are checked on a
real twistd process; the python-bareos driver is checked against a closed port.
"""

import signal
import socket
import subprocess
import sys
import textwrap

import pytest

from bareos.protocol.framing import Signal, encode_message, encode_signal
from bareos.testing import pybareos
from bareos.testing.daemons import (
    REPO_ROOT,
    DaemonProcess,
    Suite,
    tls_directives,
    write_config_tree,
)
from bareos.testing.ports import (
    DaemonNotListening,
    free_port,
    free_ports,
    is_listening,
    wait_for_port,
)
from bareos.testing.relay import TO_CLIENT, TO_SERVER, FaultyRelay
from bareos.testing.waiting import wait_until

TOY_DROPIN = """
from twisted.application.service import ServiceMaker
toy = ServiceMaker("toy-echo", "toy_echo_tap", "harness self-test echo server", "toy-echo")
"""

TOY_TAP = """
from twisted.application import strports
from twisted.internet import protocol
from twisted.protocols.wire import Echo
from twisted.python import log, usage


class Options(usage.Options):
    optParameters = [["port", "p", None, "port"], ["config", "c", None, "config"]]


class Announce(protocol.Factory):
    protocol = Echo

    def startFactory(self):
        log.msg("toy-echo: config %s" % (self.config,))


def makeService(config):
    f = Announce()
    f.config = config["config"]
    return strports.service("tcp:%s:interface=127.0.0.1" % config["port"], f)
"""


@pytest.fixture
def toy_plugin(tmp_path):
    root = tmp_path / "toyplugin"
    (root / "twisted" / "plugins").mkdir(parents=True)
    (root / "twisted" / "plugins" / "toy_echo_dropin.py").write_text(TOY_DROPIN)
    (root / "toy_echo_tap.py").write_text(TOY_TAP)
    return root


@pytest.fixture
def toy(toy_plugin, tmp_path):
    port = free_port()
    proc = DaemonProcess(
        "toy-echo",
        tmp_path / "some.conf",
        port=port,
        run_dir=tmp_path / "run",
        extra_args=["--port", str(port)],
        extra_pythonpath=[toy_plugin],
    )
    try:
        yield proc
    finally:
        proc.stop()


def _echo(port: int, data: bytes = b"ping") -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(data)
        return s.recv(100)


def test_free_port_is_bindable_and_free_ports_distinct():
    port = free_port()
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))
    ports = free_ports(5)
    assert len(set(ports)) == 5


def test_free_port_refuses_non_loopback():
    with pytest.raises(ValueError):
        free_port("192.0.2.1")


def test_wait_for_port_reports_exited_process_with_log_tail(tmp_path):
    log = tmp_path / "d.log"
    log.write_text("line one\nfatal: cannot read config\n")
    proc = subprocess.Popen([sys.executable, "-c", "import sys; sys.exit(3)"])
    try:
        with pytest.raises(DaemonNotListening) as e:
            wait_for_port(free_port(), process=proc, log_path=log, name="fake-daemon", timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
    assert "fake-daemon exited with status 3" in str(e.value)
    assert "fatal: cannot read config" in str(e.value)


def test_wait_for_port_times_out_when_nothing_listens(tmp_path):
    with pytest.raises(DaemonNotListening, match="did not listen"):
        wait_for_port(free_port(), timeout=0.2, log_path=tmp_path / "missing.log")


def test_wait_for_port_sees_a_listener():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        wait_for_port(port, timeout=10)
        wait_for_port(port, timeout=10, connect=True)
        assert is_listening(port)
    assert not is_listening(port)


def test_relay_counts_the_signals_it_forwards_in_each_direction():
    with socket.create_server(("127.0.0.1", 0)) as server:
        relay = FaultyRelay(server.getsockname()[1])
        try:
            with socket.create_connection(("127.0.0.1", relay.port)) as client:
                peer, _ = server.accept()
                with peer:
                    sent = encode_message(b"Hello") + encode_signal(Signal.HEARTBEAT)
                    client.sendall(sent[:6])                # a packet split across reads
                    client.sendall(sent[6:])
                    peer.sendall(encode_signal(Signal.HB_RESPONSE) * 2)
                    wait_until(lambda: relay.signals(TO_CLIENT)[Signal.HB_RESPONSE] == 2
                               and relay.signals(TO_SERVER)[Signal.HEARTBEAT] == 1, 10,
                               "the signals are counted")
                    assert relay.signals(TO_SERVER) == {Signal.HEARTBEAT: 1}
            # a stream that is no Bareos packet stream (TLS) is forwarded, not counted
            with socket.create_connection(("127.0.0.1", relay.port)) as client:
                peer, _ = server.accept()
                with peer:
                    client.sendall(b"\x16\x03\x01\x02\x00" + encode_signal(Signal.HEARTBEAT))
                    peer.settimeout(10)
                    assert peer.recv(100).startswith(b"\x16\x03\x01")
            assert relay.signals(TO_SERVER) == {Signal.HEARTBEAT: 1}
        finally:
            relay.stop()


def test_daemon_process_life_cycle(toy):
    toy.start()
    assert toy.running
    assert is_listening(toy.port, pid=toy.pid)
    assert _echo(toy.port) == b"ping"
    assert "toy-echo: config" in toy.log_text()
    first_pid = toy.pid

    toy.restart()
    assert toy.pid != first_pid and toy.starts == 2
    assert _echo(toy.port, b"again") == b"again"
    assert "toy-echo: config" in toy.log_text(since_start=True)

    rc = toy.stop()
    # twistd re-raises SIGTERM after its clean shutdown
    assert rc in (0, -signal.SIGTERM)
    assert not toy.killed_after_timeout
    assert "Server Shut Down." in toy.log_text()
    assert not toy.running
    assert toy.stop() == rc  # idempotent


def test_daemon_process_kill(toy):
    toy.start()
    assert toy.kill() == -signal.SIGKILL
    assert not toy.running


def test_daemon_process_unknown_plugin_fails_clearly(tmp_path):
    proc = DaemonProcess("no-such-plugin", None, port=free_port(), run_dir=tmp_path)
    with pytest.raises(DaemonNotListening, match="exited with status"):
        proc.start()
    assert not proc.running


def test_write_config_tree(tmp_path):
    base = write_config_tree(tmp_path, "bareos-dir", {"director/bareos-dir.conf": "Director {}\n"})
    assert base == tmp_path / "bareos-dir.d"
    assert (base / "director" / "bareos-dir.conf").read_text() == "Director {}\n"
    with pytest.raises(ValueError):
        write_config_tree(tmp_path, "bareos-dir.d", {"../escape.conf": ""})


def test_suite_configs_match(tmp_path):
    suite = Suite(tmp_path)
    suite.add_console("admin", tls="required")
    d = suite.director_config(client_tls="enabled")
    fd = suite.fd_config(monitor=True)
    sd = suite.sd_config()
    bcon = suite.bconsole_config("admin")
    assert len({suite.dir_port, suite.fd_port, suite.sd_port}) == 3
    assert f"DirPort = {suite.dir_port}" in d and f"DirPort = {suite.dir_port}" in bcon
    assert f'Password = "{suite.fd_password}"' in d and f'Password = "{suite.fd_password}"' in fd
    assert f'Password = "{suite.sd_password}"' in d and f'Password = "{suite.sd_password}"' in sd
    assert f"FdPort = {suite.fd_port}" in fd and f"Port = {suite.fd_port}" in d
    assert f"SdPort = {suite.sd_port}" in sd and f"Port = {suite.sd_port}" in d
    assert "Monitor = yes" in fd
    assert f'Password = "{suite.consoles["admin"].password}"' in bcon
    assert textwrap.dedent(
        """\
        Console {
          Name = "admin"
        """
    ) in d
    assert "DirAddress = 127.0.0.1" in d and "FdAddress = 127.0.0.1" in fd and "SdAddress = 127.0.0.1" in sd
    assert tls_directives("required") == ["TLS Enable = yes", "TLS Require = yes"]
    assert tls_directives(False) == ["TLS Enable = no", "TLS Require = no"]
    root = suite.write("dir")
    assert (root / "bareos-dir.d" / "console" / "admin.conf").is_file()
    assert suite.write("fd", "file").name == "bareos-fd.conf"


def test_pybareos_driver_reports_connection_refused_as_json(pybareos_venv):
    port = free_port()
    answer = pybareos.director_console(port, "secret", calls=["status director"])
    assert answer["ok"] is False
    assert answer["error_type"] == "ConnectionError"
    assert "Connection refused" in answer["message"]
    assert answer["authentication_error"] is False

    flood = pybareos.failed_logins(port, "x", logins=4, concurrency=2)
    assert flood["ok"] and flood["attempts"] == 4 and flood["succeeded"] == 0
    assert flood["errors"] == {"ConnectionError": 4}


def test_pybareos_driver_never_sees_our_package(pybareos_venv):
    """Their ``bareos`` is python-bareos, not ours, whatever our environment says."""
    out = subprocess.run(
        [str(pybareos_venv), "-I", "-c", "import bareos, bareos.bsock; print(bareos.__file__)"],
        cwd="/",
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert ".venv-pybareos" in out or "site-packages" in out
    assert str(REPO_ROOT / "bareos") not in out
