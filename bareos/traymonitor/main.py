"""``bareos-tray-monitor``: the monitor's command line (views: the desktop by default,
``--text``, ``--check``)."""

import argparse
import os
import sys

from bareos.config import ConfigError
from bareos.traymonitor import check
from bareos.traymonitor.config import load_monitor_config

DEFAULT_CONFIG = "/etc/bareos"
DESKTOP_NEEDS = ("the desktop view needs PyQt5 and qt5reactor: on Debian install python3-pyqt5 "
                 "and python3-qt5reactor, with pip bareos-twisted[desktop]; "
                 "--text and --check need neither")


def parse_arguments(argv):
    parser = argparse.ArgumentParser(
        prog="bareos-tray-monitor",
        description="Watch Bareos-compatible directors, file daemons and storage daemons "
                    "with a tray monitor configuration.  Without --text, --check or -t: the "
                    "desktop view, a tray icon and a status window (needs PyQt5).")
    parser.add_argument("-c", "--config", default=DEFAULT_CONFIG,
                        help="tray-monitor.conf, or a directory holding it or tray-monitor.d/ "
                             "(default: %(default)s)")
    view = parser.add_mutually_exclusive_group()
    view.add_argument("--text", action="store_true",
                      help="show the live view in the terminal until interrupted")
    view.add_argument("--check", action="store_true",
                      help="poll every daemon once, print one status line with perfdata and "
                           "exit 0 OK, 1 WARNING, 2 CRITICAL or 3 UNKNOWN")
    view.add_argument("-t", "--test-config", action="store_true",
                      help="check the configuration, print the verdict and exit")
    parser.add_argument("--window", action="store_true",
                        help="desktop view: open the status window at start (it opens anyway "
                             "on a desktop without a system tray)")
    args = parser.parse_args(argv)
    if args.window and (args.text or args.check or args.test_config):
        parser.error("--window is an option of the desktop view")
    return args


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    try:
        args = parse_arguments(argv)
    except SystemExit as exit_:
        # --check is run by monitoring systems: a usage error there is UNKNOWN, not 2
        if exit_.code and "--check" in argv:
            return check.UNKNOWN
        raise
    try:
        config = load_monitor_config(args.config)
    except ConfigError as exc:
        if args.check:
            print(check.unknown(f"configuration error: {exc}").line)
            return check.UNKNOWN
        print(f"bareos-tray-monitor: configuration error: {exc}", file=sys.stderr)
        return 1
    for warning in config.warnings:
        print(f"bareos-tray-monitor: warning: {warning}", file=sys.stderr)
    if args.test_config:
        print(f"bareos-tray-monitor: configuration {args.config} OK")
        return 0

    desktop = None
    if not (args.text or args.check):
        desktop = _desktop_before_the_reactor()
        if desktop is None:
            return 1

    from twisted.internet import reactor, task

    from bareos.traymonitor.model import MonitorModel
    from bareos.traymonitor.sessions import session_opener

    model = MonitorModel(config.targets, config.refresh_interval,
                         session_opener(reactor, config.name), reactor)
    if args.check:
        return task.react(lambda _reactor: _run_check(model))
    if args.text:
        from bareos.traymonitor.text import TextView

        TextView(model, config.name, sys.stdout, sys.stdout.isatty())
    else:
        from twisted.logger import globalLogBeginner, textFileLogObserver

        globalLogBeginner.beginLoggingTo([textFileLogObserver(sys.stderr)],
                                         redirectStandardIO=False)
        desktop.DesktopView(model, config.name, reactor.stop, args.window)
    reactor.callWhenRunning(model.start)
    reactor.addSystemEventTrigger("before", "shutdown", model.stop)
    reactor.run()
    return 0


def _desktop_before_the_reactor():
    """The desktop module with Qt's reactor installed, or None after saying why not."""
    try:
        from bareos.traymonitor import desktop
    except ImportError as exc:
        print(f"bareos-tray-monitor: {DESKTOP_NEEDS} ({exc})", file=sys.stderr)
        return None
    if not any(os.environ.get(name) for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")):
        print("bareos-tray-monitor: no display for the desktop view (DISPLAY is not set); "
              "--text shows the same in a terminal", file=sys.stderr)
        return None
    desktop.install_reactor()
    return desktop


async def _run_check(model):
    try:
        verdict = check.verdict(await model.poll_once())
    except Exception as exc:          # a bug must still give the plugin's answer
        verdict = check.unknown(f"internal error: {type(exc).__name__}: {exc}")
    print(verdict.line, flush=True)
    raise SystemExit(verdict.code)


if __name__ == "__main__":
    sys.exit(main())
