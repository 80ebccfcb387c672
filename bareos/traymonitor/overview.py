"""What the views show of the model, in words and one of four icon states (pure, no Qt).

The terminal view and the desktop view read the model through these functions, so a
daemon's line, the headline and the tray icon's state follow one rule in every view.
"""

import enum

from bareos.traymonitor import check

WAITING = "waiting for the first answer of every daemon"


class TrayState(enum.IntEnum):
    """The tray icon's state; of several daemons, the highest value is shown."""

    IDLE = 0            # every daemon answered, no job runs, no job failed
    RUNNING = 1         # jobs run
    CONNECTING = 2      # not every daemon answered yet
    PROBLEM = 3         # a daemon is unreachable, or a director lists failed jobs

    @property
    def word(self) -> str:
        return self.name.lower()


def daemon_state(state) -> TrayState:
    if state.reachable is False or state.failed_jobs:
        return TrayState.PROBLEM
    if state.reachable is None:
        return TrayState.CONNECTING
    return TrayState.RUNNING if state.running_jobs else TrayState.IDLE


def tray_state(states) -> TrayState:
    return max((daemon_state(state) for state in states), default=TrayState.CONNECTING)


def headline(states) -> str:
    """The verdict of ``--check`` without its perfdata, once every daemon answered."""
    states = list(states)
    if any(state.reachable is None for state in states):
        return WAITING
    return check.verdict(states).line.split(" | ")[0]


def daemon_line(state) -> str:
    """One daemon in a few words: connecting, unreachable (why), idle or its running jobs."""
    if state.reachable is None:
        return "connecting"
    if not state.reachable:
        return f"UNREACHABLE: {state.reason}"
    jobs = ", ".join(f"{job.name} (JobId {job.jobid})" for job in state.running_jobs)
    line = f"running: {jobs}" if jobs else "idle"
    if state.failed_jobs:
        line += f"; failed in the last 24 h: {', '.join(job.name for job in state.failed_jobs)}"
    return line


def tooltip(monitor_name: str, states) -> str:
    """The tray icon's tooltip: the headline, then the running jobs, one a line."""
    states = list(states)
    running = check.running_job_names(states)
    lines = [f"bareos-tray-monitor {monitor_name}", headline(states)]
    lines += [f"running: {name}" for name in running] or ["no job running"]
    return "\n".join(lines)
