"""``twistd bareos-sd``: options and service construction."""

from bareos.config.schemas import STORAGEDAEMON
from bareos.daemon.memory import keep_freed_memory
from bareos.daemon.options import DaemonOptions
from bareos.storagedaemon.daemon import StorageDaemon


class Options(DaemonOptions):
    schema = STORAGEDAEMON
    longdesc = "The Bareos-compatible storage daemon: writes and reads backup volumes."


def makeService(options):
    keep_freed_memory()
    service = StorageDaemon(options.config)
    service.config_path = options["config"]     # SIGHUP reads it again
    return service
