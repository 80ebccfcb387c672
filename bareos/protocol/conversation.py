"""Conversations as plain generators: what to send, when to receive, when to wait.

A conversation yields steps and gets back what each step produced::

    packet = yield RECEIVE          # the next packet from the peer
    yield b"1000 OK auth\\n"         # send this message
    yield Sleep(5)                  # wait (e.g. before refusing a wrong password)
    answer = yield Ask("Yes? ")     # ask the local user (consoles only)

and ends by returning its result or raising.  The same conversation runs on the
reactor (``bareos.protocol.handshake.converse``) and over a blocking socket
(bconsole's cleartext path), so the protocol logic exists once.
"""

import dataclasses
import enum
from typing import Generator, TypeVar

from bareos.protocol import cram
from bareos.protocol.framing import Packet
from bareos.protocol.tlspolicy import TlsPolicy


class _Receive(enum.Enum):
    RECEIVE = "receive"


RECEIVE = _Receive.RECEIVE      # yield it to get the next packet from the peer
FAILURE_DELAY = 5      # seconds before refusing a wrong answer: slows down password guessing


@dataclasses.dataclass(frozen=True)
class Sleep:
    seconds: float


@dataclasses.dataclass(frozen=True)
class RefusalDelay(Sleep):
    """The wait before refusing a wrong answer: the moment a login is known to have failed."""


@dataclasses.dataclass(frozen=True)
class Ask:
    prompt: str


class AuthenticationFailed(Exception):
    """The peer could not prove the shared key, or refused ours."""


class RefusedBeforeChallenge(AuthenticationFailed):
    """Refused before any CRAM-MD5 (cleartext where TLS is due, a TLS-PSK identity that does not
    match the hello): Bareos answers these with a bare TERMINATE signal, no reply text, and
    clients (python-bareos) read a text there as a CRAM challenge."""


_Result = TypeVar("_Result")
# A conversation yields bytes to send, RECEIVE, a Sleep or an Ask, and gets back the packet
# received, the user's answer or None; it returns a _Result.
Steps = Generator[bytes | _Receive | Sleep | Ask, Packet | str | None, _Result]


def challenge_steps(key: bytes, own_name: str, ssl_policy: int, failure_delay: float) -> Steps[None]:
    """Send a challenge and check the answer; refuse slowly on a wrong one."""
    message, token = cram.make_challenge(own_name, ssl_policy)
    yield message
    answer = yield RECEIVE
    if cram.verify_response(key, token, answer):
        yield cram.OK_AUTH
        return
    yield RefusalDelay(failure_delay)
    yield cram.AUTH_FAILED
    raise AuthenticationFailed("peer's answer to our challenge is wrong (wrong password?)")


def answer_steps(key: bytes, own_name: str) -> Steps[TlsPolicy]:
    """Answer the peer's challenge; return the TLS policy the peer announced."""
    message = yield RECEIVE
    try:
        token, remote_policy, compatible = cram.parse_challenge(message)
    except cram.CramError as exc:
        raise AuthenticationFailed(str(exc)) from None
    if cram.is_reflected(token, own_name):
        raise AuthenticationFailed("peer reflected our own challenge back to us")
    yield cram.response_for(key, token, compatible) + b"\x00"
    verdict = yield RECEIVE
    if verdict != cram.OK_AUTH:
        raise AuthenticationFailed("peer refused our answer (wrong password?)")
    return TlsPolicy(min(remote_policy, TlsPolicy.REQUIRED))


def acceptor_steps(key: bytes, own_name: str, ssl_policy: int, failure_delay: float
                   ) -> Steps[TlsPolicy]:
    """Two-way CRAM-MD5 for the side that accepted the connection: it challenges first."""
    yield from challenge_steps(key, own_name, ssl_policy, failure_delay)
    return (yield from answer_steps(key, own_name))


def initiator_steps(key: bytes, own_name: str, ssl_policy: int, failure_delay: float
                    ) -> Steps[TlsPolicy]:
    """Two-way CRAM-MD5 for the side that connected: it answers first."""
    remote_policy = yield from answer_steps(key, own_name)
    yield from challenge_steps(key, own_name, ssl_policy, failure_delay)
    return remote_policy
