"""The director daemon: accepts consoles (and, later, client-initiated file daemons)."""

from twisted.logger import Logger

from bareos.daemon.service import Daemon
from bareos.director.console.session import DEFAULT_CONSOLE, accept_console
from bareos.protocol.hello import HelloKind


class Director(Daemon):
    log = Logger(namespace="bareos.director")

    def __init__(self, config, reactor=None):
        super().__init__(config, reactor)
        self.resource = config.only("director")
        self.name = self.resource.name
        self.qualified_name = f"R_DIRECTOR::{self.name}"
        self.consoles = []
        self.jobs_run = 0
        self.listen(self.resource.addresses)

    @property
    def catalog_driver(self):
        catalogs = self.config.resources("catalog")
        return catalogs[0].db_driver if catalogs else "sqlite3"

    # -- connections ---------------------------------------------------------

    def psk_key(self, resource_type, name):
        if resource_type == "R_CONSOLE":
            if name == DEFAULT_CONSOLE:
                return self.resource.password.key
            console = self.config.get("console", name)
            return console.password.key if console else None
        return None

    def hello_handlers(self):
        return {HelloKind.CONSOLE: lambda conn, hello: accept_console(self, conn, hello)}

    def admit_console(self, session):
        if len(self.consoles) >= self.resource.maximum_console_connections:
            return False
        self.consoles.append(session)
        return True

    def release_console(self, session):
        if session in self.consoles:
            self.consoles.remove(session)

    # -- what status reports (filled in by the job machinery) ----------------

    def scheduled_jobs(self):
        return []

    def running_jobs(self):
        return []

    def terminated_jobs(self):
        return []

    def waiting_client_connections(self):
        return []
