"""A password guesser, for the login-limit tests and ``bench/login_flood.py``.

A guesser opens many connections at once, sends a console hello, answers the CRAM-MD5
challenge wrongly and gives up when no verdict comes within a short time: a right answer is
accepted at once, so waiting longer teaches it nothing.  What counts is how many guesses the
daemon evaluated, i.e. how many connections got a challenge.
"""

import collections
import concurrent.futures
import socket
import time

import bareos
from bareos.protocol.framing import FramingError, PacketDecoder, encode_message
from bareos.protocol.hello import Hello, HelloKind, format_hello

CHALLENGED = "challenged"       # the daemon sent a CRAM-MD5 challenge: it evaluated a guess
REFUSED = "refused"             # the daemon closed the connection before any challenge
NO_ANSWER = "no answer"         # neither within the patience for a challenge

CONSOLE_HELLO = encode_message(format_hello(Hello(
    HelloKind.CONSOLE, "*UserAgent*", version=bareos.VERSION, calling_version=bareos.VERSION)))


def director_hello(name):
    """The hello of a director calling a file or storage daemon."""
    return encode_message(format_hello(Hello(HelloKind.DIRECTOR, name, version=bareos.VERSION)))


WRONG_ANSWER = encode_message(b"ZmFsc2UgZ3Vlc3M\x00")


def guess(host, port, source=None, verdict_timeout=0.3, challenge_timeout=10,
          hello=CONSOLE_HELLO):
    """One wrong-password login (by default as the default console) from ``source`` (a local
    address or None); returns CHALLENGED, REFUSED or NO_ANSWER."""
    try:
        with socket.create_connection((host, port), timeout=challenge_timeout,
                                      source_address=source and (source, 0)) as sock:
            sock.sendall(hello)
            first = _first_packet(sock)
            if first is None:
                return REFUSED
            if not first.startswith(b"auth cram-md5"):
                return REFUSED                     # e.g. "1999 You are not authorized."
            sock.sendall(WRONG_ANSWER)
            sock.settimeout(verdict_timeout)
            try:
                sock.recv(4096)
            except OSError:
                pass                               # gave up waiting: the guess was wrong
            return CHALLENGED
    except socket.timeout:
        return NO_ANSWER
    except OSError:                                # reset: refused at accept
        return REFUSED


def _first_packet(sock):
    decoder = PacketDecoder()
    while True:
        data = sock.recv(65536)
        if not data:
            return None
        try:
            packets = decoder.feed(data)
        except FramingError:
            return None
        if packets:
            return packets[0] if isinstance(packets[0], bytes) else None


def flood(host, port, attempts, connections=8, sources=(None,), verdict_timeout=0.3,
          hello=CONSOLE_HELLO):
    """``attempts`` guesses (see ``guess``) over ``connections`` parallel connections, the
    n-th from ``sources[n % len(sources)]``; returns (Counter of outcomes, seconds it took)."""
    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(connections) as pool:
        outcomes = collections.Counter(pool.map(
            lambda n: guess(host, port, sources[n % len(sources)], verdict_timeout, hello=hello),
            range(attempts)))
    return outcomes, time.monotonic() - started
