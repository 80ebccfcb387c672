"""Fuzzing the storage daemon: a director's commands, its catalog replies, and the FD's data channel.

One in-process SD on loopback serves every case, over real connections.  A director logs in
and sends any mix of job, ``use storage``/``use device``, ``label``, ``bootstrap``, ``cancel``,
``mount``, ``status`` and garbage; or a scripted director starts a job (its catalog replies
fuzzed too) and an FD sends ``append``/``read`` commands, record headers with random streams
and lengths, data, signals and bad session ids on the data channel.  A crash is a logged
traceback or a job or connection the SD never ends; the next case's login shows the SD still
serves.  How many cases: see ``fuzzing``.
"""

import collections
import itertools

import pytest
import pytest_twisted
from hypothesis import example, given, strategies as st
from twisted.internet import reactor

from bareos.protocol.framing import Signal
from bareos.testing.waiting import wait_until_in_reactor

from fuzzing import FUZZ_EXAMPLES, fuzz_settings, unexpected_failures

NUMBERS = st.sampled_from(["0", "1", "2", "-1", "99999999999999999999", "2147483648", "4294967296",
                           "\u0663", "x", "", "9" * 5000])
WORDS = st.sampled_from(["File", "FileStorage", "Full", "x", "", "a%20b", "*", "Fuzz-0001", "=",
                         "Backup", "Tiny", "ManualStorage", "\\"])
TEXT = st.text(max_size=24)
SIGNALS = st.sampled_from([Signal.EOD, Signal.EOD, Signal.EOD, Signal.TERMINATE, Signal.HEARTBEAT,
                           Signal.BTIME, Signal.BREAK, Signal.EOD_POLL])


@pytest.fixture(scope="module")
def cases():
    """How many cases each test tried (the SD fixture is the test's, so this is per test)."""
    tried = collections.Counter()
    yield tried
    for test, count in tried.items():
        print(f"\n{count} cases: {test}")
        assert count >= FUZZ_EXAMPLES


def line(*parts):
    return st.tuples(*[st.just(p) if isinstance(p, str) else p for p in parts]).map("".join)


DIRECTOR_COMMAND = st.one_of(
    line("JobId=", NUMBERS, " job=fuzz.2026-01-01_00.00.00_", NUMBERS, " job_name=", WORDS,
         " client_name=", WORDS, " type=", NUMBERS, " level=", NUMBERS, " FileSet=", WORDS,
         " NoAttr=", NUMBERS, " SpoolAttr=0 FileSetMD5=x SpoolData=0 PreferMountedVols=1 "
         "SpoolSize=", NUMBERS, " rerunning=0 VolSessionId=", NUMBERS, " VolSessionTime=", NUMBERS,
         " Quota=", NUMBERS, " Protocol=", NUMBERS, " BackupFormat=Native"),
    line("use storage=", WORDS, " media_type=", WORDS, " pool_name=", WORDS, " pool_type=", WORDS,
         " append=", NUMBERS, " copy=", NUMBERS, " stripe=", NUMBERS),
    line("use device=", WORDS),
    line("label storage=", WORDS, " volume=", WORDS, " pool=", WORDS, " MediaType=", WORDS,
         " Slot=", NUMBERS, " drive=", NUMBERS),
    line("relabel storage=", WORDS, " OldName=", WORDS, " NewName=", WORDS),
    line(st.sampled_from(["mount", "unmount", "release"]), " ", WORDS, " drive=", NUMBERS),
    line("cancel Job=", WORDS),
    line("Volume=", WORDS), line("VolSessionId=", NUMBERS), line("VolAddr=", NUMBERS, "-", NUMBERS),
    line("FileIndex=", NUMBERS, "-", NUMBERS), line("Count=", NUMBERS),
    st.sampled_from(["bootstrap", "status", ".status", "getSecureEraseCmd", "JobId=", "use",
                     "label", "setdebug=1 trace=0", "run"]),
    TEXT)
DIRECTOR_SESSION = st.lists(st.one_of(DIRECTOR_COMMAND, DIRECTOR_COMMAND, SIGNALS), max_size=8)


async def bounded(deferred, seconds):
    """``deferred``'s result, or a failure if it takes longer than ``seconds``."""
    return await deferred.addTimeout(seconds, reactor)


def send_all(conn, items):
    for item in items:
        if isinstance(item, Signal):
            conn.send_signal(item)
        else:
            conn.send(item.encode("utf-8", "surrogatepass"))


@fuzz_settings
@given(items=DIRECTOR_SESSION)
# found by this test: int() of more than 4,300 digits raised ValueError (a traceback)
@example(items=["use storage=File media_type=File pool_name=Full pool_type=Backup append="
                + "9" * 5000 + " copy=0 stripe=0"])
@pytest_twisted.ensureDeferred
async def test_no_director_command_crashes_the_storage_daemon(sd, peers, log_events, cases, items):
    cases["director commands"] += 1
    logged_before = len(log_events)
    conn = await peers.director_login(sd)
    # "run" waits for a file daemon; a TERMINATE a command took as its data still finds one
    send_all(conn, [item for item in items if item != "run"] + [Signal.TERMINATE] * 3)
    conn.close(terminate=False)
    await bounded(conn.closed, 30)
    await wait_until_in_reactor(lambda: not sd.daemon.director_sessions, 30,
                                "the SD ends the director's session", step=0.002)
    assert unexpected_failures(log_events[logged_before:]) == []


DATA = st.one_of(st.binary(max_size=64), st.integers(min_value=0, max_value=200_000).map(
    lambda size: b"x" * size))
RECORD_HEADER = line(st.sampled_from(["1", "2", "-1", "0", "2147483648", "x", "99999999999999999999"]),
                     " ", st.sampled_from(["1", "2", "3", "26", "-1", "0", "999", "2147483647", "x"]),
                     " ", st.sampled_from(["0", "1", "x", ""]))
FD_ITEM = st.one_of(
    st.sampled_from(["append open session", "append data {ticket}", "append end session {ticket}",
                     "append close session {ticket}", "read data {ticket}",
                     "read close session {ticket}", "append data 99", "read data -1"]),
    line("read open session = ", WORDS, " ", NUMBERS, " ", NUMBERS, " ", NUMBERS, " ", NUMBERS,
         " ", NUMBERS, " ", NUMBERS),
    RECORD_HEADER, RECORD_HEADER, DATA, SIGNALS, TEXT)
FD_SESSION = st.lists(FD_ITEM, max_size=12)
CATALOG_REPLY = st.one_of(st.none(), st.none(), st.none(), st.sampled_from([
    "1901 No Media.\n", "1990 Invalid Catalog Request\n", "1000 OK VolName=x\n", "", "1000 OK\n",
    "1000 OK VolName=Full-0001 VolJobs=x MediaId=-1\n"]), TEXT)

job_numbers = itertools.count(1)


class FuzzedDirector:
    """The scripted director, but a drawn reply stands in for some of its catalog answers."""

    def __init__(self, director, replies):
        self.director, self.replies = director, iter(replies)
        self.correct = director.catalog
        director.catalog = self.catalog

    def catalog(self, text):
        reply = next(self.replies, None)
        return self.correct(text) if reply is None else reply


@fuzz_settings
@given(items=FD_SESSION, replies=st.lists(CATALOG_REPLY, max_size=4))
# found by this test: int() of more than 4,300 digits raised ValueError (a traceback)
@example(items=["append open session", "append data {ticket}", "9" * 5000 + " 1 0"], replies=[])
@example(items=["read open session = V " + "9" * 5000 + " 1 0 0 0 0"], replies=[])
# found by the 10,000-case run: a FindMedia reply naming only a volume the director does not know
@example(items=["append open session", "", "append data {ticket}"], replies=["1000 OK VolName=x\n"])
@pytest_twisted.ensureDeferred
async def test_no_data_channel_crashes_the_storage_daemon(sd, peers, log_events, cases, items,
                                                          replies):
    cases["data channel"] += 1
    logged_before = len(log_events)
    number = next(job_numbers)
    director = await peers.FakeDirector(sd).start(number, f"fuzz.2026-01-01_00.00.00_{number:02d}")
    FuzzedDirector(director, replies)
    ended = director.run()
    fd = await peers.fd_connect(sd, director.job, director.key)
    ticket = str(director.sid)
    for item in items:
        if isinstance(item, str):
            item = item.replace("{ticket}", ticket)
        if isinstance(item, Signal):
            fd.send_signal(item)
        else:
            fd.send(item if isinstance(item, bytes) else item.encode("utf-8", "surrogatepass"))
    fd.send_signal(Signal.TERMINATE)
    fd.close(terminate=False)
    await bounded(fd.closed, 30)
    await bounded(ended, 60)          # the SD ends the job and its director session
    assert unexpected_failures(log_events[logged_before:]) == []
