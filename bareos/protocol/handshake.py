"""Authentication conversations, as coroutines over a ``BareosConnection``.

After the hello, the side that accepted the TCP connection challenges first;
then the roles swap.  Both sides prove the same key (see ``cram``).  Whether
cleartext is acceptable is decided by ``policy``; TLS itself is set up before
the hello (``bareos.network.tls``) by ``dial`` and by the sniffing acceptor.
The conversations themselves are pure generators in ``conversation``.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Optional, TypeVar, cast

from twisted.internet import defer, error as net_error, task
from twisted.internet.interfaces import IReactorTime, IStreamClientEndpoint
from twisted.internet.abstract import isIPAddress, isIPv6Address
from twisted.internet.endpoints import (
    HostnameEndpoint, TCP4ClientEndpoint, TCP6ClientEndpoint, wrapClientTLS)
from twisted.internet.protocol import Factory
from twisted.logger import Logger

from bareos.network import tls as network_tls
from bareos.network.retry import every, retrying
from bareos.network.tls import TlsSettings
from bareos.protocol import conversation
from bareos.protocol.connection import (
    BareosConnection, ConnectionClosed, ReceiveTimeout, failure_reason)
from bareos.protocol.framing import Packet
from bareos.protocol.conversation import (  # noqa: F401 (AuthenticationFailed is part of this API)
    RECEIVE, Ask, AuthenticationFailed, Sleep, Steps, acceptor_steps, challenge_steps,
    RefusalDelay, RefusedBeforeChallenge, initiator_steps)
from bareos.protocol.hello import Hello, format_hello
from bareos.protocol.tls import TlsPolicy, psk_identity

log = Logger(namespace="bareos.protocol")

ANSWER_TIMEOUT = 180
FAILURE_DELAY: float = conversation.FAILURE_DELAY     # module global, so tests may shorten it
#: For tests that start real daemons (and whose subject is not this delay): seconds a daemon
#: waits before refusing a failed login, instead of FAILURE_DELAY.  Never for production: a
#: daemon that finds it set says so in its log (see ``shorten_failure_delay_for_tests``).
TEST_FAILURE_DELAY_ENV = "BAREOS_TEST_FAILED_LOGIN_DELAY"


def shorten_failure_delay_for_tests(environ: Mapping[str, str]) -> Optional[float]:
    """Apply ``TEST_FAILURE_DELAY_ENV`` from ``environ`` (a daemon calls this once at start).

    Returns the delay now in force if the variable is set (the caller logs a warning), else
    None.  Raises ValueError for a value that is not a number of seconds >= 0.
    """
    global FAILURE_DELAY
    value = environ.get(TEST_FAILURE_DELAY_ENV)
    if value is None:
        return None
    try:
        delay = float(value)
        valid = delay >= 0                   # False for NaN too
    except ValueError:
        valid = False
    if not valid:
        raise ValueError(f"{TEST_FAILURE_DELAY_ENV}={value!r} is not a number of seconds >= 0")
    FAILURE_DELAY = delay
    return delay


_Result = TypeVar("_Result")


async def converse(conn: BareosConnection, steps: Steps[_Result], clock: IReactorTime,
                   timeout: Optional[float] = ANSWER_TIMEOUT,
                   ask: Optional[Callable[[str], Any]] = None,
                   on_wrong_answer: Optional[Callable[[], object]] = None) -> _Result:
    """Run a conversation (see ``conversation``) on a BareosConnection; return its result.

    ``ask(prompt)`` answers Ask steps (a Deferred or a value); ``on_wrong_answer()`` is
    called as soon as the peer's answer to our challenge is found wrong, before the delay
    that precedes the refusal.
    """
    reply: Packet | str | None = None
    while True:
        try:
            step = steps.send(reply)
        except StopIteration as done:
            return done.value
        reply = None
        if step is RECEIVE:
            reply = await conn.receive(timeout)
        elif isinstance(step, Sleep):
            if isinstance(step, RefusalDelay) and on_wrong_answer is not None:
                on_wrong_answer()
            await task.deferLater(clock, step.seconds, lambda: None)
        elif isinstance(step, Ask):
            if ask is None:
                raise TypeError(f"the conversation asks {step.prompt!r}, but nobody answers")
            reply = await defer.maybeDeferred(ask, step.prompt)
        else:
            conn.send(step)


async def challenge_peer(conn: BareosConnection, key: bytes, own_name: str, ssl_policy: int,
                         clock: IReactorTime, timeout: float = ANSWER_TIMEOUT) -> None:
    await converse(conn, challenge_steps(key, own_name, ssl_policy, FAILURE_DELAY), clock, timeout)


async def authenticate_as_acceptor(conn: BareosConnection, key: bytes, own_name: str, ssl_policy: int,
                                   clock: IReactorTime, timeout: float = ANSWER_TIMEOUT,
                                   on_wrong_answer: Optional[Callable[[], object]] = None
                                   ) -> TlsPolicy:
    return await converse(conn, acceptor_steps(key, own_name, ssl_policy, FAILURE_DELAY),
                          clock, timeout, on_wrong_answer=on_wrong_answer)


async def authenticate_as_initiator(conn: BareosConnection, key: bytes, own_name: str, ssl_policy: int,
                                    clock: IReactorTime, timeout: float = ANSWER_TIMEOUT) -> TlsPolicy:
    return await converse(conn, initiator_steps(key, own_name, ssl_policy, FAILURE_DELAY),
                          clock, timeout)


async def dial(reactor: Any, host: str, port: int, hello: Hello, key: bytes, own_name: str,
               tls: TlsSettings | TlsPolicy, connect_timeout: float = 30,
               answer_timeout: float = ANSWER_TIMEOUT) -> BareosConnection:
    """Connect, start TLS as ``tls`` says (``bareos.network.tls``; a bare policy means
    TLS-PSK), send the hello, authenticate.

    Returns the authenticated ``BareosConnection``; the caller reads the
    type-specific greeting.  ``own_name`` is the name in our CRAM challenge;
    ``answer_timeout`` bounds each wait for the peer during authentication.
    """
    if isinstance(tls, TlsPolicy):
        tls = network_tls.psk_settings(tls)
    policy = tls.policy
    endpoint = tcp_endpoint(reactor, host, port, connect_timeout)
    creator = network_tls.client_creator(tls, psk_identity(hello.kind.psk_type, hello.name), key,
                                         host)
    if creator is not None:
        endpoint = wrapClientTLS(creator, endpoint)
    factory = Factory.forProtocol(lambda: BareosConnection(clock=reactor))
    factory.noisy = False
    conn = cast(BareosConnection, await endpoint.connect(factory))
    try:
        conn.send(format_hello(hello))
        remote_policy = await authenticate_as_initiator(conn, key, own_name, policy, reactor,
                                                        timeout=answer_timeout)
        if not network_tls.cleartext_session_allowed(conn.is_tls, policy, remote_policy):
            raise AuthenticationFailed("TLS is required by one side but the connection is cleartext")
    except BaseException:
        conn.close(terminate=False)
        raise
    return conn


def tcp_endpoint(reactor: Any, host: str, port: int, timeout: float) -> IStreamClientEndpoint:
    """The endpoint to ``host``: an address literal is dialled directly, a name through
    ``HostnameEndpoint`` (whose lookup takes a thread of the reactor's pool, which
    thousands of dials at once, e.g. file daemons coming back to a director, would queue on)."""
    if isIPAddress(host):
        return TCP4ClientEndpoint(reactor, host, port, timeout=timeout)
    if isIPv6Address(host):
        return TCP6ClientEndpoint(reactor, host, port, timeout=timeout)
    return HostnameEndpoint(reactor, host, port, timeout=timeout)


# A TCP connection could not be made (the address is worth trying again)
CONNECT_ERRORS = (net_error.ConnectError, net_error.DNSLookupError, net_error.TimeoutError, OSError)


async def dial_with_retries(reactor: Any, address: str, port: int, hello: Hello, key: bytes,
                            own_name: str, tls: TlsSettings | TlsPolicy, timeout: float,
                            retry_interval: float, peer: str, failure: Callable[[str], Exception],
                            is_canceled: Callable[[], bool] = lambda: False) -> BareosConnection:
    """``dial`` a job channel, retrying unreachable addresses every ``retry_interval``
    seconds until ``timeout`` has passed.  ``peer`` names the other daemon in logs and
    reasons; every failure raises the caller's ``failure`` exception with a reason an
    operator understands."""
    async def attempt(remaining: float) -> BareosConnection:
        if is_canceled():
            raise _Canceled("job canceled")
        return await dial(reactor, address, port, hello, key, own_name, tls,
                          connect_timeout=max(1, min(30, remaining)))

    def unreachable(exc: Exception) -> bool:
        return isinstance(exc, CONNECT_ERRORS) and not is_canceled()

    def log_retry(exc: Exception, _failures: int, _delay: float) -> None:
        log.info("Cannot reach {peer} {address}:{port} ({reason}); retrying",
                 peer=peer, address=address, port=port, reason=connect_failure_reason(exc))

    try:
        return await retrying(reactor, attempt, every(retry_interval), timeout=timeout,
                              should_retry=unreachable, on_retry=log_retry)
    except _Canceled as exc:
        raise failure(str(exc)) from None
    except AuthenticationFailed as exc:
        raise failure(f"authentication failed: {exc}") from None
    except (ConnectionClosed, ReceiveTimeout) as exc:
        raise failure(f"the {peer} closed the connection: {exc}") from None
    except CONNECT_ERRORS as exc:
        raise failure(connect_failure_reason(exc)) from None
    except Exception as exc:  # TLS handshake failures arrive as SSL errors
        raise failure(f"{type(exc).__name__}: {exc}") from None


class _Canceled(Exception):
    """The job was canceled while its channel was being dialled."""


def connect_failure_reason(exc: Exception) -> str:
    """Why a TCP connection could not be made, in the words of the job log (a clause
    without a final full stop)."""
    if isinstance(exc, net_error.ConnectionRefusedError):
        return "Connection refused"
    if isinstance(exc, net_error.TimeoutError):
        return "Connection timed out"
    if isinstance(exc, net_error.DNSLookupError):
        return f"cannot resolve the address ({failure_reason(exc)})"
    return failure_reason(exc)
