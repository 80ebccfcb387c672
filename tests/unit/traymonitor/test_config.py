"""The tray monitor configuration: Bareos' files load unchanged."""

import pytest

from bareos.config import ConfigError
from bareos.protocol.cram import password_key
from bareos.protocol.tlspolicy import TlsPolicy
from bareos.traymonitor.config import load_monitor_config

# Equivalent of the Bareos manual's example (the "Monitor Configuration" chapter): the same
# resources and directive spellings (RefreshInterval with a unit, FDPort, SDPort, DIRport,
# a lowercase "address"), comments after values; names and passwords are our own.
MANUAL_EXAMPLE = """\
#
# tray monitor of host alpha
#
Monitor {
  Name = alpha-mon        # also the console name in the director
  Password = "monitor-secret"
  RefreshInterval = 10 seconds
}

Client {
  Name = alpha-fd
  Address = alpha
  FDPort = 9102           # the Director resource "alpha-mon" of the file daemon
  Password = "fd-secret"
}
Storage {
  Name = alpha-sd
  Address = alpha
  SDPort = 9103           # the Director resource "alpha-mon" of the storage daemon
  Password = "sd-secret"
}
Director {
  Name = alpha-dir
  DIRport = 9101
  address = alpha
}
"""


def test_the_manuals_example_loads_unchanged(tmp_path):
    path = tmp_path / "tray-monitor.conf"
    path.write_text(MANUAL_EXAMPLE)
    config = load_monitor_config(tmp_path)          # a directory holding tray-monitor.conf
    assert config.name == "alpha-mon"
    assert config.refresh_interval == 10
    assert config.warnings == ()
    targets = {t.kind: t for t in config.targets}
    assert [(t.kind, t.name, t.address, t.port) for t in config.targets] == [
        ("director", "alpha-dir", "alpha", 9101), ("client", "alpha-fd", "alpha", 9102),
        ("storage", "alpha-sd", "alpha", 9103)]
    # the director is logged in to with the Monitor's password, the others with their own
    assert targets["director"].key == password_key("monitor-secret")
    assert targets["client"].key == password_key("fd-secret")
    assert targets["storage"].key == password_key("sd-secret")
    # Bareos' TLS defaults: enabled and required (TLS-PSK)
    assert {t.policy for t in config.targets} == {TlsPolicy.REQUIRED}
    assert {t.timeout for t in config.targets} == {10}


def test_a_tray_monitor_d_tree_loads(tmp_path):
    tree = tmp_path / "tray-monitor.d"
    for kind, text in (("monitor", "Monitor { Name = m; Password = p; Fd Connect Timeout = 3 }"),
                       ("client", "Client { Name = c; Address = h; Password = q; TLS Enable = no }")):
        (tree / kind).mkdir(parents=True)
        (tree / kind / "x.conf").write_text(text)
    config = load_monitor_config(tmp_path)
    (target,) = config.targets
    assert (target.port, target.policy, target.timeout) == (9102, TlsPolicy.NONE, 3)
    assert config.refresh_interval == 60


def test_directives_not_acted_on_are_warned_about(tmp_path):
    path = tmp_path / "m.conf"
    path.write_text('Monitor { Name = m; Password = p; TLS Certificate = "/x.pem" }\n'
                    'ConsoleFont { Name = f; Font = "Monospace 10" }\n'
                    'Storage { Name = s; SdAddress = h; SdPassword = q }\n')
    config = load_monitor_config(path)
    assert len(config.warnings) == 2
    assert any("TLS Certificate" in w for w in config.warnings)
    assert any("Font" in w for w in config.warnings)
    assert config.targets[0].address == "h"


@pytest.mark.parametrize("text, message", [
    ("Monitor { Name = m; Password = p }", "nothing to monitor"),
    ("Monitor { Name = m }\nClient { Name = c; Address = h; Password = q }", "Password"),
    ("Monitor { Name = m; Password = p; Refresh Interval = 0 }\n"
     "Client { Name = c; Address = h; Password = q }", "at least 1 second"),
    ("Monitor { Name = m; Password = p }\nDirector { Name = d; Address = h; Password = x }",
     "Password"),
])
def test_configuration_errors(tmp_path, text, message):
    path = tmp_path / "m.conf"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_monitor_config(path)
