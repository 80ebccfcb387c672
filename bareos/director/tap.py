"""``twistd bareos-dir``: options and service construction."""

from bareos.config.schemas import DIRECTOR
from bareos.daemon.options import DaemonOptions
from bareos.director.daemon import Director, check_director_config


class Options(DaemonOptions):
    schema = DIRECTOR
    longdesc = "The Bareos-compatible director: consoles, jobs, scheduler and catalog."

    def check(self, config):
        check_director_config(config)


def makeService(options):
    return Director(options.config, config_path=options["config"])
