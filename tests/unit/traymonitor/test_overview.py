"""What the views show of the daemons' states: the tray icon's state and its tooltip."""

from bareos.protocol.tlspolicy import TlsPolicy
from bareos.traymonitor.config import Target
from bareos.traymonitor.model import DaemonState
from bareos.traymonitor.overview import TrayState, daemon_state, tooltip, tray_state
from bareos.traymonitor.statustext import Job

JOB = Job(4, "backup.2026-12-03_08.50.00_04")


def state(kind, **kw):
    return DaemonState(Target(kind, kind, "h", 1, b"k", TlsPolicy.NONE, 5), **kw)


def test_each_daemon_is_connecting_idle_running_or_a_problem():
    assert daemon_state(state("client")) == TrayState.CONNECTING
    assert daemon_state(state("client", reachable=True)) == TrayState.IDLE
    assert daemon_state(state("client", reachable=True, running_jobs=(JOB,))) == TrayState.RUNNING
    assert daemon_state(state("client", reachable=False, reason="refused")) == TrayState.PROBLEM
    assert daemon_state(state("director", reachable=True, running_jobs=(JOB,),
                              failed_jobs=(Job(3, "backup.2026-12-03_01.00.00_03"),))
                        ) == TrayState.PROBLEM


def test_the_icon_shows_the_worst_daemon_a_problem_before_waiting_before_jobs():
    idle, running = state("director", reachable=True), state("client", reachable=True,
                                                             running_jobs=(JOB,))
    down, waiting = state("storage", reachable=False, reason="refused"), state("storage")
    assert tray_state([idle, idle]) == TrayState.IDLE
    assert tray_state([idle, running]) == TrayState.RUNNING
    assert tray_state([running, waiting]) == TrayState.CONNECTING
    assert tray_state([waiting, down, running]) == TrayState.PROBLEM


def test_the_tooltip_lists_each_running_job_once():
    states = [state(kind, reachable=True, running_jobs=(JOB,))
              for kind in ("director", "client", "storage")]
    assert tooltip("tray-mon", states).splitlines() == [
        "bareos-tray-monitor tray-mon",
        "BAREOS OK - all daemons reachable; 3/3 daemons reachable, 1 job running: "
        "backup.2026-12-03_08.50.00_04, 0 failed in the last 24 h",
        "running: backup.2026-12-03_08.50.00_04"]
    assert tooltip("tray-mon", [state("client")]).splitlines()[1:] == [
        "waiting for the first answer of every daemon", "no job running"]
