"""``twistd bareos-dir``: options and service construction."""

from bareos.config import ConfigError
from bareos.config.schemas import DIRECTOR
from bareos.daemon.options import DaemonOptions
from bareos.director.daemon import Director
from bareos.director.scheduler import parse_schedules


class Options(DaemonOptions):
    schema = DIRECTOR
    longdesc = "The Bareos-compatible director: consoles, jobs, scheduler and catalog."

    def check(self, config):
        parse_schedules(config)
        if not config.resources("catalog"):
            director = config.only("director")
            raise ConfigError(director.location[0], None,
                              "no Catalog resource defined: the director needs one "
                              "(the simplest: Catalog { Name = MyCatalog; DB Driver = sqlite3; "
                              "DB Name = bareos })")


def makeService(options):
    return Director(options.config)
