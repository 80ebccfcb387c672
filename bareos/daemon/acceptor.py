"""Authenticating the peer of an accepted connection: one routine for all daemons."""

import secrets

from bareos.network import tls as network_tls
from bareos.protocol import handshake
from bareos.protocol.handshake import AuthenticationFailed, RefusedBeforeChallenge
from bareos.protocol.tls import TlsPolicy, negotiated_psk_identity


async def authenticate_peer(conn, hello, key, policy, own_name, clock):
    """Check the TLS-PSK identity or the cleartext rule, then run CRAM-MD5 as acceptor.

    ``key`` is None for an unknown peer: it is challenged with a random key, so
    it is refused exactly like a wrong password (same reply, same delay) and
    nothing tells which part was wrong.  Raises AuthenticationFailed with the
    reason for our log (RefusedBeforeChallenge when no CRAM-MD5 took place: the
    caller then closes with TERMINATE alone, as Bareos does).  The outcome counts for the connection's admission (a
    failure against the peer's address, see ``bareos.protocol.admission``).
    """
    admission = conn.admission
    try:
        remote_policy = await _authenticate(conn, hello, key, policy, own_name, clock)
    except AuthenticationFailed:
        if admission is not None:
            admission.failed()
        raise
    if admission is not None:
        admission.authenticated()
    return remote_policy


async def _authenticate(conn, hello, key, policy, own_name, clock):
    unknown = key is None
    if unknown:
        key, policy = secrets.token_hex(16).encode(), TlsPolicy.NONE
    elif conn.is_tls:
        # None after a certificate handshake: CRAM-MD5 below proves who the peer is
        identity = negotiated_psk_identity(conn.transport)
        if identity is not None and identity != (hello.kind.psk_type, hello.name):
            raise RefusedBeforeChallenge(
                f"hello names {hello.kind.psk_type} {hello.name!r} but TLS-PSK identity was {identity!r}")
    elif not network_tls.cleartext_hello_allowed(hello, policy):
        raise RefusedBeforeChallenge(
            f"cleartext connection refused for {hello.name!r}: TLS is enabled for it")
    try:
        # a wrong answer counts against the peer's address at once, not after the delay
        remote_policy = await handshake.authenticate_as_acceptor(
            conn, key, own_name, policy, clock,
            on_wrong_answer=conn.admission and conn.admission.failed)
    except AuthenticationFailed as exc:
        if unknown:
            raise AuthenticationFailed(f"unknown {hello.kind.value} {hello.name!r}") from None
        raise AuthenticationFailed(f"{hello.kind.value} {hello.name!r}: {exc}") from None
    if not network_tls.cleartext_session_allowed(conn.is_tls, policy, remote_policy):
        raise AuthenticationFailed(f"TLS required but {hello.name!r} connected in cleartext")
    return remote_policy
