"""Two-way CRAM-MD5 as Bareos does it, and the password-to-key step.

The shared key is never the clear password: it is the lowercase hex MD5 of it
(32 ASCII characters), or a job's session key on data channels.  A challenge
is ``auth cram-md5 <random.time@name> ssl=<policy>``; the answer is the
HMAC-MD5 of the token (angle brackets included) in Bareos' base64.
"""

import hashlib
import hmac
import random
import re
import time
from typing import Callable

_DIGITS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

# The name in the token may hold plain spaces: Bareos peers send them as \x01, but
# python-bareos up to 25 puts a console name such as "admin tls" in its challenge as it is.
# The answer is computed over the token exactly as received, so it stays correct.
_CHALLENGE = re.compile(
    rb"^auth cram-md5(?P<compat>c?) (?P<token><[^<>]+>) ssl=(?P<ssl>\d+)(?:[ \n\x00].*)?$",
    re.DOTALL)

OK_AUTH = b"1000 OK auth\n"
AUTH_FAILED = b"1999 Authorization failed.\n"


class CramError(Exception):
    """A malformed challenge or answer, a reflected challenge, or a wrong key."""


def password_key(clear_password: str) -> bytes:
    """The key both CRAM-MD5 and TLS-PSK use for a clear-text password."""
    return hashlib.md5(clear_password.encode("utf-8")).hexdigest().encode("ascii")


def bareos_base64(data: bytes, compatible: bool) -> str:
    """Bareos' base64 of binary data, without padding.

    ``compatible`` is RFC base64 minus the ``=`` padding.  The native flavour
    sign-extends every byte before OR-ing it into the bit register (so a byte
    >= 0x80 overwrites pending bits of its predecessor) and does not left-align
    the last partial group.  Both must be produced and accepted to talk to
    every Bareos peer.
    """
    out = []
    register = 0
    pending_bits = 0
    index = 0
    while index < len(data):
        if pending_bits < 6:
            byte = data[index]
            if not compatible and byte >= 0x80:
                byte -= 0x100
            register = (register << 8) | byte
            pending_bits += 8
            index += 1
        out.append(_DIGITS[(register >> (pending_bits - 6)) & 0x3F])
        pending_bits -= 6
    if pending_bits:
        rest = register & ((1 << pending_bits) - 1)
        if compatible:
            rest <<= 6 - pending_bits
        out.append(_DIGITS[rest])
    return "".join(out)


def bash_spaces(name: str) -> str:
    return name.replace(" ", "\x01")


def unbash_spaces(name: str) -> str:
    return name.replace("\x01", " ")


_SYSTEM_RANDOM = random.SystemRandom()


def make_challenge(own_name: str, ssl_policy: int, rng: random.Random = _SYSTEM_RANDOM,
                   now: Callable[[], float] = time.time) -> tuple[bytes, bytes]:
    """Return ``(message, token)`` for a new challenge naming ``own_name``."""
    token = f"<{rng.randrange(2**32)}.{int(now())}@{bash_spaces(own_name)}>"
    return f"auth cram-md5 {token} ssl={int(ssl_policy)}\n".encode(), token.encode()


def parse_challenge(message: object) -> tuple[bytes, int, bool]:
    """Return ``(token, ssl_policy, compatible)`` of a received challenge."""
    if not isinstance(message, bytes):
        raise CramError(f"expected a CRAM-MD5 challenge, got signal {message}")
    match = _CHALLENGE.match(message.rstrip(b"\x00"))
    if not match:
        raise CramError(f"malformed CRAM-MD5 challenge {message[:80]!r}")
    return match["token"], int(match["ssl"]), bool(match["compat"])


def digest(key: bytes, token: bytes) -> bytes:
    return hmac.new(key, token, hashlib.md5).digest()


def response_for(key: bytes, token: bytes, compatible: bool = False) -> bytes:
    """Our answer to ``token``: native base64 unless the peer asked for compatible."""
    return bareos_base64(digest(key, token), compatible).encode("ascii")


def verify_response(key: bytes, token: bytes, answer: object) -> bool:
    """True if ``answer`` (optionally NUL-terminated) proves knowledge of ``key``."""
    if not isinstance(answer, bytes):
        return False
    answer = answer.rstrip(b"\x00")
    expected = digest(key, token)
    return any(
        hmac.compare_digest(answer, bareos_base64(expected, compatible).encode("ascii"))
        for compatible in (False, True))


def is_reflected(token: bytes, own_name: str) -> bool:
    """True if a challenge we received names us: someone bounces our own challenge.

    Storage daemons talk to themselves legitimately (SD-to-SD copies), so a
    name containing ``R_STORAGE`` is exempt, as in Bareos.
    """
    name = token.rstrip(b">").partition(b"@")[2]
    own = bash_spaces(own_name).encode()
    return name == own and b"R_STORAGE" not in own
