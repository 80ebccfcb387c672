"""TLS-PSK for Twisted, through pyOpenSSL.

Bareos daemons and python-bareos protect their connections with TLS using a
pre-shared key (PSK) instead of certificates (PROTOCOL.md §3.3):

* identity: ``b"<R_TYPE>\\x1e<resource name>"``, the name is not bashed;
* key: the stored password string (32 lowercase hex chars of the password's
  MD5) or, for ``R_JOB``, the job session key;
* no identity hint, no server certificate, cipher list
  ``ALL:!ADH:!LOW:!EXP:!MD5:@STRENGTH`` on both sides.

Two connection creators plug this into Twisted's own TLS machinery
(``TLSMemoryBIOFactory``, ``wrapClientTLS``, ``startTLS``):

* :class:`PskServerContextFactory` (``IOpenSSLServerConnectionCreator``): one
  ``SSL.Context`` for all connections; the key is looked up per handshake by
  ``(resource_type, name)``.  After the handshake
  :func:`negotiated_psk_identity` tells which identity the peer used.
* :class:`PskClientContextFactory` (``IOpenSSLClientConnectionCreator``);
  :meth:`PskClientContextFactory.context` also serves blocking
  ``SSL.Connection`` use.

TLS versions: 1.2 and 1.3.  TLS 1.3 works with the "old style" PSK callbacks
used here: OpenSSL (>= 1.1.1) treats the key as a TLS 1.3 external PSK bound to
SHA-256, and a server that has a PSK server callback but no certificate
prefers SHA-256 cipher suites, so a handshake between two such endpoints
negotiates e.g. ``TLS_AES_128_GCM_SHA256`` or
``TLS_CHACHA20_POLY1305_SHA256``.  Clients that cap at 1.2 (python-bareos on
Python < 3.13 via sslpsk3) get a TLS 1.2 PSK suite such as
``ECDHE-PSK-CHACHA20-POLY1305``.  Pass ``max_version=TLS1_2_VERSION`` to cap a
factory at 1.2.  Which 1.2 suite wins depends on the OpenSSL build (3.0:
``ECDHE-PSK-CHACHA20-POLY1305``; 4.0 between two of our own endpoints:
``DHE-PSK-AES256-GCM-SHA384``), so do not hard-code it.

:class:`PskClientContextFactory` refuses every server certificate.  Certificates,
and PSK next to them, are set up by ``bareos.network.tls``, which decides for every
connection which of these a resource's TLS directives ask for.
"""

from __future__ import annotations

import weakref
from typing import Any, Callable, Optional, Tuple, Union

from OpenSSL import SSL
from twisted.internet.interfaces import (
    IOpenSSLClientConnectionCreator,
    IOpenSSLServerConnectionCreator,
)
from twisted.protocols.tls import TLSMemoryBIOProtocol
from twisted.logger import Logger
from zope.interface import implementer

from bareos.protocol.tlspolicy import TlsPolicy, tls_policy

__all__ = [
    "DEFAULT_CIPHERS",
    "PSK_AVAILABLE",
    "PskClientContextFactory",
    "PskIdentityError",
    "PskServerContextFactory",
    "TlsPolicy",
    "negotiated_cipher",
    "negotiated_psk_identity",
    "negotiated_tls_version",
    "negotiated_with_psk",
    "parse_psk_identity",
    "psk_identity",
    "set_tls13_ciphersuites",
    "tls_policy",
]

log = Logger(namespace="bareos.protocol.tls")

#: Bareos' default cipher list (both sides; python-bareos uses the same string).
#: It applies to TLS <= 1.2; TLS 1.3 suites are OpenSSL's defaults.
DEFAULT_CIPHERS = "ALL:!ADH:!LOW:!EXP:!MD5:@STRENGTH"

#: Byte separating resource type and name in a PSK identity (ASCII RS).
IDENTITY_SEPARATOR = b"\x1e"

#: Protocol version constants, re-exported for ``min_version``/``max_version``.
TLS1_2_VERSION = SSL.TLS1_2_VERSION
TLS1_3_VERSION = SSL.TLS1_3_VERSION


# ---------------------------------------------------------------------------
# Policy and identity codecs (pure)
# ---------------------------------------------------------------------------


# TlsPolicy and tls_policy live in bareos.protocol.tlspolicy (no OpenSSL import there).


class PskIdentityError(ValueError):
    """A PSK identity that cannot be built or parsed."""


def psk_identity(resource_type: str, name: str) -> bytes:
    """Build the identity ``b"<resource_type>\\x1e<name>"`` (UTF-8, name not bashed).

    >>> psk_identity("R_CONSOLE", "admin")
    b'R_CONSOLE\\x1eadmin'
    """
    if not resource_type:
        raise PskIdentityError("empty resource type")
    if not name:
        raise PskIdentityError("empty resource name")
    rtype, rname = resource_type.encode("utf-8"), name.encode("utf-8")
    if IDENTITY_SEPARATOR in rtype:
        raise PskIdentityError(f"resource type contains the separator: {resource_type!r}")
    if b"\0" in rtype or b"\0" in rname:
        # OpenSSL passes identities as C strings.
        raise PskIdentityError("NUL byte in PSK identity")
    return rtype + IDENTITY_SEPARATOR + rname


def parse_psk_identity(identity: bytes) -> Tuple[str, str]:
    """Split an identity at the first ``0x1e`` into ``(resource_type, name)``.

    Raises :class:`PskIdentityError` (a ``ValueError``) if there is no
    separator, either part is empty or it is not UTF-8.
    """
    if not isinstance(identity, (bytes, bytearray)):
        raise PskIdentityError(f"PSK identity must be bytes, not {type(identity).__name__}")
    rtype, sep, name = bytes(identity).partition(IDENTITY_SEPARATOR)
    if not sep:
        raise PskIdentityError(f"no record separator in PSK identity {bytes(identity)!r}")
    if not rtype or not name:
        raise PskIdentityError(f"empty part in PSK identity {bytes(identity)!r}")
    if b"\0" in identity:
        raise PskIdentityError(f"NUL byte in PSK identity {bytes(identity)!r}")
    try:
        return rtype.decode("utf-8"), name.decode("utf-8")
    except UnicodeDecodeError as e:
        raise PskIdentityError(f"PSK identity is not UTF-8: {bytes(identity)!r}") from e


# ---------------------------------------------------------------------------
# The one place that touches private pyOpenSSL / cryptography names.
#
# pyOpenSSL has no public TLS-PSK API.  The cffi bindings it is built on
# (cryptography's compiled ``_openssl`` module, re-exported by pyOpenSSL as
# ``OpenSSL._util.lib`` / ``ffi``) do export SSL_CTX_set_psk_server_callback
# and SSL_CTX_set_psk_client_callback (cryptography >= 38, including Debian
# bookworm's python3-cryptography 38.0.4, up to at least 50).  Installing the
# callbacks needs the raw ``SSL_CTX *`` (``Context._context``) and mapping a
# callback's ``SSL *`` back to our Connection needs ``Connection._ssl``; both
# attributes have been stable in pyOpenSSL for many years (23.0 .. 26.x).
# If any of this disappears, PSK_AVAILABLE is False and the factories raise
# RuntimeError instead of failing somewhere inside OpenSSL.
# ---------------------------------------------------------------------------

try:
    from OpenSSL._util import ffi as _ffi, lib as _lib

    PSK_AVAILABLE = bool(
        getattr(_lib, "Cryptography_HAS_PSK", True)
        and hasattr(_lib, "SSL_CTX_set_psk_server_callback")
        and hasattr(_lib, "SSL_CTX_set_psk_client_callback")
    )
except ImportError:  # pragma: no cover - pyOpenSSL reorganised
    _ffi = _lib = None
    PSK_AVAILABLE = False

_SERVER_CB_TYPE = "unsigned int(SSL *, const char *, unsigned char *, unsigned int)"
_CLIENT_CB_TYPE = (
    "unsigned int(SSL *, const char *, char *, unsigned int, unsigned char *, unsigned int)"
)


def _require_psk() -> None:
    if not PSK_AVAILABLE:
        raise RuntimeError(
            "TLS-PSK is not available: the cryptography/pyOpenSSL bindings do not "
            "export SSL_CTX_set_psk_server_callback/SSL_CTX_set_psk_client_callback"
        )


# cffi objects (SSL * pointers, C buffers, callbacks) have no static types: Any.
def set_tls13_ciphersuites(context: SSL.Context, suites: str) -> None:
    """``TLS Cipher Suites``: the TLS 1.3 suites of a context (pyOpenSSL 23 has no API)."""
    if not _lib.SSL_CTX_set_ciphersuites(context._context, suites.encode("ascii")):
        raise ValueError(f"no usable TLS 1.3 cipher suite in {suites!r}")


def _ssl_address(ssl_ptr: Any) -> int:
    """The address of an ``SSL *`` cdata, as a dict key."""
    return int(_ffi.cast("uintptr_t", ssl_ptr))


def _connection_address(conn: SSL.Connection) -> int:
    return _ssl_address(conn._ssl)


def _install_server_callback(ctx: SSL.Context, fn: Callable[..., int]) -> None:
    cb = _ffi.callback(_SERVER_CB_TYPE, fn, error=0)
    _keep_alive(ctx, cb)
    _lib.SSL_CTX_set_psk_server_callback(ctx._context, cb)


def _install_client_callback(ctx: SSL.Context, fn: Callable[..., int]) -> None:
    cb = _ffi.callback(_CLIENT_CB_TYPE, fn, error=0)
    _keep_alive(ctx, cb)
    _lib.SSL_CTX_set_psk_client_callback(ctx._context, cb)


def _keep_alive(ctx: SSL.Context, cb: Any) -> None:
    # OpenSSL only holds a raw pointer to the callback: it must live as long
    # as the Context, and every Connection keeps its Context alive.  Stored on
    # the Context itself (as pyOpenSSL does with its own callbacks).
    ctx._bareos_psk_callback = cb  # type: ignore[attr-defined]  # ours, on pyOpenSSL's object


def _copy_out(buf: Any, max_len: int, data: bytes) -> bool:
    """Copy ``data`` into a C buffer of ``max_len`` bytes; False if it does not fit."""
    if len(data) > max_len:
        return False
    _ffi.memmove(buf, data, len(data))
    return True


# Server Connection -> (resource_type, name).  An identity is "pending" from
# the PSK callback until the handshake completes (the peer has proven the
# key), then it is "confirmed" and negotiated_psk_identity() reports it.
# Entries die with their Connection, so nothing leaks.
_PENDING_IDENTITIES: "weakref.WeakKeyDictionary[SSL.Connection, Tuple[str, str]]" = (
    weakref.WeakKeyDictionary()
)
_PEER_IDENTITIES: "weakref.WeakKeyDictionary[SSL.Connection, Tuple[str, str]]" = (
    weakref.WeakKeyDictionary()
)

# ---------------------------------------------------------------------------


def _new_context(cipher_list: str, min_version: int, max_version: Optional[int]) -> SSL.Context:
    ctx = SSL.Context(SSL.TLS_METHOD)
    ctx.set_min_proto_version(min_version)
    if max_version is not None:
        ctx.set_max_proto_version(max_version)
    ctx.set_cipher_list(cipher_list.encode("ascii"))
    # No session resumption: a resumed session would skip the PSK callback,
    # so the identity of the connection would be unknown.
    ctx.set_options(SSL.OP_NO_COMPRESSION | SSL.OP_NO_TICKET)
    ctx.set_session_cache_mode(SSL.SESS_CACHE_OFF)
    return ctx


def _as_key(key: Union[bytes, str, None]) -> Optional[bytes]:
    if key is None:
        return None
    if isinstance(key, str):
        key = key.encode("utf-8")
    return bytes(key)


@implementer(IOpenSSLServerConnectionCreator)
class PskServerContextFactory:
    """Server side TLS-PSK: no certificate, so only PSK cipher suites can be chosen.

    ``lookup_key(resource_type, name)`` returns the PSK for an identity (the
    stored password string, i.e. 32 ASCII hex chars of its MD5, or a job
    session key) or ``None``; ``None``, a malformed identity or an exception
    makes the handshake fail.  It runs inside OpenSSL's handshake, so it must
    be synchronous and quick.

    One ``SSL.Context`` is created here and shared by all connections.
    """

    def __init__(
        self,
        lookup_key: Callable[[str, str], Optional[bytes]],
        cipher_list: str = DEFAULT_CIPHERS,
        *,
        min_version: int = TLS1_2_VERSION,
        max_version: Optional[int] = None,
        context: Optional[SSL.Context] = None,
    ) -> None:
        _require_psk()
        # SSL * address -> live Connection, to find our Connection from a callback.
        self._connections: "weakref.WeakValueDictionary[int, SSL.Connection]" = (
            weakref.WeakValueDictionary()
        )
        # ``context``: one set up for certificates too (bareos.network.tls), else PSK only
        self._context = context or _new_context(cipher_list, min_version, max_version)
        _install_server_callback(
            self._context, _make_server_callback(lookup_key, self._connections))
        self._context.set_info_callback(_confirm_identity_when_done)

    def context(self) -> SSL.Context:
        """The shared server context (for tests and diagnostics)."""
        return self._context

    def serverConnectionForTLS(self, tlsProtocol: TLSMemoryBIOProtocol) -> SSL.Connection:
        conn = SSL.Connection(self._context, None)
        conn.set_app_data(tlsProtocol)
        self._connections[_connection_address(conn)] = conn
        return conn


def _make_server_callback(
    lookup_key: Callable[[str, str], Optional[bytes]],
    connections: "weakref.WeakValueDictionary[int, SSL.Connection]",
) -> Callable[[Any, Any, Any, int], int]:
    # A closure rather than a bound method: the Context keeps the callback
    # alive, and the callback must not keep the factory (and so the Context)
    # alive in turn.
    def server_callback(ssl: Any, identity_ptr: Any, psk_out: Any, max_psk_len: int) -> int:
        # Called from C: must never raise.  Returning 0 fails the handshake.
        try:
            identity = _ffi.string(identity_ptr) if identity_ptr != _ffi.NULL else b""
            try:
                rtype, name = parse_psk_identity(identity)
            except PskIdentityError as e:
                log.warn("TLS-PSK: refusing malformed identity: {error}", error=str(e))
                return 0
            conn = connections.get(_ssl_address(ssl))
            if conn is None:
                log.error("TLS-PSK: handshake on a connection we did not create; refusing")
                return 0
            previous = _PEER_IDENTITIES.get(conn) or _PENDING_IDENTITIES.get(conn)
            if previous is not None and previous != (rtype, name):
                # e.g. a TLS 1.2 renegotiation under another name.
                log.warn(
                    "TLS-PSK: peer switched identity from {old!r} to {new!r}; refusing",
                    old=previous, new=(rtype, name),
                )
                return 0
            key = _as_key(lookup_key(rtype, name))
            if not key:
                log.info("TLS-PSK: no key for identity {rtype} {name!r}", rtype=rtype, name=name)
                return 0
            if not _copy_out(psk_out, max_psk_len, key):
                log.error(
                    "TLS-PSK: key for {rtype} {name!r} is longer than {n} bytes",
                    rtype=rtype, name=name, n=max_psk_len,
                )
                return 0
            _PENDING_IDENTITIES[conn] = (rtype, name)
            return len(key)
        except BaseException:
            log.failure("TLS-PSK: unexpected error in server callback")
            return 0

    return server_callback


@implementer(IOpenSSLClientConnectionCreator)
class PskClientContextFactory:
    """Client side TLS-PSK with a fixed identity and key.

    Use it with ``TLSMemoryBIOFactory``/``wrapClientTLS``/``startTLS``, or take
    :meth:`context` for a blocking ``SSL.Connection`` over a socket.  Any
    server certificate is rejected: only a PSK suite authenticates the server.
    """

    def __init__(
        self,
        identity: bytes,
        key: Union[bytes, str],
        cipher_list: str = DEFAULT_CIPHERS,
        *,
        min_version: int = TLS1_2_VERSION,
        max_version: Optional[int] = None,
    ) -> None:
        _require_psk()
        parse_psk_identity(identity)  # raises PskIdentityError early
        identity = bytes(identity)
        psk = _as_key(key)
        if not psk:
            raise ValueError("empty PSK")
        self._context = _new_context(cipher_list, min_version, max_version)
        # A certificate only shows up if the server picked a non-PSK suite,
        # which would authenticate someone we have no key for: refuse.
        self._context.set_verify(SSL.VERIFY_PEER, _reject_certificate)
        self.install(self._context, identity, psk)

    @staticmethod
    def install(context: SSL.Context, identity: bytes, key: Union[bytes, str]) -> None:
        """Offer the PSK ``identity``/``key`` on a client context set up otherwise
        (for certificates too: bareos.network.tls)."""
        _require_psk()
        psk = _as_key(key)
        if not psk:
            raise ValueError("empty PSK")
        _install_client_callback(context, _make_client_callback(bytes(identity), psk))

    def context(self) -> SSL.Context:
        """The configured client context (shared by all connections of this factory)."""
        return self._context

    def clientConnectionForTLS(self, tlsProtocol: TLSMemoryBIOProtocol) -> SSL.Connection:
        conn = SSL.Connection(self._context, None)
        conn.set_app_data(tlsProtocol)
        return conn


def _make_client_callback(identity: bytes, key: bytes) -> Callable[..., int]:
    def client_callback(ssl: Any, hint: Any, identity_out: Any, max_identity_len: int,
                        psk_out: Any, max_psk_len: int) -> int:
        # Called from C: must never raise.  Returning 0 fails the handshake.
        # ``hint`` is NULL for TLS 1.3 and unused by Bareos anyway.
        try:
            # max_identity_len counts the terminating NUL.
            if len(identity) >= max_identity_len:
                log.error("TLS-PSK: identity longer than {n} bytes", n=max_identity_len - 1)
                return 0
            if not _copy_out(psk_out, max_psk_len, key):
                log.error("TLS-PSK: key longer than {n} bytes", n=max_psk_len)
                return 0
            _copy_out(identity_out, max_identity_len, identity + b"\0")
            return len(key)
        except BaseException:
            log.failure("TLS-PSK: unexpected error in client callback")
            return 0

    return client_callback


def _confirm_identity_when_done(conn: SSL.Connection, where: int, ret: int) -> None:
    # pyOpenSSL info callback (server context): runs inside OpenSSL, must not raise.
    try:
        if where & SSL.SSL_CB_HANDSHAKE_DONE:
            pending = _PENDING_IDENTITIES.pop(conn, None)
            if pending is not None:
                _PEER_IDENTITIES[conn] = pending
    except BaseException:
        log.failure("TLS-PSK: unexpected error in info callback")


def _reject_certificate(conn: SSL.Connection, cert: Any, errno: int, depth: int, ok: int) -> bool:
    return False


# ---------------------------------------------------------------------------
# After the handshake
# ---------------------------------------------------------------------------


def _ssl_connection(obj: object) -> Optional[SSL.Connection]:
    """The pyOpenSSL Connection behind a Connection, TLS protocol or transport."""
    if isinstance(obj, SSL.Connection):
        return obj
    get_handle = getattr(obj, "getHandle", None)
    if get_handle is None:
        return None
    try:
        handle = get_handle()
    except Exception:
        return None
    return handle if isinstance(handle, SSL.Connection) else None


def negotiated_psk_identity(tls_protocol_or_connection: object) -> Optional[Tuple[str, str]]:
    """``(resource_type, name)`` the peer authenticated with (server side), else None.

    Accepts an ``SSL.Connection``, a ``TLSMemoryBIOProtocol`` or a transport
    whose ``getHandle()`` returns one (what a protocol sees as
    ``self.transport`` under TLS).  None until the handshake has completed,
    and None for connections not made by :class:`PskServerContextFactory`.
    """
    conn = _ssl_connection(tls_protocol_or_connection)
    if conn is None:
        return None
    return _PEER_IDENTITIES.get(conn)


def negotiated_with_psk(tls_protocol: object) -> bool:
    """Did the handshake authenticate with a PSK (either side; False without TLS)?

    A TLS 1.2 PSK suite names it; a TLS 1.3 handshake on an external PSK counts as a
    resumption in OpenSSL (and real resumption is off: no session cache, no tickets).
    """
    conn = _ssl_connection(tls_protocol)
    if conn is None:
        return False
    if "PSK" in (conn.get_cipher_name() or ""):
        return True
    return conn.get_protocol_version_name() == "TLSv1.3" and bool(
        _lib.SSL_session_reused(conn._ssl))


def negotiated_cipher(tls_protocol: object) -> Optional[str]:
    """OpenSSL name of the negotiated cipher, e.g. ``"ECDHE-PSK-CHACHA20-POLY1305"``."""
    conn = _ssl_connection(tls_protocol)
    if conn is None:
        return None
    return conn.get_cipher_name()


def negotiated_tls_version(tls_protocol: object) -> Optional[str]:
    """Negotiated protocol version, e.g. ``"TLSv1.2"``, or None."""
    conn = _ssl_connection(tls_protocol)
    if conn is None:
        return None
    name = conn.get_protocol_version_name()
    return name if name and name != "Unknown" else None
