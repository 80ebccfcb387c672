"""The file daemon: director command sessions (channel 3, tray monitor channel 10)."""

from twisted.logger import Logger

from bareos.daemon.director_session import FILE_DAEMON, DirectorServedDaemon


class FileDaemon(DirectorServedDaemon):
    log = Logger(namespace="bareos.filedaemon")
    dialect = FILE_DAEMON
    qualified_type = "R_CLIENT"

    def __init__(self, config, reactor=None):
        super().__init__(config, "client", reactor)

    def status_text(self):
        lines = self.status_header()
        lines += ["No Jobs running.", "====", "", "No Terminated Jobs.", "===="]
        return "\n".join(lines) + "\n"
