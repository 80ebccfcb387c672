"""The storage daemon: director command sessions (channel 5a, tray monitor channel 11)."""

from twisted.logger import Logger

from bareos.daemon.director_session import STORAGE_DAEMON, DirectorServedDaemon


class StorageDaemon(DirectorServedDaemon):
    log = Logger(namespace="bareos.storagedaemon")
    dialect = STORAGE_DAEMON
    qualified_type = "R_STORAGE"

    def __init__(self, config, reactor=None):
        super().__init__(config, "storage", reactor)

    def status_text(self):
        lines = self.status_header()
        lines += ["No Jobs running.", "====", "", "Device status:"]
        lines += [f'Device "{device.name}" ({device.archive_device}) is not open.'
                  for device in self.config.resources("device")]
        lines += ["===="]
        return "\n".join(lines) + "\n"
