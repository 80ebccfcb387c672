"""A headless X display with a system tray, for tests of the tray monitor's desktop view.

``HeadlessDesktop`` starts Debian's Xvfb (it picks a free display number itself:
``-displayfd``) and trayer on it, a panel whose system tray holds the icons of X clients
(the freedesktop XEmbed tray protocol, which Qt's QSystemTrayIcon speaks without D-Bus).
Screenshots are Qt's grab of the root window, taken by a separate X client (``python -m
bareos.testing.xdisplay grab PATH``): it shows what the X server shows, the tray included,
with the Qt the view needs anyway (ImageMagick's ``import -window root`` would do the same
with some thirty more packages).
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SCREEN = (800, 600)
TRAY_SIZE = 32                      # the tray: the screen's top right TRAY_SIZE square
TOOLS = ("Xvfb", "trayer")


def require_desktop(x_server: bool = True) -> None:
    """Skip the test where the desktop view cannot run (no PyQt5 or qt5reactor, or, with
    ``x_server``, no Xvfb or trayer), giving the reason; under CI (CI=true) fail instead."""
    reason = None
    missing = [tool for tool in TOOLS if x_server and shutil.which(tool) is None]
    if missing:
        reason = f"{' and '.join(missing)} not installed (Debian: xvfb, trayer; scripts/bootstrap)"
    try:
        import PyQt5.QtWidgets  # noqa: F401
        import qt5reactor  # noqa: F401
    except ImportError as exc:
        reason = f"PyQt5 or qt5reactor not installed (pip install -e '.[desktop]'): {exc}"
    if reason is None:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true but the desktop view cannot run: {reason}")
    pytest.skip(reason)


def tray_region() -> tuple[int, int, int, int]:
    """x, y, width, height of the system tray on the screen."""
    return SCREEN[0] - TRAY_SIZE, 0, TRAY_SIZE, TRAY_SIZE


class HeadlessDesktop:
    """Xvfb with trayer's system tray; ``env`` is the environment of its X clients."""

    def __init__(self, runtime_dir: Path, timeout: float = 30) -> None:
        runtime_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.processes: list[subprocess.Popen] = []
        read_end, write_end = os.pipe()
        try:
            self._start(["Xvfb", "-displayfd", str(write_end), "-nolisten", "tcp",
                         "-screen", "0", f"{SCREEN[0]}x{SCREEN[1]}x24"],
                        runtime_dir / "xvfb.log", os.environ, pass_fds=(write_end,))
            os.close(write_end)
            write_end = -1
            with os.fdopen(read_end, closefd=True) as numbers:
                read_end = -1
                number = numbers.readline().strip()     # written once the server is ready
            if not number:
                raise RuntimeError(f"Xvfb did not start: {self._log(runtime_dir / 'xvfb.log')}")
            self.display = f":{number}"
            self.env = dict(os.environ, DISPLAY=self.display, XDG_RUNTIME_DIR=str(runtime_dir))
            self.env.pop("WAYLAND_DISPLAY", None)
            self.env.pop("QT_QPA_PLATFORM", None)
            self._start(["trayer", "--edge", "top", "--align", "right", "--widthtype", "pixel",
                         "--width", str(TRAY_SIZE), "--height", str(TRAY_SIZE),
                         "--SetDockType", "false", "--SetPartialStrut", "false",
                         "--transparent", "false"], runtime_dir / "trayer.log", self.env)
            self.run_client("wait-for-tray", str(timeout), timeout=timeout + 30)
        except BaseException:
            for fd in (read_end, write_end):
                if fd >= 0:
                    os.close(fd)
            self.stop()
            raise

    def _start(self, argv, log: Path, env, **kw) -> None:
        with open(log, "wb") as out:
            self.processes.append(subprocess.Popen(
                argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True, env=env, **kw))

    @staticmethod
    def _log(path: Path) -> str:
        return path.read_text(errors="replace")[-2000:]

    def run_client(self, *args, timeout: float = 60) -> str:
        """``python -m bareos.testing.xdisplay ARGS`` on this display; its output."""
        done = subprocess.run([sys.executable, "-m", __name__, *args], env=self.env,
                              capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0:
            raise RuntimeError(f"xdisplay {args} failed: {done.stdout}{done.stderr}")
        return done.stdout

    def screenshot(self, path: Path) -> Path:
        self.run_client("grab", str(path))
        return path

    def stop(self) -> None:
        for process in reversed(self.processes):
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        self.processes = []


def _client(argv) -> int:
    """The X client side: ``grab PATH`` or ``wait-for-tray SECONDS``."""
    from PyQt5 import QtCore, QtWidgets

    app = QtWidgets.QApplication(["xdisplay"])
    if argv[0] == "grab":
        return 0 if app.primaryScreen().grabWindow(0).save(argv[1], "PNG") else 1
    if argv[0] == "wait-for-tray":
        deadline = QtCore.QDeadlineTimer(int(float(argv[1]) * 1000))

        def look():
            if QtWidgets.QSystemTrayIcon.isSystemTrayAvailable():
                app.exit(0)
            elif deadline.hasExpired():
                print("no system tray appeared on the display")
                app.exit(1)
        # Qt learns of the tray's owner from X events: look between them, not in a busy loop
        timer = QtCore.QTimer()
        timer.timeout.connect(look)
        timer.start(50)
        return app.exec_()
    raise SystemExit(f"unknown command {argv[0]!r}")


if __name__ == "__main__":
    sys.exit(_client(sys.argv[1:]))
