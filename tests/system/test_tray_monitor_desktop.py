"""The tray monitor's desktop view for real: on a headless X display (Xvfb) with a system
tray (trayer), watching our three daemons while a backup runs, ends, and the storage daemon
stops.  The icon's state is read from the view's log and from screenshots of the screen.

Without Xvfb, trayer or PyQt5 the test is skipped with the reason; in CI (CI=true) that is
a failure.
"""

import re

import pytest

from tray_monitor_helpers import (
    DesktopMonitor, backup_source, finish_backup, start_daemons, start_slow_backup,
    write_monitor_config)
from bareos.testing.daemons import Suite
from bareos.testing.waiting import wait_until
from bareos.testing.xdisplay import HeadlessDesktop, require_desktop, tray_region

HANG_GUARD = 60
pytestmark = pytest.mark.slow        # ~15 s: a backup, X, a tray; the offscreen unit test is quick


@pytest.fixture(scope="module")
def desktop(tmp_path_factory):
    require_desktop()
    screen = HeadlessDesktop(tmp_path_factory.mktemp("x-display"))
    try:
        yield screen
    finally:
        screen.stop()


@pytest.fixture(scope="module")
def daemons(tmp_path_factory):
    suite = Suite(tmp_path_factory.mktemp("tray-desktop"))
    try:
        start_daemons(suite, suite.backup_resources(backup_source(suite.base / "source")))
        yield suite
    finally:
        suite.stop()


def tray_shows(screenshot):
    """The icon states whose colour the tray area of ``screenshot`` holds."""
    from PyQt5.QtGui import QColor, QImage

    from bareos.traymonitor.desktop import STATE_COLOURS

    image = QImage(str(screenshot))
    left, top, width, height = tray_region()
    colours = {image.pixelColor(x, y).name()
               for x in range(left, left + width) for y in range(top, top + height)}
    return {state.word for state, colour in STATE_COLOURS.items()
            if QColor(colour).name() in colours}


def test_the_tray_icon_follows_a_backup_and_a_storage_daemon_that_stops(desktop, daemons,
                                                                        tmp_path):
    view = DesktopMonitor(write_monitor_config(daemons, refresh=1),
                          tmp_path / "desktop-view.log", desktop.env)

    def icon_after(count, state, what):
        changes = wait_until(lambda: (len(view.icon_changes()) > count
                                      and view.icon_changes()[-1][0] == state
                                      and view.icon_changes()), HANG_GUARD, what)
        return changes[-1][1]

    try:
        icon_after(1, "idle", "the icon turns idle once every daemon answered")
        assert [state for state, _ in view.icon_changes()] == ["connecting", "idle"]

        jobid = start_slow_backup(daemons)
        headline = icon_after(2, "running", "the icon shows the running backup")
        job_name = re.search(r"\b1 job running: (backup\.\S+),", headline)[1]
        running = desktop.screenshot(tmp_path / "tray-running.png")

        finish_backup(daemons, jobid, job_name)
        icon_after(3, "idle", "the icon turns idle after the backup")
        idle = desktop.screenshot(tmp_path / "tray-idle.png")

        assert running.read_bytes() != idle.read_bytes()
        assert tray_shows(running) == {"running"}
        assert tray_shows(idle) == {"idle"}

        daemons.daemons["sd"].stop()
        headline = icon_after(4, "problem", "the icon shows the storage daemon unreachable")
        assert f"storage {daemons.storage_daemon_name} unreachable" in headline, headline
        assert tray_shows(desktop.screenshot(tmp_path / "tray-problem.png")) == {"problem"}
        assert [state for state, _ in view.icon_changes()] == [
            "connecting", "idle", "running", "idle", "problem"]
        assert view.proc.poll() is None
    finally:
        exit_status = view.stop()
    assert exit_status == 0, view.output.read_text()      # SIGTERM: an orderly stop
