"""The verdict of --check, the command line's exit statuses, and heartbeat answers."""

import sys

from twisted.internet.testing import StringTransport

import bareos.traymonitor
from tray_monitor_fakes import minimal_config
from bareos.protocol.connection import BareosConnection
from bareos.protocol.framing import Signal, encode_signal
from bareos.protocol.tlspolicy import TlsPolicy
from bareos.traymonitor import check
from bareos.traymonitor.config import Target
from bareos.traymonitor.main import main
from bareos.traymonitor.model import DaemonState
from bareos.traymonitor.sessions import answer_heartbeats
from bareos.traymonitor.statustext import Job


def state(kind, name, **kw):
    return DaemonState(Target(kind, name, "h", 1, b"k", TlsPolicy.NONE, 5), **kw)


def test_failed_jobs_warn_and_unreachable_daemons_are_critical():
    failed = (Job(7, "backup.2026-12-03_01.00.00_07"),)
    states = [state("director", "dir", reachable=True, failed_jobs=failed),
              state("client", "fd", reachable=True)]
    verdict = check.verdict(states)
    assert verdict.code == check.WARNING
    assert verdict.line.startswith(
        "BAREOS WARNING - 1 job failed in the last 24 h: backup.2026-12-03_01.00.00_07;")
    assert verdict.line.endswith("failed_24h=1;1;;0")
    states.append(state("storage", "sd", reachable=False, reason="Connection refused"))
    assert check.verdict(states).code == check.CRITICAL


def test_a_running_job_counts_once_though_three_daemons_show_it():
    job = (Job(4, "backup.2026-12-03_08.50.00_04"),)
    states = [state(kind, kind, reachable=True, running_jobs=job)
              for kind in ("director", "client", "storage")]
    assert " running=1;;;0 " in check.verdict(states).line


def test_check_says_unknown_for_a_bad_configuration_or_option(tmp_path, capsys):
    assert main(["-c", str(tmp_path / "missing.conf"), "--check"]) == check.UNKNOWN
    assert capsys.readouterr().out.startswith("BAREOS UNKNOWN - configuration error: ")
    assert main(["--check", "--no-such-option"]) == check.UNKNOWN
    assert main(["-c", str(tmp_path / "missing.conf"), "-t"]) == 1


def test_heartbeats_are_answered():
    conn = BareosConnection()
    transport = StringTransport()
    conn.makeConnection(transport)
    answer_heartbeats(conn)
    conn.dataReceived(encode_signal(Signal.HEARTBEAT))
    assert transport.value() == encode_signal(Signal.HB_RESPONSE)


def test_without_qt_the_desktop_view_says_what_to_install(tmp_path, monkeypatch, capsys):
    config = minimal_config(tmp_path)
    monkeypatch.setitem(sys.modules, "PyQt5", None)          # PyQt5 cannot be imported
    monkeypatch.delitem(sys.modules, "bareos.traymonitor.desktop", raising=False)
    monkeypatch.delattr(bareos.traymonitor, "desktop", raising=False)
    assert main(["-c", str(config)]) == 1
    error = capsys.readouterr().err
    assert error.startswith("bareos-tray-monitor: the desktop view needs PyQt5 and qt5reactor: "
                            "on Debian install python3-pyqt5 and python3-qt5reactor"), error
    assert "--text and --check need neither" in error
