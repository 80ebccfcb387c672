"""Authentication conversations, as coroutines over a ``BareosConnection``.

After the hello, the side that accepted the TCP connection challenges first;
then the roles swap.  Both sides prove the same key (see ``cram``).  Whether
cleartext is acceptable is decided by ``policy``; TLS itself is set up before
the hello (TLS-PSK, see ``tls``) by ``dial`` and by the sniffing acceptor.
"""

from twisted.internet import defer, task
from twisted.internet.endpoints import HostnameEndpoint, wrapClientTLS
from twisted.internet.protocol import Factory

from bareos.protocol import cram
from bareos.protocol.connection import BareosConnection
from bareos.protocol.hello import HelloKind, format_hello
from bareos.protocol.tls import PskClientContextFactory, TlsPolicy, psk_identity

ANSWER_TIMEOUT = 180
FAILURE_DELAY = 5


class AuthenticationFailed(Exception):
    """The peer could not prove the shared key, or refused ours."""


async def challenge_peer(conn, key, own_name, ssl_policy, clock, timeout=ANSWER_TIMEOUT,
                         failure_delay=None):
    """Send a challenge and check the answer; refuse slowly (FAILURE_DELAY) on a wrong one."""
    message, token = cram.make_challenge(own_name, ssl_policy)
    conn.send(message)
    answer = await conn.receive(timeout)
    if cram.verify_response(key, token, answer):
        conn.send(cram.OK_AUTH)
        return
    await task.deferLater(clock, FAILURE_DELAY if failure_delay is None else failure_delay,
                          lambda: None)
    conn.send(cram.AUTH_FAILED)
    raise AuthenticationFailed("peer's answer to our challenge is wrong (wrong password?)")


async def answer_challenge(conn, key, own_name, timeout=ANSWER_TIMEOUT):
    """Answer the peer's challenge; return the TLS policy the peer announced."""
    message = await conn.receive(timeout)
    try:
        token, remote_policy, compatible = cram.parse_challenge(message)
    except cram.CramError as exc:
        raise AuthenticationFailed(str(exc)) from None
    if cram.is_reflected(token, own_name):
        raise AuthenticationFailed("peer reflected our own challenge back to us")
    conn.send(cram.response_for(key, token, compatible) + b"\x00")
    verdict = await conn.receive(timeout)
    if verdict != cram.OK_AUTH:
        raise AuthenticationFailed("peer refused our answer (wrong password?)")
    return TlsPolicy(min(remote_policy, TlsPolicy.REQUIRED))


async def authenticate_as_acceptor(conn, key, own_name, ssl_policy, clock, **timeouts):
    await challenge_peer(conn, key, own_name, ssl_policy, clock, **timeouts)
    return await answer_challenge(conn, key, own_name, timeouts.get("timeout", ANSWER_TIMEOUT))


async def authenticate_as_initiator(conn, key, own_name, ssl_policy, clock, **timeouts):
    remote_policy = await answer_challenge(conn, key, own_name, timeouts.get("timeout", ANSWER_TIMEOUT))
    await challenge_peer(conn, key, own_name, ssl_policy, clock, **timeouts)
    return remote_policy


async def dial(reactor, host, port, hello, key, own_name, policy, connect_timeout=30):
    """Connect, start TLS-PSK if our policy enables it, send the hello, authenticate.

    Returns the authenticated ``BareosConnection``; the caller reads the
    type-specific greeting.  ``own_name`` is the name in our CRAM challenge.
    """
    endpoint = HostnameEndpoint(reactor, host, port, timeout=connect_timeout)
    if policy >= TlsPolicy.ENABLED:
        identity = psk_identity(hello.kind.psk_type, hello.name)
        endpoint = wrapClientTLS(PskClientContextFactory(identity, key), endpoint)
    factory = Factory.forProtocol(lambda: BareosConnection(clock=reactor))
    factory.noisy = False
    conn = await endpoint.connect(factory)
    try:
        conn.send(format_hello(hello))
        remote_policy = await authenticate_as_initiator(conn, key, own_name, policy, reactor)
        if not cleartext_session_allowed(conn.is_tls, policy, remote_policy):
            raise AuthenticationFailed("TLS is required by one side but the connection is cleartext")
    except BaseException:
        conn.close(terminate=False)
        raise
    return conn


def cleartext_session_allowed(is_tls, local_policy, remote_policy):
    """After CRAM: a cleartext session is refused if either side requires TLS.

    (Pre-18.2 Bareos would start TLS only now; this suite always starts TLS
    before the hello, so an untouched cleartext session must be acceptable to both.)
    """
    if is_tls:
        return True
    return TlsPolicy.REQUIRED not in (local_policy, remote_policy)


def cleartext_hello_allowed(hello, policy):
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


def defer_coroutine(coroutine):
    """Run a coroutine as a Deferred (Twisted 22.4 compatible)."""
    return defer.ensureDeferred(coroutine)
