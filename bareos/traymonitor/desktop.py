"""The desktop view: a system-tray icon and a status window (PyQt5), live from the model.

Qt and Twisted share one thread and one event loop: ``install_reactor`` makes the
QApplication and installs qt5reactor, a Twisted reactor that runs inside Qt's loop
(sockets through QSocketNotifier, timed calls through a QTimer).  The model's polling
loops and the widgets thus run on the same loop; the view subscribes to the model like
the terminal view does and never polls, and no call crosses threads.  (Running Twisted
in a second thread would need every model change marshalled to Qt's thread; pumping
``reactor.iterate()`` from a QTimer would wake both loops for nothing and delay I/O by
the timer's period.)

The icon shows ``overview.TrayState``: green idle, blue with a play mark while jobs
run, grey while connecting, red with an exclamation mark when a daemon is unreachable
or a job failed.  Its tooltip lists the running jobs.  The window has the headline and
one tab per daemon with its status text, as Bareos' tray monitor shows it.  Every
change of the icon's state is logged (``tray icon <state>: <headline>``).
"""

from twisted.logger import Logger

from PyQt5 import QtCore, QtGui, QtWidgets
import qt5reactor      # after PyQt5: it would fall back to PySide2

from bareos.traymonitor import overview
from bareos.traymonitor.overview import TrayState

log = Logger(namespace="bareos.traymonitor")

APPLICATION = "bareos-tray-monitor"
#: the disc colour of each state (the desktop view test looks for them in screenshots)
STATE_COLOURS = {TrayState.IDLE: "#2e7d32", TrayState.RUNNING: "#1565c0",
                 TrayState.CONNECTING: "#9e9e9e", TrayState.PROBLEM: "#c62828"}
ICON_SIZE = 64


def install_reactor() -> QtWidgets.QApplication:
    """The QApplication, with qt5reactor installed as Twisted's reactor; call it before
    anything imports ``twisted.internet.reactor``."""
    app = QtWidgets.QApplication([APPLICATION])
    app.setQuitOnLastWindowClosed(False)       # closing the window leaves the tray icon
    qt5reactor.install()
    return app


def state_icon(state: TrayState) -> QtGui.QIcon:
    """A disc in the state's colour with a white mark: none (idle), a play triangle
    (running), three dots (connecting), an exclamation mark (problem)."""
    pixmap = QtGui.QPixmap(ICON_SIZE, ICON_SIZE)
    pixmap.fill(QtCore.Qt.transparent)
    painter = QtGui.QPainter(pixmap)
    painter.setRenderHint(QtGui.QPainter.Antialiasing)
    painter.setPen(QtCore.Qt.NoPen)
    painter.setBrush(QtGui.QColor(STATE_COLOURS[state]))
    painter.drawEllipse(2, 2, ICON_SIZE - 4, ICON_SIZE - 4)
    painter.setBrush(QtCore.Qt.white)
    if state == TrayState.RUNNING:
        painter.drawPolygon(QtGui.QPolygonF([QtCore.QPointF(24, 18), QtCore.QPointF(24, 46),
                                             QtCore.QPointF(46, 32)]))
    elif state == TrayState.CONNECTING:
        for x in (18, 32, 46):
            painter.drawEllipse(QtCore.QPointF(x, 32), 4, 4)
    elif state == TrayState.PROBLEM:
        painter.drawRoundedRect(28, 14, 8, 24, 3, 3)
        painter.drawEllipse(QtCore.QPointF(32, 47), 4.5, 4.5)
    painter.end()
    return QtGui.QIcon(pixmap)


class StatusWindow(QtWidgets.QWidget):
    """The headline and one tab per daemon with its status text."""

    def __init__(self, targets, icons, on_close) -> None:
        super().__init__()
        self.icons = icons
        self.on_close = on_close
        self.resize(720, 480)
        self.state_label = QtWidgets.QLabel()
        self.headline = QtWidgets.QLabel()
        self.headline.setWordWrap(True)
        header = QtWidgets.QHBoxLayout()
        header.addWidget(self.state_label)
        header.addWidget(self.headline, 1)
        self.tabs = QtWidgets.QTabWidget()
        self.pages = {}
        font = QtGui.QFontDatabase.systemFont(QtGui.QFontDatabase.FixedFont)
        for target in targets:
            page = QtWidgets.QPlainTextEdit()
            page.setReadOnly(True)
            page.setLineWrapMode(QtWidgets.QPlainTextEdit.NoWrap)
            page.setFont(font)
            self.pages[target] = page
            self.tabs.addTab(page, target.label)
        layout = QtWidgets.QVBoxLayout(self)
        layout.addLayout(header)
        layout.addWidget(self.tabs, 1)

    def show_states(self, title: str, state: TrayState, headline: str, states) -> None:
        self.setWindowTitle(title)
        self.setWindowIcon(self.icons[state])
        self.state_label.setPixmap(self.icons[state].pixmap(32, 32))
        self.headline.setText(headline)
        for index, daemon in enumerate(states):
            page = self.pages[daemon.target]
            self.tabs.setTabIcon(index, self.icons[overview.daemon_state(daemon)])
            self.tabs.setTabToolTip(index, overview.daemon_line(daemon))
            text = (daemon.status_text if daemon.reachable
                    else f"{daemon.target.label}: {overview.daemon_line(daemon)}\n")
            if page.toPlainText() != text:
                scrolled = page.verticalScrollBar().value()
                page.setPlainText(text)
                page.verticalScrollBar().setValue(scrolled)

    def closeEvent(self, event) -> None:
        event.ignore()
        self.on_close()


class DesktopView:
    """The tray icon and the status window, refreshed on every change of the model.

    Without a system tray on the desktop the window is shown at once, and closing it
    quits; with one, the icon's click or menu shows and hides it."""

    def __init__(self, model, monitor_name: str, quit, show_window: bool = False) -> None:
        self.model = model
        self.monitor_name = monitor_name
        self.quit = quit
        self.state = None                    # the TrayState the icon shows
        self.icons = {state: state_icon(state) for state in TrayState}
        self.has_tray = QtWidgets.QSystemTrayIcon.isSystemTrayAvailable()
        self.window = StatusWindow(model.targets, self.icons, self._window_closed)
        self.tray = QtWidgets.QSystemTrayIcon()
        self.tray.activated.connect(self._activated)
        self.menu = QtWidgets.QMenu()
        self.menu.addAction("Status window", self.toggle_window)
        self.menu.addAction("Quit", quit)
        self.tray.setContextMenu(self.menu)
        model.subscribe(self.refresh)
        self.refresh()
        if self.has_tray:
            self.tray.show()
        else:
            log.warn("no system tray on this desktop: showing the status window")
        if show_window or not self.has_tray:
            self.window.show()

    def refresh(self, model=None) -> None:
        states = self.model.snapshot()
        state = overview.tray_state(states)
        headline = overview.headline(states)
        self.tray.setToolTip(overview.tooltip(self.monitor_name, states))
        if state != self.state:
            self.state = state
            self.tray.setIcon(self.icons[state])
            log.info("tray icon {state}: {headline}", state=state.word, headline=headline)
        self.window.show_states(f"{APPLICATION} {self.monitor_name}: {state.word}", state,
                                headline, states)

    def toggle_window(self) -> None:
        self.window.setVisible(not self.window.isVisible())

    def _activated(self, reason) -> None:
        if reason in (QtWidgets.QSystemTrayIcon.Trigger, QtWidgets.QSystemTrayIcon.DoubleClick):
            self.toggle_window()

    def _window_closed(self) -> None:
        if self.has_tray:
            self.window.hide()
        else:
            self.quit()
