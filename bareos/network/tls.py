"""How a connection is protected: the one place that reads a resource's TLS directives.

Every listener asks :func:`server_creator` for its TLS side and every dial asks
:func:`client_creator`; the ``ssl=`` value a director puts into its job-channel commands
comes from :func:`job_channel_ssl` and is read back by :func:`job_channel_settings`.
Whether a peer may stay in cleartext is :func:`cleartext_hello_allowed` (a listener, before
CRAM-MD5) and :func:`cleartext_session_allowed` (both sides, after it).

Modes (as Bareos):

* cleartext: ``TLS Enable = no``;
* TLS-PSK: the key is the resource's password (``bareos.protocol.tls``);
* certificates: ``TLS Certificate``/``TLS Key`` (our side), checked by the peer against
  its ``TLS CA Certificate File``/``Dir`` (and ``TLS Certificate Revocation List``);
  ``TLS Verify Peer`` makes a listener demand a client certificate and a dialler check
  the server's name against the address it dialled (service-identity does that);
  ``TLS Allowed CN`` limits the accepted certificates' common names;
* both: a listener with a certificate still answers PSK, a dialler with CA certificates
  still offers its PSK, and the PSK wins when both sides have it.  To make it win under
  TLS 1.3 (whose old-style PSK is bound to SHA-256), a listener that has a certificate
  too keeps to the SHA-256 TLS 1.3 suites, as Bareos does, and prefers the PSK suites
  of TLS 1.2.

``TLS PSK Enable = no`` (a project extension) leaves the PSK out of both sides, so that
only a certificate can protect the connection.

Refusals (wrong CA, expired or revoked certificate, a common name not allowed, a name
that does not match) are logged here with the rule that refused them; OpenSSL then ends
the handshake with an alert, which the peer logs as the reason its connection failed.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, replace
from typing import Any, Callable, Optional

from cryptography.x509.oid import NameOID
from OpenSSL import SSL, crypto
from service_identity import VerificationError
from service_identity.pyopenssl import verify_hostname, verify_ip_address
from twisted.internet.interfaces import (
    IOpenSSLClientConnectionCreator, IOpenSSLServerConnectionCreator)
from twisted.internet.ssl import CertificateOptions
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from bareos.protocol.tls import (
    DEFAULT_CIPHERS, TLS1_2_VERSION, TLS1_3_VERSION, PskClientContextFactory,
    PskServerContextFactory, negotiated_with_psk, set_tls13_ciphersuites)
from bareos.config import ConfigError
from bareos.protocol.hello import Hello, HelloKind
from bareos.protocol.tlspolicy import TlsPolicy, tls_policy

log = Logger(namespace="bareos.tls")

#: ``ssl=`` in the director's storage/JobId/passive commands: TLS-PSK before the hello.
TLS_AUTO = 4

#: ``TLS Protocol`` values: the lowest protocol version accepted.
MINIMUM_VERSIONS = {"tlsv1.2": TLS1_2_VERSION, "tlsv1.3": TLS1_3_VERSION}

#: TLS 1.3 suites usable with Bareos' (old-style, SHA-256 bound) PSK.
SHA256_TLS13_SUITES = "TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256"


#: Appended to a TLS 1.2 cipher list: moves the certificate-authenticated suites to its end.
CERTIFICATE_SUITES_LAST = "+aRSA:+aECDSA:+aDSS"


class TlsConfigError(ValueError):
    """TLS directives that cannot be put into effect (a file that cannot be read, ...)."""


@dataclass(frozen=True)
class TlsSettings:
    """The TLS directives of one resource, checked."""

    enable: bool = False
    require: bool = False
    psk: bool = True
    certificate: Optional[str] = None
    key: Optional[str] = None
    ca_file: Optional[str] = None
    ca_dir: Optional[str] = None
    crl: Optional[str] = None
    verify_peer: bool = False
    allowed_cns: tuple[str, ...] = ()
    cipher_list: str = DEFAULT_CIPHERS
    cipher_suites: Optional[str] = None
    min_version: int = TLS1_2_VERSION

    @property
    def policy(self) -> TlsPolicy:
        return tls_policy(self.enable, self.require)

    @property
    def has_ca(self) -> bool:
        return bool(self.ca_file or self.ca_dir)

    @property
    def has_certificate(self) -> bool:
        return bool(self.certificate and self.key)


def settings(resource: Any) -> TlsSettings:
    """The TLS settings of a configuration resource; raises TlsConfigError."""
    protocol = (resource.tls_protocol or "TLSv1.2").strip().lower()
    if protocol not in MINIMUM_VERSIONS:
        raise TlsConfigError(f"TLS Protocol {resource.tls_protocol!r}: expected the lowest "
                             "version accepted, TLSv1.2 or TLSv1.3")
    if bool(resource.tls_certificate) != bool(resource.tls_key):
        raise TlsConfigError("TLS Certificate and TLS Key go together")
    return TlsSettings(
        enable=bool(resource.tls_enable), require=bool(resource.tls_require),
        psk=bool(resource.tls_psk_enable), certificate=resource.tls_certificate,
        key=resource.tls_key, ca_file=resource.tls_ca_certificate_file,
        ca_dir=resource.tls_ca_certificate_dir, crl=resource.tls_certificate_revocation_list,
        verify_peer=bool(resource.tls_verify_peer), allowed_cns=tuple(resource.tls_allowed_cn),
        cipher_list=resource.tls_cipher_list or DEFAULT_CIPHERS,
        cipher_suites=resource.tls_cipher_suites, min_version=MINIMUM_VERSIONS[protocol])


#: Resource types, per program, whose TLS directives a listener (the first: the daemon's
#: own resource; None: no listener) or a dial reads in full.
CERTIFICATE_RESOURCES = {
    "bareos-dir": ("director", "client", "storage"),
    "bareos-fd": ("client", "director"),
    "bareos-sd": ("storage",),
    "tray-monitor": (None, "director", "client", "storage"),
}


def check_config(config: Any, daemon_name: str) -> None:
    """Put every TLS setting of a daemon's configuration to the test: directives that go
    together, files that must be read (the listener's certificate and key, CA files and
    CRLs); raises ConfigError naming the resource, and warns (``config.warnings``) about
    what is not done.  For ``-t``, start and reload."""
    kinds = CERTIFICATE_RESOURCES.get(daemon_name, ())
    for kind in kinds:
        if kind is None:
            continue
        for resource in config.resources(kind):
            try:
                tls = settings(resource)
                if kind == kinds[0]:
                    server_creator(tls, lambda rtype, name: None, resource.name)
                    if daemon_name in ("bareos-fd", "bareos-sd"):   # it dials job channels
                        client_creator(job_channel_settings(TLS_AUTO, resource),
                                       b"R_JOB\x1echeck", b"check", resource.name)
                else:                   # a dial's side, with a stand-in identity and key
                    client_creator(tls, b"R_CHECK\x1echeck", b"check", resource.name)
            except TlsConfigError as exc:
                raise ConfigError(resource.location[0], resource.location[1],
                                  f"{kind.capitalize()} {resource.name}: {exc}") from None


def resource_policy(resource: Any) -> TlsPolicy:
    """The ``TLS Enable``/``TLS Require`` policy of a resource (sent as ``ssl=`` in CRAM)."""
    return tls_policy(bool(resource.tls_enable), bool(resource.tls_require))


def cleartext_session_allowed(is_tls: bool, local_policy: TlsPolicy, remote_policy: TlsPolicy) -> bool:
    """After CRAM: a cleartext session is refused if either side requires TLS.

    (Pre-18.2 Bareos would start TLS only now; this suite always starts TLS
    before the hello, so an untouched cleartext session must be acceptable to both.)
    """
    if is_tls:
        return True
    return TlsPolicy.REQUIRED not in (local_policy, remote_policy)


def cleartext_hello_allowed(hello: Hello, policy: TlsPolicy) -> bool:
    """Before CRAM: may this hello be answered without TLS, given the named resource's policy?

    Client-initiated file daemons may use cleartext unless TLS is required;
    old consoles (before 18.2) are checked after CRAM instead; everybody else
    must use TLS unless the resource disables it.
    """
    if hello.kind is HelloKind.CLIENT:
        return policy < TlsPolicy.REQUIRED
    if hello.kind is HelloKind.CONSOLE and not hello.is_console_18_2:
        return True
    return policy == TlsPolicy.NONE


def psk_settings(tls_policy_: TlsPolicy) -> TlsSettings:
    """Settings for a bare policy: TLS-PSK when enabled (job channels, the tray monitor)."""
    return TlsSettings(enable=tls_policy_ >= TlsPolicy.ENABLED,
                       require=tls_policy_ == TlsPolicy.REQUIRED)


def job_channel_ssl(peer_resource: Any) -> int:
    """``ssl=`` the director sends for a job channel to/from ``peer_resource``."""
    return TLS_AUTO if resource_policy(peer_resource) >= TlsPolicy.ENABLED else 0


def job_channel_settings(ssl: int, own_resource: Any) -> TlsSettings:
    """How a daemon dials a job channel (FD->SD, passive SD->FD, SD->SD) after the
    director's ``ssl=``: 0 is cleartext (the pre-18.2 post-CRAM TLS negotiation is not
    supported); 4 is TLS with the dialling daemon's own resource (its Client or Storage:
    TLS Certificate, CA, Verify Peer, Allowed CN, Cipher List, Protocol) plus TLS-PSK with
    the job's key, as Bareos does.  The listener always answers that PSK, so it wins and
    the certificates only take over where ``TLS PSK Enable = no`` (our extension) leaves
    the PSK out.  Without CA certificates no server certificate could be checked: then
    the dial offers the PSK alone."""
    if ssl != TLS_AUTO:
        return psk_settings(TlsPolicy.NONE)
    own = replace(settings(own_resource), enable=True, require=False)
    if own.psk and not own.has_ca:
        own = replace(own, certificate=None, key=None, verify_peer=False)
    return own


def session_kind(conn: Any) -> str:
    """How an established BareosConnection is protected, for logs and job reports:
    ``TLS-PSK``, ``TLS`` (certificates) or ``Cleartext``."""
    if not conn.is_tls:
        return "Cleartext"
    return "TLS-PSK" if negotiated_with_psk(conn.transport) else "TLS"


# ---------------------------------------------------------------------------
# Contexts
# ---------------------------------------------------------------------------


def _read(path: Optional[str], what: str, load: Callable[[int, bytes], Any]) -> Any:
    assert path is not None
    try:
        with open(path, "rb") as f:
            return load(crypto.FILETYPE_PEM, f.read())
    except OSError as exc:
        raise TlsConfigError(f"cannot read {what} {path}: {exc.strerror}") from None
    except crypto.Error as exc:
        raise TlsConfigError(f"cannot load {what} {path} (encrypted keys are not supported): "
                             f"{exc}") from None


def _certificate_context(tls: TlsSettings, server: bool, describe: str) -> SSL.Context:
    options: dict[str, Any] = {}
    if tls.has_certificate:
        options["certificate"] = _read(tls.certificate, "TLS Certificate", crypto.load_certificate)
        options["privateKey"] = _read(tls.key, "TLS Key", crypto.load_privatekey)
    # A dialler always checks the server's certificate; a listener asks for one only
    # with TLS Verify Peer.
    verify = not server or tls.verify_peer
    if verify and not tls.has_ca:
        raise TlsConfigError(f"{describe}: certificates cannot be checked without "
                             "TLS CA Certificate File or TLS CA Certificate Dir")
    try:
        ctx = CertificateOptions(**options).getContext()
        ctx.set_min_proto_version(tls.min_version)
        ctx.set_cipher_list(tls.cipher_list.encode("ascii"))
        ctx.set_options(SSL.OP_NO_TICKET)
        if not server:
            # No session id context (Twisted sets one) for a dialler: the session OpenSSL
            # makes for its old-style PSK has none, and a mismatch fails the handshake.
            # (A listener that verifies peers needs one; OpenSSL gives it to PSK sessions.)
            ctx.set_session_id(b"")
        if verify:
            # OpenSSL checks the chain, validity and revocation; we add TLS Allowed CN
            ctx.load_verify_locations(tls.ca_file, tls.ca_dir)
            if tls.crl:
                # OpenSSL reads the CRLs of a PEM file given as a CA location into the store
                ctx.load_verify_locations(tls.crl)
                store = ctx.get_cert_store()
                assert store is not None
                store.set_flags(crypto.X509StoreFlags.CRL_CHECK)
            ctx.set_verify(SSL.VERIFY_PEER | SSL.VERIFY_FAIL_IF_NO_PEER_CERT,
                           _checking_certificates(tls.allowed_cns, describe))
    except SSL.Error as exc:
        raise TlsConfigError(f"{describe}: the TLS settings do not work "
                             f"(TLS CA Certificate, TLS Certificate Revocation List, "
                             f"TLS Cipher List): {exc}") from None
    return ctx


def _checking_certificates(allowed_cns: tuple[str, ...], describe: str) -> Callable[..., bool]:
    """pyOpenSSL verify callback: OpenSSL's verdict, then TLS Allowed CN; logs refusals."""
    def verify(conn: SSL.Connection, cert: crypto.X509, errno: int, depth: int, ok: int) -> bool:
        subject = common_name(cert)
        if not ok:
            log.warn("TLS ({describe}): certificate {subject!r} of {peer} refused: {reason} "
                     "(TLS CA Certificate / TLS Certificate Revocation List)",
                     describe=describe, subject=subject, peer=_peer(conn),
                     reason=_verify_error_text(errno))
            return False
        if depth == 0 and allowed_cns and subject not in allowed_cns:
            log.warn("TLS ({describe}): certificate of {peer} refused: common name {subject!r} "
                     "is not in TLS Allowed CN", describe=describe, peer=_peer(conn),
                     subject=subject)
            return False
        return True
    return verify


def common_name(cert: crypto.X509) -> Optional[str]:
    """The subject's common name of a peer certificate (the TLS Allowed CN rule)."""
    names = cert.to_cryptography().subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else None


def _verify_error_text(errno: int) -> str:
    from OpenSSL._util import ffi, lib   # the error text is not public in pyOpenSSL
    return ffi.string(lib.X509_verify_cert_error_string(errno)).decode("utf-8", "replace")


def _peer(conn: SSL.Connection) -> str:
    try:
        peer = conn.get_app_data().transport.getPeer()
        return f"{peer.host}:{peer.port}"
    except Exception:
        return "the peer"


def server_creator(tls: TlsSettings, lookup_key: Callable[[str, str], Optional[bytes]],
                   describe: str) -> IOpenSSLServerConnectionCreator:
    """The TLS side of a listener whose own resource has ``tls``.

    PSK keys are looked up per handshake with ``lookup_key(resource_type, name)``, whatever
    the listener's own TLS Enable says: whether a given peer may or must use TLS is the
    peer resource's policy, checked after its hello (``bareos.daemon.acceptor``).
    """
    if not tls.has_certificate:
        if not tls.psk:
            raise TlsConfigError(f"{describe}: TLS PSK Enable = no needs TLS Certificate and Key")
        return PskServerContextFactory(lookup_key, tls.cipher_list, min_version=tls.min_version)
    ctx = _certificate_context(tls, server=True, describe=describe)
    if tls.psk:
        set_tls13_ciphersuites(ctx, tls.cipher_suites or SHA256_TLS13_SUITES)
        # TLS <= 1.2: the server's preference decides; certificate suites last, so that a
        # client offering PSK (python-bareos) gets it
        ctx.set_cipher_list(f"{tls.cipher_list}:{CERTIFICATE_SUITES_LAST}".encode("ascii"))
        return PskServerContextFactory(lookup_key, context=ctx)
    if tls.cipher_suites:
        set_tls13_ciphersuites(ctx, tls.cipher_suites)
    return _CertificateServer(ctx)


@implementer(IOpenSSLServerConnectionCreator)
class _CertificateServer:
    def __init__(self, ctx: SSL.Context) -> None:
        self._context = ctx

    def serverConnectionForTLS(self, tlsProtocol: Any) -> SSL.Connection:
        conn = SSL.Connection(self._context, None)
        conn.set_app_data(tlsProtocol)
        return conn


def client_creator(tls: TlsSettings, identity: bytes, key: bytes, hostname: str
                   ) -> Optional[IOpenSSLClientConnectionCreator]:
    """The TLS side of a dial to ``hostname`` (None: cleartext).

    Without CA certificates the dialler speaks TLS-PSK only; with them it also accepts
    a server certificate, checked against them and, with TLS Verify Peer, against
    ``hostname`` by service-identity.
    """
    if not tls.enable:
        return None
    if not tls.has_ca and not tls.has_certificate:
        if not tls.psk:
            raise TlsConfigError(f"{hostname}: TLS PSK Enable = no needs TLS CA Certificate")
        return PskClientContextFactory(identity, key, tls.cipher_list, min_version=tls.min_version)
    describe = f"to {hostname}"
    ctx = _certificate_context(tls, server=False, describe=describe)
    if tls.cipher_suites:
        set_tls13_ciphersuites(ctx, tls.cipher_suites)
    if tls.psk:
        PskClientContextFactory.install(ctx, identity, key)
    return _CertificateClient(ctx, hostname, tls.verify_peer)


@implementer(IOpenSSLClientConnectionCreator)
class _CertificateClient:
    """A dialler's certificate TLS: SNI, and service-identity's name check after a
    certificate handshake (a PSK handshake has no certificate: the key proved the peer)."""

    def __init__(self, ctx: SSL.Context, hostname: str, verify_name: bool) -> None:
        self._context = ctx
        self._hostname = hostname
        self._verify_name = verify_name
        try:
            ipaddress.ip_address(hostname)
            self._is_ip = True
        except ValueError:
            self._is_ip = False
        ctx.set_info_callback(self._check_name_when_done)

    def clientConnectionForTLS(self, tlsProtocol: Any) -> SSL.Connection:
        conn = SSL.Connection(self._context, None)
        conn.set_app_data(tlsProtocol)
        if not self._is_ip:
            conn.set_tlsext_host_name(self._hostname.encode("idna"))
        return conn

    def _check_name_when_done(self, conn: SSL.Connection, where: int, ret: int) -> None:
        # Runs inside OpenSSL: must not raise.
        if not where & SSL.SSL_CB_HANDSHAKE_DONE or not self._verify_name:
            return
        if conn.get_peer_certificate() is None:
            return                                  # TLS-PSK
        try:
            (verify_ip_address if self._is_ip else verify_hostname)(conn, self._hostname)
        except VerificationError as exc:
            log.warn("TLS (to {host}): server certificate refused: it is not for {host} "
                     "(TLS Verify Peer): {reason}", host=self._hostname, reason=exc)
            conn.get_app_data().failVerification(Failure())
        except Exception:
            log.failure("TLS: unexpected error checking the server's name")
            conn.get_app_data().failVerification(Failure())
