"""The three daemons as a user runs them: ``twistd -n bareos-{dir,fd,sd} -c PATH``.

* each starts from a ``bareos-*.d/<type>/<name>.conf`` tree and from a single file;
* ``-t`` on a good config exits 0 with an OK verdict and does not listen;
* ``-t`` on a bad config exits non-zero and names file and line;
* a bad config without ``-t``: the daemon refuses to start, naming file and line;
* SIGTERM stops each daemon cleanly;
* a port already taken stops the daemon at start, saying which.
"""

import re
import signal
import socket

import pytest

from bareos.testing.daemons import PLUGINS, DaemonNotListening, write_config_tree
from bareos.testing.ports import is_listening

DAEMONS = [pytest.param(d, id=PLUGINS[d]) for d in ("dir", "fd", "sd")]
LAYOUTS = ["tree", "file"]

# twistd: after a clean shutdown it re-raises the terminating signal, so a
# daemon stopped by SIGTERM exits 0 or "killed by SIGTERM" -- both are clean
# (systemd counts SIGTERM as success too).  A crash or SIGKILL is neither.
CLEAN_EXIT = (0, -signal.SIGTERM)
# logged by twistd itself once the reactor has stopped and services are down
STOPPED_MARKERS = ("Main loop terminated.", "Server Shut Down.")


def _assert_no_crash(text: str) -> None:
    assert "Traceback (most recent call last)" not in text, text
    assert "Unhandled Error" not in text, text


def _bad_line_config(suite, daemon, layout, tmp_path):
    """Write a config with one unknown directive; return (path for -c, file name, line number)."""
    resources = {"dir": suite.director_resources, "fd": suite.fd_resources, "sd": suite.sd_resources}[daemon]()
    first_key = next(iter(resources))  # the daemon's own resource (Director / Client / Storage)
    lines = resources[first_key].splitlines(keepends=True)
    # line 1 "Type {", line 2 "  Name = ...", then the bad directive as line 3
    lines.insert(2, "  Bogus Directive = 42\n")
    resources[first_key] = "".join(lines)
    plugin = PLUGINS[daemon]
    if layout == "tree":
        root = tmp_path / "bad" / daemon
        write_config_tree(root, f"{plugin}.d", resources)
        return root, first_key.rsplit("/", 1)[-1], 3
    path = tmp_path / "bad" / f"{plugin}.conf"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(resources.values()))  # the first resource comes first: line 3
    return path, path.name, 3


def _refused_start(suite, daemon, config) -> str:
    """Start a daemon that must exit instead of listening; its log and output."""
    proc = suite.daemon(daemon, config)
    suite.daemons[daemon] = proc  # the fixture stops it whatever happens
    with pytest.raises(DaemonNotListening, match="exited with status"):
        proc.start()
    assert proc.returncode not in (None, 0), proc.describe()
    return proc.log_text() + proc.output_text()


def _names_file_and_line(text: str, filename: str, line: int) -> bool:
    # "<...>/bareos-dir.conf:3", "bareos-dir.conf, line 3", "bareos-dir.conf line 3: ..."
    return re.search(rf"{re.escape(filename)}\"?(:|,? line |\s*\(line )\s*{line}\b", text) is not None


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("daemon", DAEMONS)
def test_daemon_starts_and_stops_cleanly_on_sigterm(suite, daemon, layout):
    proc = suite.start(daemon, layout)  # waits until the daemon's own socket listens
    assert proc.running
    assert is_listening(suite.port_of(daemon), pid=proc.pid)

    rc = proc.stop()

    assert not proc.killed_after_timeout, f"needed SIGKILL after SIGTERM\n{proc.describe()}"
    assert rc in CLEAN_EXIT, f"exit status {rc}\n{proc.describe()}"
    log = proc.log_text()
    assert all(m in log for m in STOPPED_MARKERS), log
    _assert_no_crash(log + proc.output_text())
    assert not is_listening(suite.port_of(daemon))


@pytest.mark.parametrize("daemon", DAEMONS)
def test_daemon_restarts_on_same_port(suite, daemon):
    proc = suite.start(daemon)
    proc.restart()
    assert proc.running and proc.starts == 2
    assert is_listening(suite.port_of(daemon), pid=proc.pid)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("daemon", DAEMONS)
def test_check_good_config(suite, twistd_check, daemon, layout):
    config = suite.write(daemon, layout)

    result = twistd_check(PLUGINS[daemon], config)

    assert result.returncode == 0, str(result)
    assert re.search(r"(?i)\bok\b", result.output), str(result)
    _assert_no_crash(result.output)
    assert not is_listening(suite.port_of(daemon)), "-t must only check, not serve"


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("daemon", DAEMONS)
def test_check_bad_config_names_file_and_line(suite, twistd_check, tmp_path, daemon, layout):
    config, filename, line = _bad_line_config(suite, daemon, layout, tmp_path)

    result = twistd_check(PLUGINS[daemon], config)

    assert result.returncode != 0, str(result)
    assert _names_file_and_line(result.output, filename, line), str(result)
    _assert_no_crash(result.output)


@pytest.mark.parametrize("daemon", DAEMONS)
def test_bad_config_refuses_to_start(suite, tmp_path, daemon):
    config, filename, line = _bad_line_config(suite, daemon, "tree", tmp_path)

    text = _refused_start(suite, daemon, config)

    assert _names_file_and_line(text, filename, line), text


@pytest.mark.parametrize("daemon", DAEMONS)
def test_a_port_already_taken_stops_the_daemon_at_start_with_a_clear_message(suite, daemon):
    config = suite.write(daemon)
    with socket.socket() as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind(("127.0.0.1", suite.port_of(daemon)))
        squatter.listen()

        text = _refused_start(suite, daemon, config)

    assert f"cannot listen on 127.0.0.1:{suite.port_of(daemon)}: Address already in use" in text, \
        text
    _assert_no_crash(text)
