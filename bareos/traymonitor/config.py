"""The tray monitor configuration, read unchanged from Bareos' ``tray-monitor.conf`` or
``tray-monitor.d/``: who the monitor is and which daemons it watches."""

import dataclasses
from typing import Any, Optional

from bareos.config import ConfigError, load_config
from bareos.config.schemas import TRAYMONITOR
from bareos.network import tls as network_tls
from bareos.protocol.tlspolicy import TlsPolicy, tls_policy
from bareos.traymonitor.statustext import CLIENT, DIRECTOR, STORAGE

#: which Monitor directive bounds the login and status answer of each kind of daemon
_TIMEOUTS = {DIRECTOR: "dir_connect_timeout", CLIENT: "fd_connect_timeout",
             STORAGE: "sd_connect_timeout"}


@dataclasses.dataclass(frozen=True)
class Target:
    """One daemon to watch, and how the monitor logs in to it."""

    kind: str                 # DIRECTOR, CLIENT or STORAGE
    name: str
    address: str
    port: int
    key: bytes = dataclasses.field(repr=False)    # the password's key (CRAM-MD5, TLS-PSK)
    policy: TlsPolicy
    timeout: float            # bound of the login, and of the answer to status
    tls: Optional[network_tls.TlsSettings] = None     # the resource's TLS directives in full

    @property
    def connection_tls(self) -> "network_tls.TlsSettings | TlsPolicy":
        """What ``bareos.protocol.handshake.dial`` is given: the TLS directives, or the
        bare policy (TLS-PSK) of a target made without them."""
        return self.tls or self.policy

    @property
    def label(self) -> str:
        return f"{self.kind} {self.name}"


@dataclasses.dataclass(frozen=True)
class MonitorConfig:
    name: str
    refresh_interval: float
    targets: tuple[Target, ...]
    warnings: tuple[str, ...]


def load_monitor_config(path: Any) -> MonitorConfig:
    """Load and check the configuration at ``path``; raises ConfigError."""
    config = load_config(path, TRAYMONITOR)
    network_tls.check_config(config, "tray-monitor")
    monitor = config.only("monitor")
    if monitor.refresh_interval < 1:
        raise ConfigError(*monitor.line_of("refresh_interval"),
                          "Refresh Interval must be at least 1 second")
    targets = []
    for kind in (DIRECTOR, CLIENT, STORAGE):
        for resource in config.resources(kind):
            # Directors have no password here: the monitor is a named console there,
            # with the Monitor resource's name and password (Bareos does the same).
            key = (monitor.password if kind == DIRECTOR else resource.password).key
            targets.append(Target(kind, resource.name, resource.address, resource.port, key,
                                  tls_policy(resource.tls_enable, resource.tls_require),
                                  float(getattr(monitor, _TIMEOUTS[kind])),
                                  network_tls.settings(resource)))
    if not targets:
        raise ConfigError(path, None, "no Director, Client or Storage resource: nothing to monitor")
    return MonitorConfig(monitor.name, float(monitor.refresh_interval), tuple(targets),
                         tuple(config.warnings))
