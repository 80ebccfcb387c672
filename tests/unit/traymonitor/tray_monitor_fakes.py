"""The monitor's model as the unit tests see it: fake daemons and sessions (no sockets)
on a task.Clock."""

from twisted.internet import defer

from bareos.protocol.tlspolicy import TlsPolicy
from bareos.traymonitor.config import Target
from bareos.traymonitor.model import MonitorModel

REFRESH = 10
FD_RUNNING = "Running Jobs:\nJobId 4 Job backup.2026-12-03_08.50.00_04 is running.\n====\n"
IDLE = "Running Jobs:\nNo Jobs running.\n====\n"


def target(kind, name, timeout=5):
    return Target(kind, name, "127.0.0.1", 1, b"key", TlsPolicy.NONE, timeout)


DIR, FD, SD = target("director", "dir"), target("client", "fd"), target("storage", "sd")


class FakeDaemon:
    """A daemon as the model sees it: up (answers ``text``), down (refuses logins), or
    hanging (accepts, never answers)."""

    def __init__(self, text=IDLE):
        self.text, self.up, self.hanging = text, True, False
        self.logins = self.queries = 0
        self.sessions = []

    def open(self):
        self.logins += 1
        if not self.up:
            return defer.fail(ConnectionRefusedError("Connection refused"))
        if self.hanging:
            return defer.Deferred()
        session = FakeSession(self)
        self.sessions.append(session)
        return defer.succeed(session)


class FakeSession:
    def __init__(self, daemon):
        self.daemon, self.closed = daemon, False

    async def query(self):
        self.daemon.queries += 1
        if self.closed or not self.daemon.up:
            raise ConnectionError("connection closed by peer")
        return self.daemon.text

    def close(self):
        self.closed = True


def make_model(daemons, clock):
    return MonitorModel(list(daemons), REFRESH, lambda t: daemons[t].open(), clock)


def minimal_config(directory):
    """A tray-monitor.conf watching one director; its path."""
    path = directory / "tray-monitor.conf"
    path.write_text('Monitor {\n  Name = mon\n  Password = "p"\n}\n'
                    'Director {\n  Name = dir\n  Address = 127.0.0.1\n}\n')
    return path
