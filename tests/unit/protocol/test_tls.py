"""Tests for bareos.protocol.tls (TLS-PSK through pyOpenSSL).

Handshakes run in memory: Twisted's TLSMemoryBIOFactory over iosim's
FakeTransport loopback, or two pyOpenSSL Connections with memory BIOs.
No sockets, no reactor.
"""

import datetime
import gc
import inspect
import weakref

import pytest
from hypothesis import given, strategies as st
from OpenSSL import SSL
from twisted.internet.interfaces import (
    IOpenSSLClientConnectionCreator,
    IOpenSSLServerConnectionCreator,
)
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.task import Clock
from twisted.logger import Logger
from twisted.protocols.tls import TLSMemoryBIOFactory
from twisted.test import iosim

from bareos.protocol import tls
from bareos.protocol.tls import (
    DEFAULT_CIPHERS,
    PskClientContextFactory,
    PskIdentityError,
    PskServerContextFactory,
    TlsPolicy,
    negotiated_cipher,
    negotiated_psk_identity,
    negotiated_tls_version,
    parse_psk_identity,
    psk_identity,
    tls_policy,
)

KEY = b"5ebe2294ecd0e0f08eab7690d2a6ee69"  # md5 hex of "secret"
OTHER_KEY = b"0123456789abcdef0123456789abcdef"
SESSION_KEY = b"JMJH-ANIF-HAJM-FDCA-HFHN-BHNF-HLHD-AGLF"
KEYS = {
    ("R_CONSOLE", "admin"): KEY,
    ("R_DIRECTOR", "bareos dir"): OTHER_KEY,
    ("R_JOB", "Backup.2026-01-01_00.00.00_01"): SESSION_KEY,
}

# (client max_version, server max_version, expected protocol)
VERSIONS = [
    pytest.param(None, None, "TLSv1.3", id="tls1.3"),
    pytest.param(tls.TLS1_2_VERSION, None, "TLSv1.2", id="client-capped-1.2"),
    pytest.param(None, tls.TLS1_2_VERSION, "TLSv1.2", id="server-capped-1.2"),
]


def lookup(rtype, name):
    return KEYS.get((rtype, name))


# --------------------------------------------------------------------------
# Policy and identity codecs
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "enable, require, expected",
    [
        (False, False, TlsPolicy.NONE),
        (False, True, TlsPolicy.NONE),
        (True, False, TlsPolicy.ENABLED),
        (True, True, TlsPolicy.REQUIRED),
    ],
)
def test_tls_policy_table(enable, require, expected):
    assert tls_policy(enable, require) is expected


def test_tls_policy_values_are_the_wire_values():
    assert [int(p) for p in (TlsPolicy.NONE, TlsPolicy.ENABLED, TlsPolicy.REQUIRED)] == [0, 1, 2]
    assert f"ssl={TlsPolicy.REQUIRED:d}" == "ssl=2"


def test_psk_identity_examples():
    assert psk_identity("R_CONSOLE", "admin") == b"R_CONSOLE\x1eadmin"
    assert psk_identity("R_TEST", "Test") == b"R_TEST\x1eTest"
    # not bashed, UTF-8
    assert psk_identity("R_DIRECTOR", "bareos dir") == b"R_DIRECTOR\x1ebareos dir"
    assert psk_identity("R_CLIENT", "häst-fd") == "R_CLIENT\x1ehäst-fd".encode("utf-8")


@pytest.mark.parametrize(
    "rtype, name",
    [("", "admin"), ("R_CONSOLE", ""), ("R\x1eX", "admin"), ("R_CONSOLE", "ad\0min")],
)
def test_psk_identity_rejects_unrepresentable(rtype, name):
    with pytest.raises(PskIdentityError):
        psk_identity(rtype, name)


def test_parse_psk_identity_examples():
    assert parse_psk_identity(b"R_CONSOLE\x1eadmin") == ("R_CONSOLE", "admin")
    assert parse_psk_identity(b"R_CONSOLE\x1ea b") == ("R_CONSOLE", "a b")
    # split at the *first* separator
    assert parse_psk_identity(b"R_JOB\x1ea\x1eb") == ("R_JOB", "a\x1eb")


@pytest.mark.parametrize(
    "identity",
    [
        b"",
        b"R_CONSOLE",
        b"R_CONSOLE\x1fadmin",  # US is not the separator
        b"\x1eadmin",
        b"R_CONSOLE\x1e",
        b"\x1e",
        b"R_CONSOLE\x1e\xff\xfe",  # not UTF-8
        b"R_CONSOLE\x1ead\0min",
        "R_CONSOLE\x1eadmin",  # str, not bytes
    ],
)
def test_parse_psk_identity_malformed(identity):
    with pytest.raises(PskIdentityError) as info:
        parse_psk_identity(identity)
    assert isinstance(info.value, ValueError)


_rtype = st.text(min_size=1).filter(lambda s: "\x1e" not in s and "\0" not in s)
_name = st.text(min_size=1).filter(lambda s: "\0" not in s)


@given(_rtype, _name)
def test_identity_round_trip(rtype, name):
    identity = psk_identity(rtype, name)
    assert parse_psk_identity(identity) == (rtype, name)


@given(st.binary())
def test_parse_never_fails_with_anything_but_psk_identity_error(data):
    try:
        rtype, name = parse_psk_identity(data)
    except PskIdentityError:
        return
    assert psk_identity(rtype, name) == data


# --------------------------------------------------------------------------
# Handshakes through Twisted (TLSMemoryBIOFactory over an iosim loopback)
# --------------------------------------------------------------------------


class Recorder(Protocol):
    def __init__(self):
        self.data = b""
        self.lost = None

    def dataReceived(self, data):
        self.data += data

    def connectionLost(self, reason):
        self.lost = reason


def _tls_factory(creator, is_client, wrapped, clock):
    # Twisted >= 22.8 aggregates small writes on a clock; 22.4 has no clock.
    if "clock" in inspect.signature(TLSMemoryBIOFactory.__init__).parameters:
        return TLSMemoryBIOFactory(creator, is_client, wrapped, clock=clock)
    return TLSMemoryBIOFactory(creator, is_client, wrapped)


class Loopback:
    """A server and a client TLS protocol wired together in memory."""

    def __init__(self, server_creator, client_creator):
        self.clock = Clock()
        self.server_app, self.client_app = Recorder(), Recorder()
        server_factory = _tls_factory(
            server_creator, False, Factory.forProtocol(lambda: self.server_app), self.clock)
        client_factory = _tls_factory(
            client_creator, True, Factory.forProtocol(lambda: self.client_app), self.clock)
        self.server = server_factory.buildProtocol(None)
        self.client = client_factory.buildProtocol(None)
        self.pump = iosim.connect(
            self.server, iosim.FakeTransport(self.server, True),
            self.client, iosim.FakeTransport(self.client, False),
            greet=False,
        )

    def exchange(self, to_server=b"ping", to_client=b"pong"):
        self.client_app.transport.write(to_server)
        self.server_app.transport.write(to_client)
        self.flush()

    def flush(self):
        for _ in range(50):
            self.clock.advance(0)
            if not self.pump.pump() and not self.clock.getDelayedCalls():
                break


def _assert_failed(loop):
    assert loop.server_app.data == b"" and loop.client_app.data == b""
    assert loop.server_app.lost is not None and loop.client_app.lost is not None
    assert loop.server_app.lost.check(SSL.Error)
    assert negotiated_psk_identity(loop.server) is None


def test_factories_provide_twisted_interfaces():
    assert IOpenSSLServerConnectionCreator.providedBy(PskServerContextFactory(lookup))
    assert IOpenSSLClientConnectionCreator.providedBy(
        PskClientContextFactory(psk_identity("R_CONSOLE", "admin"), KEY))


@pytest.mark.parametrize("client_max, server_max, version", VERSIONS)
def test_handshake_succeeds(client_max, server_max, version):
    server = PskServerContextFactory(lookup, max_version=server_max)
    client = PskClientContextFactory(
        psk_identity("R_CONSOLE", "admin"), KEY, max_version=client_max)
    loop = Loopback(server, client)
    loop.exchange()

    assert loop.server_app.data == b"ping"
    assert loop.client_app.data == b"pong"
    assert loop.server_app.lost is None and loop.client_app.lost is None

    cipher = negotiated_cipher(loop.server)
    assert cipher is not None and cipher == negotiated_cipher(loop.client)
    assert negotiated_tls_version(loop.server) == version == negotiated_tls_version(loop.client)
    if version == "TLSv1.2":
        assert "PSK" in cipher  # never a certificate suite
    else:
        assert cipher.startswith("TLS_") and cipher.endswith("_SHA256")

    assert negotiated_psk_identity(loop.server) == ("R_CONSOLE", "admin")
    # what the wrapped protocol sees as its transport works too
    assert negotiated_psk_identity(loop.server_app.transport) == ("R_CONSOLE", "admin")
    assert negotiated_cipher(loop.client_app.transport) == cipher
    # the client side has no peer identity
    assert negotiated_psk_identity(loop.client) is None


def test_python_bareos_style_client_gets_a_tls12_psk_suite():
    """python-bareos on Python 3.11 (sslpsk3): TLS <= 1.2, Bareos cipher list."""
    server = PskServerContextFactory(lookup)
    client = PskClientContextFactory(
        b"R_CONSOLE\x1eadmin", KEY, "ALL:!ADH:!LOW:!EXP:!MD5:@STRENGTH",
        max_version=tls.TLS1_2_VERSION)
    loop = Loopback(server, client)
    loop.exchange()
    assert loop.server_app.data == b"ping"
    assert negotiated_tls_version(loop.server) == "TLSv1.2"
    assert "PSK" in negotiated_cipher(loop.server)


@pytest.mark.parametrize(
    "identity, key",
    [
        (("R_DIRECTOR", "bareos dir"), OTHER_KEY),  # name with a blank, not bashed
        (("R_JOB", "Backup.2026-01-01_00.00.00_01"), SESSION_KEY),  # job session key
    ],
)
def test_other_identities_and_keys(identity, key):
    loop = Loopback(PskServerContextFactory(lookup), PskClientContextFactory(psk_identity(*identity), key))
    loop.exchange()
    assert loop.server_app.data == b"ping"
    assert negotiated_psk_identity(loop.server) == identity


def test_lookup_may_return_str():
    server = PskServerContextFactory(lambda rtype, name: KEY.decode("ascii"))
    loop = Loopback(server, PskClientContextFactory(psk_identity("R_CONSOLE", "admin"), KEY))
    loop.exchange()
    assert loop.server_app.data == b"ping"


@pytest.mark.parametrize("client_max, server_max, version", VERSIONS)
def test_wrong_key_fails(client_max, server_max, version):
    server = PskServerContextFactory(lookup, max_version=server_max)
    client = PskClientContextFactory(
        psk_identity("R_CONSOLE", "admin"), OTHER_KEY, max_version=client_max)
    loop = Loopback(server, client)
    loop.exchange()
    _assert_failed(loop)


@pytest.mark.parametrize("client_max, server_max, version", VERSIONS)
def test_unknown_identity_fails(client_max, server_max, version):
    asked = []

    def lookup_recording(rtype, name):
        asked.append((rtype, name))
        return lookup(rtype, name)

    server = PskServerContextFactory(lookup_recording, max_version=server_max)
    client = PskClientContextFactory(
        psk_identity("R_CONSOLE", "nobody"), KEY, max_version=client_max)
    loop = Loopback(server, client)
    loop.exchange()
    _assert_failed(loop)
    assert ("R_CONSOLE", "nobody") in asked


@pytest.mark.parametrize("bad_identity", [b"R_CONSOLEadmin", b"R_CONSOLE\x1e\xff", b"\x1eadmin"])
@pytest.mark.parametrize("client_max", [None, tls.TLS1_2_VERSION], ids=["tls1.3", "tls1.2"])
def test_malformed_identity_fails_without_lookup(monkeypatch, bad_identity, client_max):
    events = []
    monkeypatch.setattr(tls, "log", Logger(namespace="test", observer=events.append))

    def lookup_must_not_be_called(rtype, name):  # pragma: no cover - failure path
        raise AssertionError("lookup called for a malformed identity")

    server = PskServerContextFactory(lookup_must_not_be_called)
    with monkeypatch.context() as m:  # the client factory itself refuses bad identities
        m.setattr(tls, "parse_psk_identity", lambda identity: ("X", "Y"))
        client = PskClientContextFactory(bad_identity, KEY, max_version=client_max)
    loop = Loopback(server, client)
    loop.exchange()
    _assert_failed(loop)
    assert any("malformed" in e.get("log_format", "") for e in events)
    assert not any("log_failure" in e for e in events)


def test_client_factory_refuses_malformed_identity_or_empty_key():
    with pytest.raises(PskIdentityError):
        PskClientContextFactory(b"R_CONSOLEadmin", KEY)
    with pytest.raises(ValueError):
        PskClientContextFactory(b"R_CONSOLE\x1eadmin", b"")


@pytest.mark.parametrize(
    "lookup_result",
    [pytest.param(None, id="none"), pytest.param(b"", id="empty"), pytest.param(b"k" * 1000, id="too-long")],
)
def test_unusable_key_fails(lookup_result):
    loop = Loopback(
        PskServerContextFactory(lambda rtype, name: lookup_result),
        PskClientContextFactory(psk_identity("R_CONSOLE", "admin"), KEY))
    loop.exchange()
    _assert_failed(loop)


def test_exception_in_lookup_fails_handshake_and_is_logged(monkeypatch):
    events = []
    monkeypatch.setattr(tls, "log", Logger(namespace="test", observer=events.append))

    def broken_lookup(rtype, name):
        raise RuntimeError("config went away")

    loop = Loopback(
        PskServerContextFactory(broken_lookup),
        PskClientContextFactory(psk_identity("R_CONSOLE", "admin"), KEY))
    loop.exchange()
    _assert_failed(loop)
    failures = [e["log_failure"] for e in events if "log_failure" in e]
    assert len(failures) == 1 and failures[0].check(RuntimeError)


def test_server_context_is_shared_and_identities_are_per_connection():
    server = PskServerContextFactory(lookup)
    loops = [
        Loopback(server, PskClientContextFactory(psk_identity(*ident), KEYS[ident]))
        for ident in [("R_CONSOLE", "admin"), ("R_DIRECTOR", "bareos dir"), ("R_CONSOLE", "nobody")]
        if ident in KEYS
    ]
    bad = Loopback(server, PskClientContextFactory(psk_identity("R_CONSOLE", "admin"), OTHER_KEY))
    contexts = {id(loop.server.getHandle().get_context()) for loop in loops + [bad]}
    assert contexts == {id(server.context())}
    for loop in loops + [bad]:
        loop.exchange()
    assert [negotiated_psk_identity(loop.server) for loop in loops] == [
        ("R_CONSOLE", "admin"), ("R_DIRECTOR", "bareos dir")]
    assert negotiated_psk_identity(bad.server) is None


def test_client_factory_is_freed_without_cycle_collection():
    gc.disable()
    try:
        factory = PskClientContextFactory(psk_identity("R_CONSOLE", "admin"), KEY)
        refs = [weakref.ref(factory), weakref.ref(factory.context())]
        del factory
        assert [ref() for ref in refs] == [None, None]
    finally:
        gc.enable()


def test_per_connection_state_is_released():
    server = PskServerContextFactory(lookup)

    def one_connection():
        loop = Loopback(server, PskClientContextFactory(psk_identity("R_CONSOLE", "admin"), KEY))
        loop.exchange()
        assert negotiated_psk_identity(loop.server) == ("R_CONSOLE", "admin")
        ref = weakref.ref(loop.server.getHandle())
        loop.server.transport.loseConnection()
        loop.flush()
        return ref

    refs = [one_connection() for _ in range(3)]
    gc.collect()
    assert all(ref() is None for ref in refs)
    assert len(server._connections) == 0
    leftovers = [
        conn for table in (tls._PEER_IDENTITIES, tls._PENDING_IDENTITIES) for conn in table.keys()
        if conn.get_context() is server.context()
    ]
    assert leftovers == []


@pytest.mark.parametrize("value", [None, object(), b"bytes"])
def test_negotiated_helpers_on_non_tls_objects(value):
    assert negotiated_cipher(value) is None
    assert negotiated_psk_identity(value) is None
    assert negotiated_tls_version(value) is None


def test_negotiated_helpers_before_handshake():
    conn = PskServerContextFactory(lookup).serverConnectionForTLS(None)
    assert negotiated_cipher(conn) is None
    assert negotiated_psk_identity(conn) is None


# --------------------------------------------------------------------------
# Blocking use of the client context (pyOpenSSL Connections, memory BIOs)
# --------------------------------------------------------------------------


def _handshake_in_memory(server_conn, client_conn):
    """Drive two pyOpenSSL Connections (no socket); raise SSL.Error on failure."""
    server_conn.set_accept_state()
    client_conn.set_connect_state()
    done = set()
    for _ in range(20):
        for name, conn, peer in (("c", client_conn, server_conn), ("s", server_conn, client_conn)):
            if name not in done:
                try:
                    conn.do_handshake()
                    done.add(name)
                except SSL.WantReadError:
                    pass
            try:
                peer.bio_write(conn.bio_read(65536))
            except SSL.WantReadError:
                pass
        if done == {"c", "s"}:
            return
    raise AssertionError("handshake did not finish")


@pytest.mark.parametrize("max_version", [None, tls.TLS1_2_VERSION], ids=["tls1.3", "tls1.2"])
def test_client_context_for_blocking_connections(max_version):
    server = PskServerContextFactory(lookup)
    client = PskClientContextFactory(b"R_CONSOLE\x1eadmin", KEY, max_version=max_version)
    ctx = client.context()
    assert isinstance(ctx, SSL.Context)
    server_conn = server.serverConnectionForTLS(None)
    client_conn = SSL.Connection(ctx, None)
    _handshake_in_memory(server_conn, client_conn)
    client_conn.send(b"status")
    server_conn.bio_write(client_conn.bio_read(65536))
    assert server_conn.recv(100) == b"status"
    assert negotiated_psk_identity(server_conn) == ("R_CONSOLE", "admin")
    assert negotiated_cipher(client_conn) == negotiated_cipher(server_conn)


def _certificate_server_context(tmp_path):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "impostor")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    (tmp_path / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    ctx = SSL.Context(SSL.TLS_METHOD)
    ctx.use_certificate_chain_file(str(tmp_path / "cert.pem"))
    ctx.use_privatekey_file(str(tmp_path / "key.pem"))
    return ctx


@pytest.mark.parametrize("max_version", [None, tls.TLS1_2_VERSION], ids=["tls1.3", "tls1.2"])
def test_client_refuses_a_certificate_server(tmp_path, max_version):
    """A server without our key must not get in by choosing a certificate suite."""
    server_conn = SSL.Connection(_certificate_server_context(tmp_path), None)
    client = PskClientContextFactory(b"R_CONSOLE\x1eadmin", KEY, DEFAULT_CIPHERS, max_version=max_version)
    client_conn = SSL.Connection(client.context(), None)
    with pytest.raises(SSL.Error):
        _handshake_in_memory(server_conn, client_conn)


def test_server_without_psk_client_fails():
    """A plain (certificate-expecting) TLS client gets nothing from the PSK server."""
    server_conn = PskServerContextFactory(lookup).serverConnectionForTLS(None)
    ctx = SSL.Context(SSL.TLS_METHOD)
    ctx.set_cipher_list(DEFAULT_CIPHERS.encode("ascii"))
    with pytest.raises(SSL.Error):
        _handshake_in_memory(server_conn, SSL.Connection(ctx, None))
