"""``bconsole``: interactive (line editing, history) or fed through a pipe."""

import argparse
import os
import sys

from bareos.config import ConfigError, load_config
from bareos.config.schemas import CONSOLE
from bareos.console.login import ConsoleLoginFailed, login_parameters
from bareos.protocol.tlspolicy import TlsPolicy, tls_policy

HISTORY_FILE = os.path.expanduser("~/.bconsole_history")


def parse_arguments(argv):
    parser = argparse.ArgumentParser(
        prog="bconsole", description="Console to a Bareos-compatible director.")
    parser.add_argument("-c", "--config", default="/etc/bareos",
                        help="configuration file or directory (default: %(default)s)")
    parser.add_argument("-D", "--director", help="the Director resource to use")
    parser.add_argument("-l", "--list-directors", action="store_true",
                        help="list the Director resources of the configuration and exit")
    parser.add_argument("-t", "--test-config", action="store_true",
                        help="check the configuration, print the verdict and exit")
    parser.add_argument("-u", "--timeout", type=int, default=30,
                        help="connection timeout in seconds (default: %(default)s)")
    parser.add_argument("-n", "--no-readline", action="store_true",
                        help="do not use line editing and history")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_arguments(sys.argv[1:] if argv is None else argv)
    try:
        config = load_config(args.config, CONSOLE)
    except ConfigError as exc:
        print(f"bconsole: configuration error: {exc}", file=sys.stderr)
        return 1
    if args.test_config:
        for warning in config.warnings:
            print(f"bconsole: warning: {warning}")
        print(f"bconsole: configuration {args.config} OK")
        return 0
    if args.list_directors:
        for director in config.resources("director"):
            print(director.name)
        return 0
    try:
        director, name, key, tls_resource = login_parameters(config, args.director)
    except ConsoleLoginFailed as exc:
        print(f"bconsole: {exc}", file=sys.stderr)
        return 1

    tls = tls_policy(bool(tls_resource.tls_enable), bool(tls_resource.tls_require))
    if tls == TlsPolicy.NONE:
        from bareos.console.plain import PlainConsole  # blocking socket: no Twisted to import
        console = PlainConsole()
    else:
        from twisted.internet import reactor

        from bareos.console.client import BlockingConsole
        from bareos.network.tls import TlsConfigError, settings
        try:
            tls = settings(tls_resource)
        except TlsConfigError as exc:
            print(f"bconsole: {exc}", file=sys.stderr)
            return 1
        console = BlockingConsole(reactor)
    try:
        print(f"Connecting to Director {director.address}:{director.port}")
        try:
            greeting = console.login(director, name, key, tls, args.timeout)
        except ConsoleLoginFailed as exc:
            print(f"bconsole: {exc}", file=sys.stderr)
            return 1
        except Exception as exc:
            print(f"bconsole: cannot connect to {director.address}:{director.port}: {exc}",
                  file=sys.stderr)
            return 1
        for line in greeting:
            print(line)
        interactive = sys.stdin.isatty()
        if interactive and not args.no_readline:
            _enable_line_editing()
        else:
            print("Enter a period to cancel a command.")
        return _command_loop(console, interactive)
    finally:
        console.stop()
        if sys.stdin.isatty() and not args.no_readline:
            _save_history()


def _command_loop(console, interactive):
    # A file name that is not UTF-8 passes through as its raw bytes, both ways, as with
    # Bareos' bconsole: typed (or piped) into file=..., printed by "list files".
    for stream in (sys.stdin, sys.stdout):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="surrogateescape")

    def show(text):
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        sys.stdout.flush()

    def ask(prompt):
        # An empty line is an answer (it ends the file list of restore's menu); the end
        # of the input and Ctrl-C cancel, as "." does.
        try:
            return input(prompt if interactive else "")
        except (EOFError, KeyboardInterrupt):
            return "."

    while True:
        line = _read_line("*" if interactive else "")
        if line is None:
            return 0
        line = line.strip()
        if not interactive:
            print(f"*{line}" if line else "*")
        if line in ("quit", "exit", ".quit", ".exit"):
            return 0
        if not console.command(line, show, ask):
            print("bconsole: the director ended the session.", file=sys.stderr)
            return 1


def _read_line(prompt):
    try:
        return input(prompt)
    except EOFError:
        return None
    except KeyboardInterrupt:
        print()
        return ""


def _enable_line_editing():
    try:
        import readline
    except ImportError:
        return
    try:
        readline.read_history_file(HISTORY_FILE)
    except OSError:
        pass
    readline.set_history_length(1000)


def _save_history():
    try:
        import readline
        readline.write_history_file(HISTORY_FILE)
    except (ImportError, OSError):
        pass


if __name__ == "__main__":
    sys.exit(main())
