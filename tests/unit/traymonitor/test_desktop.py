"""The desktop view on Qt's offscreen platform (no X server, no system tray), fed by the
model on a task.Clock: icon, tooltip, window and tabs follow the model's changes.
The view under a real X server with a tray: tests/system/test_tray_monitor_desktop.py."""

import pytest
from twisted.internet.task import Clock

from tray_monitor_fakes import DIR, FD, FD_RUNNING, REFRESH, FakeDaemon, make_model, minimal_config
from bareos.testing.xdisplay import require_desktop
from bareos.traymonitor.main import main
from bareos.traymonitor.overview import TrayState


_applications = []      # Qt's application lives to the end of the process, as pytest-qt's


@pytest.fixture(scope="module")
def desktop():
    require_desktop(x_server=False)
    from PyQt5 import QtWidgets

    from bareos.traymonitor import desktop

    if QtWidgets.QApplication.instance() is None:
        _applications.append(QtWidgets.QApplication(["test", "-platform", "offscreen"]))
    return desktop


def icon_colour(view):
    """The colour of the tray icon's disc, left of its white mark."""
    return view.tray.icon().pixmap(64, 64).toImage().pixelColor(12, 32).name()


def test_the_icon_tooltip_and_tabs_follow_the_model(desktop):
    clock, daemons = Clock(), {DIR: FakeDaemon(), FD: FakeDaemon(FD_RUNNING)}
    model = make_model(daemons, clock)
    quits = []
    view = desktop.DesktopView(model, "tray-mon", lambda: quits.append("quit"))
    assert view.state == TrayState.CONNECTING
    assert view.window.isVisible()          # no system tray offscreen: the window instead

    model.start()
    assert view.state == TrayState.RUNNING
    assert icon_colour(view) == desktop.STATE_COLOURS[TrayState.RUNNING]
    assert view.tray.toolTip().splitlines()[-1] == "running: backup.2026-12-03_08.50.00_04"
    assert view.window.windowTitle() == "bareos-tray-monitor tray-mon: running"
    tabs = view.window.tabs
    assert [tabs.tabText(i) for i in range(tabs.count())] == ["director dir", "client fd"]
    assert tabs.tabToolTip(1) == "running: backup.2026-12-03_08.50.00_04 (JobId 4)"
    assert view.window.pages[FD].toPlainText() == FD_RUNNING

    daemons[FD].up = False
    clock.advance(REFRESH)
    assert view.state == TrayState.PROBLEM
    assert icon_colour(view) == desktop.STATE_COLOURS[TrayState.PROBLEM]
    assert view.window.headline.text().startswith("BAREOS CRITICAL - client fd unreachable")
    assert (view.window.pages[FD].toPlainText()
            == "client fd: UNREACHABLE: connection closed by peer\n")
    assert view.tray.toolTip().splitlines()[-1] == "no job running"

    view.window.close()                     # without a tray, closing the window quits
    assert quits == ["quit"]
    model.stop()


def test_without_a_display_the_desktop_view_says_so(desktop, tmp_path, monkeypatch, capsys):
    config = minimal_config(tmp_path)
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        monkeypatch.delenv(name, raising=False)
    assert main(["-c", str(config)]) == 1
    assert "no display for the desktop view" in capsys.readouterr().err
