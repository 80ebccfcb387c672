"""Fuzzing the file daemon's command loop: a logged-in director sends any mix of commands.

One real ``FileDaemon`` in this process, started on the real reactor (estimates and filesets
run in the reactor's thread pool, restore workers in the daemon's job threads): every case is a new director connection, accepted the way the listening
port accepts one, logged in with the right password, then job commands, fileset blocks,
``estimate``, ``restore``, ``storage``, ``setbandwidth``, ``status`` and garbage, with or
without the EOD a command waits for, then TERMINATE.  A crash is a logged traceback or a
session that outlives its connection; the next case's login shows the daemon still serves.
How many cases: see ``fuzzing``.

Kept out on purpose, as they are an authenticated director's right and leave loopback or
run programs: ``Run``/``RunBeforeNow`` scripts, ``resolve`` (DNS), ``|program`` and
``<file`` fileset lines, and file sets or storage addresses beyond a small tree and loopback.
"""

import pytest
import pytest_twisted
from hypothesis import example, given, strategies as st
from twisted.internet import defer, error, reactor, task
from twisted.internet.protocol import Factory, Protocol
from twisted.python.failure import Failure

from bareos.protocol.framing import PacketDecoder, Signal, encode_packet, encode_signal

from fuzzing import FUZZ_EXAMPLES, fuzz_settings, unexpected_failures
from hostile_daemons import accept, build, log_in

GREETING = b"2000 OK Hello"
NUMBERS = st.sampled_from(["0", "1", "2", "-1", "99999999999999999999", "2147483648", "\u0663",
                           "00001", "1e3", "", "x", "9" * 5000])
WORDS = st.sampled_from(["fuzz.2026-01-01_00.00.00_01", "x", "", "*", "a b", "%", "\\",
                         "Authorization", "job=", "=", "Full", "F", "I", "0"])
TEXT = st.text(max_size=24)
VALUE = st.one_of(NUMBERS, WORDS, TEXT)


def line(*parts):
    return st.tuples(*[st.just(p) if isinstance(p, str) else p for p in parts]).map("".join)


class CloseAtOnce(Protocol):
    """A storage daemon that hangs up as soon as the file daemon connects."""

    def connectionMade(self):
        self.transport.loseConnection()


@pytest.fixture(scope="module")
def hanging_up_sd_port():
    port = reactor.listenTCP(0, Factory.forProtocol(CloseAtOnce), interface="127.0.0.1")
    yield port.getHost().port
    pytest_twisted.blockon(port.stopListening())


def commands():
    """Command texts and signals; a fileset's lines are separate packets.  ``{tree}`` and
    ``{sd_port}`` stand for the daemon's small tree and the hanging-up SD's port."""
    files = st.sampled_from(["{tree}", "{tree}/a", "{tree}/missing", "", "relative"])
    fileset_line = st.one_of(
        st.sampled_from(["I", "E", "N", "O M", "O Z6", "O ek", "O 0", "Z", "X ext4", "D fixed",
                         "G x", "T", "R ", "R [", "R .*", "W *", "WD *", "RF a(b", "O", "P"]),
        files.map(lambda path: "F " + path), TEXT)
    fileset = st.tuples(st.just("fileset"), st.lists(fileset_line, max_size=8),
                        st.sampled_from([Signal.EOD, Signal.EOD, None])).map(
        lambda parts: [parts[0], *parts[1], *([parts[2]] if parts[2] is not None else [])])
    block = st.tuples(st.sampled_from(["bootstrap", "accurate files=2"]),
                      st.lists(st.one_of(TEXT, st.just("/a\0gB A A\0"), st.just("Volume=x")),
                               max_size=4),
                      st.sampled_from([Signal.EOD, None])).map(
        lambda parts: [parts[0], *parts[1], *([parts[2]] if parts[2] is not None else [])])
    single = st.one_of(
        line("JobId=", NUMBERS, " Job=", WORDS, " SDid=", NUMBERS, " SDtime=", NUMBERS,
             " Authorization=", WORDS, st.sampled_from(["", " ssl=0", " ssl=2", " ssl=99999999999"])),
        line("level = ", st.sampled_from(["full", "incremental", "differential", "base", "x",
                                          "since_utime "]), NUMBERS,
             st.sampled_from(["", " mtime_only=1", " mtime_only=0 prev_job=x"])),
        line("estimate listing=", NUMBERS),
        line("storage address=", st.sampled_from(["127.0.0.1", "[::1]", "", "127.0.0.1:1"]),
             " port=", st.sampled_from(["{sd_port}", "{sd_port}", "70000", "99999999999999999999",
                                        "x", "-1"]),
             " ssl=", NUMBERS, st.sampled_from(["", " Authorization=key", " Authorization="])),
        line("restore replace=", st.sampled_from(["a", "n", "w", "o", "", "aa"]), " prelinks=",
             NUMBERS, st.sampled_from([" where=", " regexwhere="]), VALUE),
        line("setbandwidth=", NUMBERS, " Job=", WORDS),
        line("setdebug=", NUMBERS, " trace=", NUMBERS, st.sampled_from(["", " hangup=1"])),
        line("cancel Job=", WORDS),
        line("backup FileIndex=", NUMBERS),
        line("setauthorization Authorization=", WORDS),
        line("pluginoptions ", TEXT),
        st.sampled_from(["status", ".status", "status header", "endrestore", "session",
                         "getSecureEraseCmd", "restoreobject end", "verify level=x", "backup",
                         "estimate", "storage", "restore", "cancel", "level = ", "JobId="]),
        TEXT.filter(lambda text: not text.startswith(("Run", "resolve", "storage", "fileset"))))
    return st.lists(st.one_of(single.map(lambda text: [text]), fileset, block), max_size=6).map(
        lambda groups: [packet for group in groups for packet in group])


def encode(item, tree, sd_port):
    if isinstance(item, Signal):
        return encode_signal(item)
    text = item.replace("{tree}", str(tree)).replace("{sd_port}", str(sd_port))
    return encode_packet(text.encode("utf-8", "surrogatepass"))


async def until(condition, seconds):
    """Wait (on the real reactor) until ``condition()`` or ``seconds`` have passed."""
    for _ in range(int(seconds / 0.01)):
        if condition():
            return True
        await task.deferLater(reactor, 0.01, lambda: None)
    return condition()


async def one_session(fd, items, peer_port, tree, sd_port):
    protocol, transport = accept(fd, peer_port=peer_port)
    log_in(protocol, transport, "filedaemon")
    answers = PacketDecoder(2**31 - 1).feed(transport.value())
    assert GREETING in b"".join(a for a in answers if isinstance(a, bytes)), answers
    # a command that took a TERMINATE as its data still finds one
    protocol.dataReceived(b"".join(encode(item, tree, sd_port) for item in items) + encode_signal(Signal.TERMINATE) * 3)
    await until(lambda: transport.disconnecting, 5)
    protocol.connectionLost(Failure(error.ConnectionDone()))
    # this case's session only: one left over from an earlier case fails that case, not
    # every later one (which would make Hypothesis shrink to an innocent case)
    assert await until(lambda: not [session for session in fd.director_sessions
                                    if session.conn.transport is transport], 10), \
        "a session outlived its connection"
    return transport.value()


@pytest.fixture(scope="module")
def file_daemon(tmp_path_factory):
    """The daemon, the small tree its file sets may name, and how many sessions it served."""
    tmp_path = tmp_path_factory.mktemp("fdfuzz")
    tree = tmp_path / "tree"
    (tree / "a").mkdir(parents=True)
    (tree / "a" / "file").write_bytes(b"data")
    daemon = build("filedaemon", tmp_path, reactor)
    daemon.tree = tree
    daemon.sessions_served = 0
    daemon.startService()     # its job threads too: a restore worker holds one until it ends
    yield daemon
    pytest_twisted.blockon(defer.maybeDeferred(daemon.stopService))
    print(f"\n{daemon.sessions_served} director sessions served")
    assert daemon.sessions_served >= FUZZ_EXAMPLES


@fuzz_settings
@given(items=commands())
# found by this test: the resolver's OverflowError left the session hanging; int() of
# more than 4,300 digits raised ValueError out of the command (a traceback in the log)
@example(items=["storage address=127.0.0.1 port=99999999999999999999 ssl=0 Authorization=key"])
@example(items=["JobId=1 Job=x SDid=1 SDtime=" + "9" * 5000 + " Authorization=key"])
@example(items=["setbandwidth=" + "9" * 5000 + " Job=x"])
@example(items=["setdebug=" + "9" * 5000 + " trace=0"])
# found after the job threads became the daemon's own pool: a restore's worker waits for one
@example(items=["restore replace=a prelinks=0 where="])
@pytest_twisted.ensureDeferred
async def test_no_director_command_crashes_the_file_daemon(file_daemon, hanging_up_sd_port,
                                                           log_events, items):
    file_daemon.sessions_served += 1
    logged_before = len(log_events)
    sent = await one_session(file_daemon, items, 10000 + file_daemon.sessions_served % 50000,
                             file_daemon.tree, hanging_up_sd_port)
    assert b"Traceback" not in sent and b"Internal error" not in sent, sent
    assert unexpected_failures(log_events[logged_before:]) == []
