"""``twistd bareos-fd``: options and service construction."""

from bareos.config.schemas import FILEDAEMON
from bareos.daemon.memory import keep_freed_memory
from bareos.daemon.options import DaemonOptions
from bareos.filedaemon.daemon import FileDaemon


class Options(DaemonOptions):
    schema = FILEDAEMON
    longdesc = "The Bareos-compatible file daemon: backs up and restores this machine's files."


def makeService(options):
    keep_freed_memory()
    service = FileDaemon(options.config)
    service.config_path = options["config"]     # SIGHUP reads it again
    return service
