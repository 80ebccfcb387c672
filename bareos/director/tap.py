"""``twistd bareos-dir``: options and service construction."""

from bareos.config.schemas import DIRECTOR
from bareos.daemon.options import DaemonOptions
from bareos.director.daemon import Director


class Options(DaemonOptions):
    schema = DIRECTOR
    longdesc = "The Bareos-compatible director: consoles, jobs, scheduler and catalog."


def makeService(options):
    return Director(options.config)
