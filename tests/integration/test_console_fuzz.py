"""Fuzzing the director's console: command lines in api 0 and api 2 (JSON) against the real
command dispatcher and a real SQLite catalog, in one process.

Every line goes the way a console's packet goes (``ConsoleSession.run``); a crash is a
logged traceback or an "Internal error" answer.  How many lines: see ``fuzzing``.
"""

import json
from datetime import datetime

import pytest
import pytest_twisted
from hypothesis import example, given, strategies as st
from twisted.internet import defer, reactor
from twisted.internet.address import IPv4Address
from twisted.internet.testing import StringTransport

from bareos.catalog.api import JobRecord
from bareos.director.console.commands import TABLE
from bareos.director.console.output import API_JSON, API_TEXT
from bareos.director.console.session import ConsoleSession
from bareos.protocol.connection import BareosConnection
from bareos.protocol.framing import PacketDecoder, Signal, encode_message, encode_signal

from fuzzing import fuzz_settings, unexpected_failures
from hostile_daemons import build

COMMANDS = [entry.name for entry in TABLE]
KEYWORDS = ["jobid", "job", "jobs", "limit", "client", "clients", "jobstatus", "files", "volumes",
            "volume", "pool", "pools", "media", "storage", "level", "priority", "yes", "all",
            "done", "select", "current", "before", "fileset", "where", "replace", "file",
            "directory", "restoreclient", "restorejob", "listing", "director", "dir", "compact",
            "on", "off", "json", "0", "1", "2", "show", "verbose", "disabled", "enabled", "type",
            "item", "full", "header", "running", "scheduled", "terminated", "export", "jobname",
            "ujobid"]
NUMBERS = st.one_of(
    st.sampled_from(["99999999999999999999", "2147483648", "-1", "0", "\u0663", "\uff11", "\u00b2",
                     "1_0", "1e3", "0x10", " 1", "1.5", "1,2,3", ",", "1,,x", ""]),
    st.sampled_from(["1", "2", "3", "2147483647", "00001"]),
    st.integers(min_value=-2**70, max_value=2**70).map(str))
TEXT = st.text(max_size=20)
QUOTED = st.builds(lambda q, t: q + t + q, st.sampled_from(['"', "'"]), TEXT)
VALUES = st.one_of(NUMBERS, TEXT, QUOTED, st.sampled_from(["2026-01-01 00:00:00", "/tmp/x",
                                                          "always", "never", "full", "yes"]))
NUMBER_ARGUMENT = st.builds(lambda k, v: f"{k}={v}", st.sampled_from(["jobid", "limit", "priority"]),
                            NUMBERS)
ARGUMENT = st.one_of(
    NUMBER_ARGUMENT, NUMBER_ARGUMENT, NUMBER_ARGUMENT,
    st.sampled_from(["jobs", "files", "volumes", "pools", "clients"]),
    st.builds(lambda k, v: f"{k}={v}", st.sampled_from(KEYWORDS), NUMBERS),
    st.builds(lambda k, v: f"{k}={v}", st.sampled_from(KEYWORDS), VALUES),
    st.builds(lambda k, v: f'{k}="{v}"', st.sampled_from(KEYWORDS), TEXT),
    st.sampled_from(KEYWORDS),
    TEXT)
COMMAND_WORD = st.one_of(
    st.sampled_from(COMMANDS), st.sampled_from(COMMANDS), st.sampled_from(COMMANDS),
    st.sampled_from(COMMANDS).map(lambda name: name[:max(1, len(name) // 2)]),
    st.sampled_from(COMMANDS).map(str.upper),
    TEXT)
COMMAND_LINE = st.builds(lambda word, args, sep: sep.join([word] + args), COMMAND_WORD,
                         st.lists(ARGUMENT, max_size=6), st.sampled_from([" ", "  ", "\t"]))
ENCODED_COMMAND_LINE = COMMAND_LINE.map(lambda line: line.encode("utf-8", "surrogatepass"))
LINES = st.one_of(                           # mostly commands, some noise
    ENCODED_COMMAND_LINE, ENCODED_COMMAND_LINE, ENCODED_COMMAND_LINE, ENCODED_COMMAND_LINE,
    st.text(max_size=64).map(lambda line: line.encode("utf-8", "surrogatepass")),
    st.binary(max_size=64))


@pytest.fixture(scope="module")
def fuzzed_director(tmp_path_factory):
    director = build("director", tmp_path_factory.mktemp("fuzz"), reactor)
    director.startService()
    catalog = pytest_twisted.blockon(director.catalog_ready())
    for number in range(3):                  # something for list, llist and delete to find
        pytest_twisted.blockon(catalog.create_job(JobRecord(
            job=f"backup.2026-01-0{number + 1}_00.00.00_0{number}", name="backup",
            start_time=datetime(2026, 1, number + 1), end_time=datetime(2026, 1, number + 1, 1),
            job_files=number, job_bytes=1000 * number)))
    yield director
    pytest_twisted.blockon(defer.maybeDeferred(director.stopService))


async def run_line(director, line, api):
    """Serve one console that sends ``line`` and leaves; return the packets it got."""
    conn = BareosConnection(reactor)
    transport = StringTransport(peerAddress=IPv4Address("TCP", "127.0.0.1", 40000))
    conn.makeConnection(transport)
    session = ConsoleSession(director, conn, "admin", director.config.get("console", "admin"))
    session.api = api
    # the second TERMINATE ends the session if a command took the first as a yes/no answer
    conn.dataReceived(encode_message(line) + encode_signal(Signal.TERMINATE) * 2)
    served = defer.ensureDeferred(session.run())
    served.addTimeout(60, reactor)
    await served
    return PacketDecoder(max_packet_size=2**31 - 1).feed(transport.value())


def check_answer(packets, api):
    texts = [p.decode("utf-8") for p in packets if isinstance(p, bytes)]
    assert not [t for t in texts if "Internal error" in t], texts
    if api == API_JSON:        # the end of a command is followed by its JSON document
        for end, document in zip(packets, packets[1:]):
            if end in (Signal.CMD_OK, Signal.CMD_FAILED) and isinstance(document, bytes):
                json.loads(document)


# The crashes issue 17 found, always tried first.
KNOWN_CRASHERS = [b"list jobid=99999999999999999999", b"llist jobid=99999999999999999999",
                  b"list files jobid=99999999999999999999", b"delete jobid=99999999999999999999",
                  b"list jobs limit=99999999999999999999", b"cancel jobid=\xc2\xb2"]


def known_crashers(test):
    for line in KNOWN_CRASHERS:
        test = example(line=line)(test)
    return test


def console_fuzz_test(api):
    """A Hypothesis test of console lines in ``api`` mode; one function per mode, as
    pytest-twisted wraps a Hypothesis test once per function (no parametrizing)."""
    @fuzz_settings
    @given(line=LINES)
    @known_crashers
    @pytest_twisted.ensureDeferred
    async def test(fuzzed_director, log_events, line):
        logged_before = len(log_events)
        check_answer(await run_line(fuzzed_director, line, api), api)
        assert unexpected_failures(log_events[logged_before:]) == []
    return test


test_no_console_line_crashes_the_dispatcher_in_api_0 = console_fuzz_test(API_TEXT)
test_no_console_line_crashes_the_dispatcher_in_api_2 = console_fuzz_test(API_JSON)
