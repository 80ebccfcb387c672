"""The twistd options every daemon takes: ``-c/--config`` and ``-t/--test-config``."""

import sys

from twisted.python import usage

from bareos.config import ConfigError, load_config
from bareos.network import tls as network_tls


class DaemonOptions(usage.Options):
    """Subclasses set ``schema`` and ``default_config``."""

    schema = None
    default_config = "/etc/bareos"

    optFlags = [
        ["test-config", "t", "Check the configuration, print the verdict and exit "
                             "(non-zero on error)."],
    ]

    def __init__(self):
        super().__init__()
        self["config"] = self.default_config
        self.config = None

    def opt_config(self, path):
        """Configuration file, or directory holding <daemon>.conf or <daemon>.d/"""
        self["config"] = path

    opt_c = opt_config

    def check(self, config):
        """Daemon-specific rules beyond the schema; raise ConfigError."""

    def postOptions(self):
        name = self.schema.daemon_name
        try:
            self.config = load_config(self["config"], self.schema)
            self.check(self.config)
            network_tls.check_config(self.config, name)
        except ConfigError as exc:
            if self["test-config"]:
                print(f"{name}: configuration error: {exc}", file=sys.stderr)
                raise SystemExit(1) from None
            raise usage.UsageError(f"configuration error: {exc}") from None
        if self["test-config"]:
            for warning in self.config.warnings:
                print(f"{name}: warning: {warning}")
            print(f"{name}: configuration {self['config']} OK")
            raise SystemExit(0)
