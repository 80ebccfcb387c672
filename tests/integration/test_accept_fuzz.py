"""Fuzzing each daemon's accept path: hellos, frames, signals and CRAM-MD5 answers.

A peer connects the way the listening port accepts it (the cleartext/TLS sniffer first), sends
a hello or not, then any mix of packets, signals, oversized or cut-off lengths, raw bytes,
challenges and right or wrong CRAM-MD5 answers, with time passing in between; then it
disconnects.  The daemons run in this process on a ``task.Clock``, so every timeout and the
delay after a refused login pass at once.  A crash is a logged traceback.  How many cases:
see ``fuzzing``.
"""

import gc
import struct

from hypothesis import given, strategies as st
from twisted.internet import error, task
from twisted.python.failure import Failure

from bareos.protocol import cram
from bareos.protocol.framing import MAX_PACKET_SIZE, encode_packet
from bareos.protocol.hello import format_hello

from fuzzing import FUZZ_EXAMPLES, fuzz_settings, unexpected_failures
from hostile_daemons import OK_AUTH, OUR_CHALLENGE, PEERS, accept, build, cram_answer

ANSWER = "the right CRAM-MD5 answer to the daemon's last challenge"
LONGEST_WAIT = 400          # beyond every timeout of the accept path (hello, answers, TLS sniff)

PACKET = st.binary(max_size=200).map(encode_packet)
STEP = st.one_of(
    st.just(ANSWER),
    st.binary(max_size=40).map(lambda answer: encode_packet(answer + b"\x00")),   # wrong answers
    st.sampled_from([b"1000 OK auth\n", b"1999 Authorization failed.\n",
                     b"auth cram-md5 <1.2@R_DIRECTOR::test-dir> ssl=0\n",     # reflected
                     b"auth cram-md5 <1.2@R_PEER::fuzzer> ssl=0\n",
                     b"auth cram-md5c <1@x> ssl=2\n", b"auth cram-md5 <> ssl=99999999999\n",
                     b"status\n", b"version\n", b".api 2\n", b"quit\n"]).map(encode_packet),
    st.text(max_size=60).map(lambda text: encode_packet(b"Hello " + text.encode())),
    PACKET,
    st.integers(min_value=-2**31, max_value=-1).map(lambda signal: struct.pack("!i", signal)),
    st.integers(min_value=MAX_PACKET_SIZE + 1, max_value=2**31 - 1).map(
        lambda length: struct.pack("!i", length)),                               # oversized
    st.integers(min_value=1, max_value=MAX_PACKET_SIZE).map(
        lambda length: struct.pack("!i", length) + b"cut off"),                  # never completed
    st.binary(min_size=1, max_size=64),                                          # raw bytes
    st.floats(min_value=0, max_value=LONGEST_WAIT),                              # time passes
)


def cases(kind):
    """(index of the hello to send first or None, whether a whole login follows it, the
    steps after that)."""
    return st.tuples(st.one_of(st.none(), st.sampled_from(range(len(PEERS[kind])))),
                     st.booleans(), st.lists(STEP, max_size=8))


class Harness:
    def __init__(self, kind, tmp_path):
        self.clock = task.Clock()
        self.daemon = build(kind, tmp_path, self.clock)
        self.kind = kind
        self.peers = 0

    def run(self, hello_index, log_in, steps):
        self.peers += 1
        protocol, transport = accept(self.daemon, peer_port=10000 + self.peers % 50000)
        key = cram.password_key("no password")
        if hello_index is not None:
            hello, password = PEERS[self.kind][hello_index]
            key = cram.password_key(password or "no password")
            protocol.dataReceived(encode_packet(format_hello(hello)))
            if log_in:
                steps = [ANSWER, OUR_CHALLENGE, OK_AUTH] + steps
        for step in steps:
            if transport.disconnecting:           # a closing TCP connection reads no more
                break
            if isinstance(step, float):
                self.clock.advance(step)
            elif step == ANSWER:
                protocol.dataReceived(cram_answer(transport.value(), key))
            else:
                protocol.dataReceived(step)
        self.clock.advance(LONGEST_WAIT)
        protocol.connectionLost(Failure(error.ConnectionDone()))
        self.clock.advance(LONGEST_WAIT)


def fuzz_accept_path(kind, tmp_path, log_events):
    harness = Harness(kind, tmp_path)

    @fuzz_settings
    @given(case=cases(kind))
    def one_peer(case):
        logged_before = len(log_events)
        harness.run(*case)
        assert unexpected_failures(log_events[logged_before:]) == []
        # Whatever the peer did, its connection gave back its place under the daemon's limits.
        admission = harness.daemon.admission
        assert (admission.served, dict(admission.unauthenticated), len(admission.waiting)) == (
            0, {}, 0)

    one_peer()
    print(f"\n{harness.peers} peers tried on the {kind}'s accept path")
    assert harness.peers >= FUZZ_EXAMPLES
    gc.collect()                  # a Deferred failing unhandled logs when it is collected
    assert unexpected_failures(log_events) == []


def test_no_peer_crashes_the_directors_accept_path(tmp_path, log_events):
    fuzz_accept_path("director", tmp_path, log_events)


def test_no_peer_crashes_the_file_daemons_accept_path(tmp_path, log_events):
    fuzz_accept_path("filedaemon", tmp_path, log_events)


def test_no_peer_crashes_the_storage_daemons_accept_path(tmp_path, log_events):
    fuzz_accept_path("storagedaemon", tmp_path, log_events)
