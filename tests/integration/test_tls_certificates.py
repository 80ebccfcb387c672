"""Certificate TLS between a console and a real in-process director on loopback.

The director has a certificate (CN test-dir, for the name "localhost") from a CA made
here, TLS Verify Peer with TLS Allowed CN, and a CRL; consoles dial it with TLS-PSK,
certificates or both.  Every refusal names its rule in the log of the side that refused.
"""

import types

import pytest
import pytest_twisted
from twisted.internet import defer, reactor
from twisted.internet.endpoints import HostnameEndpoint, wrapClientTLS
from twisted.internet.protocol import Factory

from bareos.config import parse_config_text
from bareos.config.schemas import CONSOLE, DIRECTOR
from bareos.console.client import ConsoleClient, ConsoleLoginFailed
from bareos.console.login import login_parameters
from bareos.network.tls import common_name, session_kind, settings
from bareos.protocol import cram, handshake
from bareos.protocol.connection import BareosConnection
from bareos.protocol.hello import Hello, HelloKind, format_hello
from bareos.protocol.tls import (
    TLS1_2_VERSION, PskClientContextFactory, TlsPolicy, negotiated_cipher, psk_identity)
from bareos.testing.certificates import TestCA
from bareos.testing.inprocess import serve_director
from bareos.testing.ports import free_port

DIRECTOR_CONFIG = """
Director {{ Name = test-dir; DirAddress = 127.0.0.1; DirPort = {port}; Password = "dirpw";
           Messages = Daemon; Working Directory = "{workdir}";
           TLS Certificate = "{pki}/test-dir.pem"; TLS Key = "{pki}/test-dir-key.pem";
           TLS CA Certificate File = "{pki}/ca.pem"; TLS Verify Peer = yes;
           TLS Certificate Revocation List = "{pki}/crl.pem";
           TLS Allowed CN = admin-console; TLS Allowed CN = other-console }}
Console {{ Name = admin; Password = "adminpw"; Command ACL = *all*; Client ACL = *all* }}
Messages {{ Name = Daemon; Console = all }}
Catalog {{ Name = MyCatalog; DB Driver = sqlite3; DB Name = bareos }}
"""


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    directory = tmp_path_factory.mktemp("pki")
    ca = TestCA(directory)
    ca.issue("test-dir", dns_names=["localhost"])
    ca.issue("admin-console")
    ca.issue("intruder")
    ca.issue("admin-console", expired=True, file_stem="expired")
    revoked = ca.issue("other-console", file_stem="revoked")
    ca.revocation_list([revoked])
    TestCA(directory / "other-ca", name="Some Other CA").issue("admin-console")
    return directory


@pytest.fixture
def director(tmp_path, pki):
    port = free_port()
    config = parse_config_text(DIRECTOR_CONFIG.format(port=port, workdir=tmp_path, pki=pki),
                               DIRECTOR)
    yield from serve_director(config, port)


pytestmark = pytest.mark.usefixtures("quick_refusals")


def console_tls(pki, **directives):
    """The TLS settings of a bconsole.conf Console resource with ``directives``."""
    lines = "".join(f"  {name.replace('_', ' ')} = \"{value}\"\n" for name, value in directives.items())
    text = ('Director { Name = test-dir; Address = localhost; Password = "dirpw" }\n'
            'Console { Name = admin; Password = "adminpw"\n' + lines + "}\n")
    config = parse_config_text(text.replace("{pki}", str(pki)), CONSOLE)
    return settings(login_parameters(config)[3])


def login(director, tls, address="localhost"):
    target = types.SimpleNamespace(address=address, port=director.port)
    return defer.ensureDeferred(ConsoleClient.connect(
        reactor, target, "admin", cram.password_key("adminpw"), tls, timeout=5))


def peer_certificate_cn(client):
    cert = client.conn.transport.getHandle().get_peer_certificate()
    return None if cert is None else common_name(cert)


CERTIFICATE_ONLY = dict(TLS_PSK_Enable="no", TLS_CA_Certificate_File="{pki}/ca.pem",
                        TLS_Certificate="{pki}/admin-console.pem",
                        TLS_Key="{pki}/admin-console-key.pem", TLS_Verify_Peer="yes")


@pytest_twisted.ensureDeferred
async def test_psk_wins_when_both_sides_could_use_certificates(director, pki, log_lines):
    both = console_tls(pki, TLS_CA_Certificate_File="{pki}/ca.pem", TLS_Verify_Peer="yes")
    client = await login(director, both)
    assert session_kind(client.conn) == "TLS-PSK"
    assert peer_certificate_cn(client) is None
    client.close()
    assert any("Console admin logged in from" in line and "(TLS-PSK)" in line for line in log_lines)


@pytest_twisted.ensureDeferred
async def test_certificates_alone_verified_by_both_sides(director, pki, log_lines):
    client = await login(director, console_tls(pki, **CERTIFICATE_ONLY))
    assert session_kind(client.conn) == "TLS"
    assert peer_certificate_cn(client) == "test-dir"
    output = []
    await client.command("whoami", output.append, None)
    assert output == ["admin\n"]
    client.close()
    assert any("Console admin logged in from" in line and "(TLS)" in line for line in log_lines)


async def refused(director, tls, address="localhost"):
    """Log in, expecting a refusal; the console's reason."""
    with pytest.raises(ConsoleLoginFailed) as refusal:
        client = await login(director, tls, address)
        client.close()
    return str(refusal.value)


@pytest_twisted.ensureDeferred
async def test_a_server_certificate_from_another_ca_is_refused(director, pki, log_lines):
    await refused(director, console_tls(
        pki, **dict(CERTIFICATE_ONLY, TLS_CA_Certificate_File="{pki}/other-ca/ca.pem")))
    # the director sends its CA with its certificate: the chain ends in a CA we do not know
    assert any(line.startswith("TLS (to localhost): certificate 'Bareos Test CA'")
               and "refused: self-signed certificate in certificate chain" in line
               for line in log_lines)


@pytest_twisted.ensureDeferred
async def test_a_client_certificate_from_another_ca_is_refused(director, pki, log_lines):
    await refused(director, console_tls(
        pki, **dict(CERTIFICATE_ONLY, TLS_Certificate="{pki}/other-ca/admin-console.pem",
                    TLS_Key="{pki}/other-ca/admin-console-key.pem")))
    assert any("certificate 'admin-console'" in line and "refused" in line
               and "unable to get local issuer certificate" in line for line in log_lines)


@pytest_twisted.ensureDeferred
async def test_an_expired_client_certificate_is_refused(director, pki, log_lines):
    assert "certificate expired" in await refused(director, console_tls(pki, **dict(
        CERTIFICATE_ONLY, TLS_Certificate="{pki}/expired.pem", TLS_Key="{pki}/expired-key.pem")))
    assert any("certificate has expired" in line for line in log_lines)


@pytest_twisted.ensureDeferred
async def test_a_revoked_client_certificate_is_refused(director, pki, log_lines):
    assert "certificate revoked" in await refused(director, console_tls(pki, **dict(
        CERTIFICATE_ONLY, TLS_Certificate="{pki}/revoked.pem", TLS_Key="{pki}/revoked-key.pem")))
    assert any("certificate revoked" in line for line in log_lines)


@pytest_twisted.ensureDeferred
async def test_a_common_name_not_allowed_is_refused(director, pki, log_lines):
    await refused(director, console_tls(pki, **dict(
        CERTIFICATE_ONLY, TLS_Certificate="{pki}/intruder.pem", TLS_Key="{pki}/intruder-key.pem")))
    assert any("common name 'intruder' is not in TLS Allowed CN" in line for line in log_lines)


@pytest_twisted.ensureDeferred
async def test_a_server_certificate_for_another_name_is_refused(director, pki, log_lines):
    await refused(director, console_tls(pki, **CERTIFICATE_ONLY), address="127.0.0.1")
    assert any("server certificate refused: it is not for 127.0.0.1 (TLS Verify Peer)" in line
               for line in log_lines)


@pytest_twisted.ensureDeferred
async def test_a_psk_console_still_logs_in_next_to_certificates(director):
    client = await login(director, console_tls(pki=None))
    assert session_kind(client.conn) == "TLS-PSK"
    client.close()


@pytest_twisted.ensureDeferred
async def test_a_tls_1_2_psk_client_like_python_bareos_gets_psk_next_to_certificates(director):
    endpoint = wrapClientTLS(
        PskClientContextFactory(psk_identity("R_CONSOLE", "admin"), cram.password_key("adminpw"),
                                max_version=TLS1_2_VERSION),
        HostnameEndpoint(reactor, "127.0.0.1", director.port))
    conn = await endpoint.connect(Factory.forProtocol(BareosConnection))
    conn.send(format_hello(Hello(HelloKind.CONSOLE, "admin", calling_version="25.1.1")))
    await handshake.authenticate_as_initiator(
        conn, cram.password_key("adminpw"), "R_CONSOLE::admin", TlsPolicy.REQUIRED, reactor)
    assert "PSK" in negotiated_cipher(conn.transport)
    conn.close()
