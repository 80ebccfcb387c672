"""Authentication conversations, as coroutines over a ``BareosConnection``.

After the hello, the side that accepted the TCP connection challenges first;
then the roles swap.  Both sides prove the same key (see ``cram``).  Whether
cleartext is acceptable is decided by ``policy``; TLS itself is set up before
the hello (TLS-PSK, see ``tls``) by ``dial`` and by the sniffing acceptor.
The conversations themselves are pure generators in ``conversation``.
"""

from twisted.internet import defer, error as net_error, task
from twisted.internet.endpoints import HostnameEndpoint, wrapClientTLS
from twisted.internet.protocol import Factory
from twisted.logger import Logger

from bareos.protocol import conversation
from bareos.protocol.connection import BareosConnection, ConnectionClosed, ReceiveTimeout
from bareos.protocol.conversation import (  # noqa: F401 (AuthenticationFailed is part of this API)
    RECEIVE, Ask, AuthenticationFailed, Sleep, acceptor_steps, challenge_steps, initiator_steps)
from bareos.protocol.hello import HelloKind, format_hello
from bareos.protocol.tls import PskClientContextFactory, TlsPolicy, psk_identity

log = Logger(namespace="bareos.protocol")

ANSWER_TIMEOUT = 180
TLS_AUTO = 4      # ssl=4 in the director's storage/JobId/passive commands: TLS-PSK first
FAILURE_DELAY = conversation.FAILURE_DELAY     # module global, so tests may shorten it


async def converse(conn, steps, clock, timeout=ANSWER_TIMEOUT, ask=None):
    """Run a conversation (see ``conversation``) on a BareosConnection; return its result.

    ``ask(prompt)`` answers Ask steps (a Deferred or a value).
    """
    reply = None
    while True:
        try:
            step = steps.send(reply)
        except StopIteration as done:
            return done.value
        reply = None
        if step is RECEIVE:
            reply = await conn.receive(timeout)
        elif isinstance(step, Sleep):
            await task.deferLater(clock, step.seconds, lambda: None)
        elif isinstance(step, Ask):
            reply = await defer.maybeDeferred(ask, step.prompt)
        else:
            conn.send(step)


async def challenge_peer(conn, key, own_name, ssl_policy, clock, timeout=ANSWER_TIMEOUT):
    await converse(conn, challenge_steps(key, own_name, ssl_policy, FAILURE_DELAY), clock, timeout)


async def authenticate_as_acceptor(conn, key, own_name, ssl_policy, clock, timeout=ANSWER_TIMEOUT):
    return await converse(conn, acceptor_steps(key, own_name, ssl_policy, FAILURE_DELAY),
                          clock, timeout)


async def authenticate_as_initiator(conn, key, own_name, ssl_policy, clock, timeout=ANSWER_TIMEOUT):
    return await converse(conn, initiator_steps(key, own_name, ssl_policy, FAILURE_DELAY),
                          clock, timeout)


async def dial(reactor, host, port, hello, key, own_name, policy, connect_timeout=30,
               answer_timeout=ANSWER_TIMEOUT):
    """Connect, start TLS-PSK if our policy enables it, send the hello, authenticate.

    Returns the authenticated ``BareosConnection``; the caller reads the
    type-specific greeting.  ``own_name`` is the name in our CRAM challenge;
    ``answer_timeout`` bounds each wait for the peer during authentication.
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
        remote_policy = await authenticate_as_initiator(conn, key, own_name, policy, reactor,
                                                        timeout=answer_timeout)
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


def job_channel_policy(ssl):
    """``ssl=`` of a director's command -> how a daemon dials a job channel: TLS-PSK before
    the hello for 4 ("auto", TLS-first daemons), else cleartext (the pre-18.2 post-CRAM TLS
    negotiation is not supported)."""
    return TlsPolicy.ENABLED if ssl == TLS_AUTO else TlsPolicy.NONE


async def dial_with_retries(reactor, address, port, hello, key, own_name, policy, timeout,
                            retry_interval, peer, failure, is_canceled=lambda: False):
    """``dial`` a job channel, retrying unreachable addresses every ``retry_interval``
    seconds until ``timeout`` has passed.  ``peer`` names the other daemon in logs and
    reasons; every failure raises the caller's ``failure`` exception with a reason an
    operator understands."""
    deadline = reactor.seconds() + max(0, timeout)
    while True:
        remaining = deadline - reactor.seconds()
        try:
            return await dial(reactor, address, port, hello, key, own_name, policy,
                              connect_timeout=max(1, min(30, remaining)))
        except AuthenticationFailed as exc:
            raise failure(f"authentication failed: {exc}") from None
        except (ConnectionClosed, ReceiveTimeout) as exc:
            raise failure(f"the {peer} closed the connection: {exc}") from None
        except (net_error.ConnectError, net_error.DNSLookupError, net_error.TimeoutError,
                OSError) as exc:
            reason = connect_failure_reason(exc)
        except Exception as exc:  # TLS handshake failures arrive as SSL errors
            raise failure(f"{type(exc).__name__}: {exc}") from None
        remaining = deadline - reactor.seconds()
        if remaining <= 0 or is_canceled():
            raise failure(reason)
        log.info("Cannot reach {peer} {address}:{port} ({reason}); retrying",
                 peer=peer, address=address, port=port, reason=reason)
        await task.deferLater(reactor, min(retry_interval, remaining), lambda: None)
        if is_canceled():
            raise failure("job canceled")


def connect_failure_reason(exc):
    """Why a TCP connection could not be made, in the words of the job log."""
    text = str(exc).strip()
    if isinstance(exc, net_error.ConnectionRefusedError):
        return "Connection refused"
    if isinstance(exc, net_error.TimeoutError):
        return "Connection timed out"
    if isinstance(exc, net_error.DNSLookupError):
        return f"cannot resolve the address ({text})"
    return text or type(exc).__name__
