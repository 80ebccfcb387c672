"""The live terminal view (``--text``): the model rendered as plain text, redrawn on change.

On a terminal each frame replaces the previous one (clear screen, home); written to a
pipe or file, frames follow each other, each ended by a form feed line, so a reader (or a
test) takes the text after the last-but-one form feed as the current view.  A frame is
written only when its content changed.
"""

import time

from bareos.traymonitor import overview

CLEAR_SCREEN = "\x1b[H\x1b[2J"
FRAME_END = "\f\n"


def render(monitor_name: str, states) -> str:
    """One frame: the verdict, a line per daemon, then each daemon's status text."""
    states = list(states)
    lines = [f"bareos-tray-monitor {monitor_name}", overview.headline(states), ""]
    width = max(len(s.target.label) for s in states)
    for state in states:
        lines.append(f"{state.target.label:<{width}}  {overview.daemon_line(state)}")
    for state in states:
        if state.reachable:
            lines += ["", f"--- {state.target.label} ---", state.status_text.rstrip("\n")]
    return "\n".join(lines) + "\n"


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
