"""Honest configuration: every TLS directive the schemas mark as acted on is read by
``bareos.network.tls`` for a resource whose TLS settings some listener or dial uses;
every other TLS directive is marked not acted on, so that loading it warns."""

import types

import pytest

from bareos.config import ConfigError, parse_config_text
from bareos.config.schemas import CONSOLE, DIRECTOR, FILEDAEMON, STORAGEDAEMON, TRAYMONITOR
from bareos.config.types import BOOLEAN, STRING_LIST
from bareos.network import tls
from bareos.network.tls import TlsConfigError
from bareos.testing.certificates import TestCA

# (daemon, resource) -> who takes all its TLS directives through tls.settings()
CERTIFICATE_TLS = {
    ("bareos-dir", "Director"): "the director's listener",
    ("bareos-dir", "Client"): "the director dialling a file daemon",
    ("bareos-dir", "Storage"): "the director dialling a storage daemon",
    ("bareos-fd", "Client"): "the file daemon's listener",
    ("bareos-fd", "Director"): "a client-initiated connection to a director",
    ("bareos-sd", "Storage"): "the storage daemon's listener",
    ("bconsole", "Director"): "bconsole (default console)",
    ("bconsole", "Console"): "bconsole (named console)",
    ("tray-monitor", "Director"): "the tray monitor dialling a director",
    ("tray-monitor", "Client"): "the tray monitor dialling a file daemon",
    ("tray-monitor", "Storage"): "the tray monitor dialling a storage daemon",
}
POLICY_DIRECTIVES = {"TLS Enable", "TLS Require"}     # read by tls.resource_policy()
SCHEMAS = (DIRECTOR, FILEDAEMON, STORAGEDAEMON, CONSOLE, TRAYMONITOR)

TLS_DIRECTIVES = [
    (daemon.daemon_name, resource.name, directive)
    for daemon in SCHEMAS for resource in daemon.resources
    for directive in resource.directives if directive.name.startswith("TLS ")]


def resource_with(directives, **values):
    """A resource as the binder makes it: every TLS directive at its default."""
    attributes = {d.attr: d.default_value() for d in directives}
    attributes.update(values)
    return types.SimpleNamespace(name="probe", **attributes)


def probe_value(directive):
    if directive.type is BOOLEAN:
        return not directive.default
    if directive.type is STRING_LIST:
        return ["probe"]
    return "TLSv1.3" if directive.name == "TLS Protocol" else "/probe"


def test_the_walk_finds_every_tls_directive():
    assert len(TLS_DIRECTIVES) > 100
    assert {name for _, _, name in ((a, b, d.name) for a, b, d in TLS_DIRECTIVES)} >= {
        "TLS Certificate", "TLS Key", "TLS Allowed CN", "TLS Verify Peer", "TLS Protocol"}


@pytest.mark.parametrize("daemon, resource, directive", TLS_DIRECTIVES,
                         ids=[f"{a}:{b}:{d.name}" for a, b, d in TLS_DIRECTIVES])
def test_a_tls_directive_marked_acted_on_is_read(daemon, resource, directive):
    if not directive.acted_on:
        return                      # the binder warns about it at load (test_schemas)
    if directive.name in POLICY_DIRECTIVES:
        directives = resource_directives(daemon, resource)
        before = tls.resource_policy(resource_with(directives))
        after = tls.resource_policy(resource_with(directives, **{directive.attr: probe_value(directive)}))
        assert before != after
        return
    assert (daemon, resource) in CERTIFICATE_TLS, (
        f"{daemon} {resource}: '{directive.name}' is marked acted on, but no listener or dial "
        f"reads that resource's certificate directives")
    directives = resource_directives(daemon, resource)
    baseline = tls.settings(resource_with(directives))
    try:
        probed = tls.settings(resource_with(directives, **{directive.attr: probe_value(directive)}))
    except TlsConfigError as exc:         # read, and checked (e.g. a Key without a Certificate)
        assert directive.name.split()[-1] in str(exc)
        return
    assert probed != baseline, f"tls.settings() ignores '{directive.name}'"


def resource_directives(daemon_name, resource_name):
    daemon = next(d for d in SCHEMAS if d.daemon_name == daemon_name)
    resource = next(r for r in daemon.resources if r.name == resource_name)
    return [d for d in resource.directives if d.name.startswith("TLS ")]


def test_resources_read_in_full_have_every_certificate_directive_acted_on():
    for daemon, resource, directive in TLS_DIRECTIVES:
        if (daemon, resource) in CERTIFICATE_TLS and directive.name not in (
                "TLS DH File", "TLS Authenticate"):
            assert directive.acted_on, f"{daemon} {resource} {directive.name}"


def test_a_certificate_directive_nothing_reads_warns_at_load_by_name():
    config = parse_config_text("""
Director { Name = d; Password = p; Messages = m; Working Directory = /tmp }
Messages { Name = m }
Catalog { Name = c; DB Driver = sqlite3; DB Name = b }
Console { Name = admin; Password = p; TLS Certificate = /etc/bareos/tls/admin.pem }
""", DIRECTOR)
    assert [w for w in config.warnings if "'TLS Certificate' in Console" in w and
            "not acted on" in w]


DIRECTOR_WITH = """
Director {{ Name = d; Password = p; Messages = m; Working Directory = /tmp; {director} }}
Messages {{ Name = m }}
Catalog {{ Name = c; DB Driver = sqlite3; DB Name = b }}
Client {{ Name = fd1; Address = fd.example.com; Password = p; {client} }}
"""


@pytest.mark.parametrize("director, client, error", [
    ('TLS Certificate = "/nonexistent/d.pem"; TLS Key = "/nonexistent/d-key.pem"', "",
     "Director d: cannot read TLS Certificate /nonexistent/d.pem"),
    ('TLS Certificate = "/nonexistent/d.pem"', "", "Director d: TLS Certificate and TLS Key go together"),
    ("", "TLS Protocol = SSLv3", "Client fd1: TLS Protocol 'SSLv3'"),
    ("", 'TLS CA Certificate File = "/nonexistent/ca.pem"', "Client fd1: "),
    ("", "TLS PSK Enable = no", "Client fd1: .*TLS PSK Enable = no needs TLS CA Certificate"),
])
def test_the_configuration_check_reads_the_tls_files_it_names(director, client, error):
    config = parse_config_text(DIRECTOR_WITH.format(director=director, client=client), DIRECTOR)
    with pytest.raises(ConfigError, match=error):
        tls.check_config(config, "bareos-dir")


def file_daemon_client(tmp_path, directives):
    ca = TestCA(tmp_path)
    issued = ca.issue("fd1")
    directives = directives.format(certificate=issued.certificate, key=issued.key,
                                   ca=ca.certificate)
    config = parse_config_text(f"""
Client {{ Name = fd1; Working Directory = /tmp; {directives} }}
Director {{ Name = d; Password = p }}
""", FILEDAEMON)
    return config, config.resources("client")[0]


CERTIFICATE_AND_KEY = 'TLS Certificate = "{certificate}"; TLS Key = "{key}";'


def test_a_certificate_only_file_daemon_needs_a_ca_to_dial_its_job_channels(tmp_path):
    config, _ = file_daemon_client(tmp_path, CERTIFICATE_AND_KEY + " TLS PSK Enable = no")
    with pytest.raises(ConfigError, match="Client fd1: .*cannot be checked without TLS CA"):
        tls.check_config(config, "bareos-fd")


def test_job_channels_dial_with_the_daemons_own_tls_and_the_job_key(tmp_path):
    assert not tls.job_channel_settings(0, None).enable             # ssl=0: cleartext
    _, plain = file_daemon_client(tmp_path / "plain", "TLS Cipher List = AES256-SHA256")
    psk_only = tls.job_channel_settings(tls.TLS_AUTO, plain)
    assert (psk_only.enable, psk_only.psk, psk_only.certificate) == (True, True, None)
    assert psk_only.cipher_list == "AES256-SHA256"                   # its own cipher list
    # a certificate without CA certificates: no server certificate could be checked
    _, no_ca = file_daemon_client(tmp_path / "no-ca", CERTIFICATE_AND_KEY)
    assert tls.job_channel_settings(tls.TLS_AUTO, no_ca).certificate is None
    config, certificate_only = file_daemon_client(
        tmp_path / "certificate-only", CERTIFICATE_AND_KEY
        + ' TLS CA Certificate File = "{ca}"; TLS PSK Enable = no; TLS Verify Peer = yes')
    tls.check_config(config, "bareos-fd")
    assert not [w for w in config.warnings if "TLS PSK Enable" in w]
    channel = tls.job_channel_settings(tls.TLS_AUTO, certificate_only)
    assert (channel.psk, channel.verify_peer) == (False, True)
    assert channel.certificate == certificate_only.tls_certificate
