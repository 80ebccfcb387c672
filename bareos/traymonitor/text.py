"""The live terminal view (``--text``): the model rendered as plain text, redrawn on change.

On a terminal each frame replaces the previous one (clear screen, home); written to a
pipe or file, frames follow each other, each ended by a form feed line, so a reader (or a
test) takes the text after the last-but-one form feed as the current view.  A frame is
written only when its content changed.
"""

import time

from bareos.traymonitor import check

CLEAR_SCREEN = "\x1b[H\x1b[2J"
FRAME_END = "\f\n"


def render(monitor_name: str, states) -> str:
    """One frame: the verdict, a line per daemon, then each daemon's status text."""
    states = list(states)
    if any(state.reachable is None for state in states):
        headline = "waiting for the first answer of every daemon"
    else:
        headline = check.verdict(states).line.split(" | ")[0]
    lines = [f"bareos-tray-monitor {monitor_name}", headline, ""]
    width = max(len(s.target.label) for s in states)
    for state in states:
        lines.append(f"{state.target.label:<{width}}  {_summary(state)}")
    for state in states:
        if state.reachable:
            lines += ["", f"--- {state.target.label} ---", state.status_text.rstrip("\n")]
    return "\n".join(lines) + "\n"


def _summary(state) -> str:
    if state.reachable is None:
        return "connecting"
    if not state.reachable:
        return f"UNREACHABLE: {state.reason}"
    jobs = ", ".join(f"{job.name} (JobId {job.jobid})" for job in state.running_jobs)
    line = f"running: {jobs}" if jobs else "idle"
    if state.failed_jobs:
        line += f"; failed in the last 24 h: {', '.join(job.name for job in state.failed_jobs)}"
    return line


class TextView:
    """Writes a frame to ``out`` whenever the model's rendering changes."""

    def __init__(self, model, monitor_name: str, out, is_terminal: bool) -> None:
        self.model = model
        self.monitor_name = monitor_name
        self.out = out
        self.is_terminal = is_terminal
        self._last = None
        model.subscribe(self.refresh)

    def refresh(self, model=None) -> None:
        frame = render(self.monitor_name, self.model.snapshot())
        if frame == self._last:
            return
        self._last = frame
        stamp = f"as of {time.strftime('%Y-%m-%d %H:%M:%S')}\n"
        if self.is_terminal:
            self.out.write(CLEAR_SCREEN + stamp + frame)
        else:
            self.out.write(stamp + frame + FRAME_END)
        self.out.flush()
