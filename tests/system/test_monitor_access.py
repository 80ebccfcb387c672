"""The monitor identity may ask for status and nothing else, on all three daemons.

File and storage daemons refuse every other command of a Director resource with
``Monitor = yes`` (2997/3997) and end the session (PROTOCOL.md §11); the director refuses
every command its Console ACL for the monitor (``status``, ``.status``) does not name.
One test per command family; the daemons are started once for the module.
"""

import pytest

from tray_monitor_helpers import (
    FD_MONITOR_PASSWORD, MONITOR, MONITOR_PASSWORD, SD_MONITOR_PASSWORD, start_daemons)
from bareos.protocol.framing import Signal
from bareos.testing.daemons import Suite
from bareos.testing.quick_console import QuickConsole, QuickDirector

FD_REFUSED = b"2997 Invalid command for a Director with Monitor directive enabled.\n"
SD_REFUSED = b"3997 Invalid command for a Director with Monitor directive enabled.\n"
JOB = "backup.2026-12-03_09.00.00_01"

# (family, file daemon commands, storage daemon commands, director commands)
FAMILIES = {
    "job": (
        [f"JobId=1 Job={JOB} SDid=1 SDtime=1 Authorization=ABCD", "backup FileIndex=0",
         "estimate listing=1", "restore replace=a prelinks=0 where=/tmp", "verify level=Catalog",
         "level = full", "fileset", "storage address=127.0.0.1 port=9103 ssl=0", "bootstrap",
         "endrestore", "accurate files=0", "session", "RunBeforeNow", "Run OnSuccess=1",
         "restoreobject", "pluginoptions", "resolve localhost"],
        [f"JobId=1 job={JOB} job_name=backup client_name=c type=66 level=70 FileSet=s",
         "run", "bootstrap", "use storage=File media_type=File pool_name=Full",
         "passive client address=127.0.0.1 port=9102 ssl=0"],
        ["run job=backup yes", "restore jobid=1 all done yes", "estimate job=backup",
         "wait jobid=1", "cancel jobid=1"]),
    "control": (
        [f"cancel Job={JOB}", "setdebug=100 trace=0 hangup=0 timestamp=0 tracefile=",
         "setbandwidth=1 Job=", "setauthorization Authorization=ABCD", "getSecureEraseCmd"],
        [f"cancel Job={JOB}", "setdebug=100 trace=0", "getSecureEraseCmd"],
        ["setdebug level=100 client=bareos-fd", "setip", "reload", "disable job=backup"]),
    "device and catalog": (
        [],
        ["label Storage=File Volume=Vol1 PoolName=Full", "mount Storage=File", "unmount Storage=File",
         "release Storage=File"],
        ["label storage=File volume=Vol1 pool=Full", "list jobs", "llist jobid=1", "messages",
         "delete jobid=1"]),
    "unknown": (["foo bar"], ["foo bar"], ["foo bar"]),
}


@pytest.fixture(scope="module")
def daemons(tmp_path_factory):
    suite = Suite(tmp_path_factory.mktemp("monitor-access"))
    try:
        start_daemons(suite)
        yield suite
    finally:
        suite.stop()


def rest_of_session(session):
    """The packets a daemon sends until it closes the connection; raises if it does not."""
    packets = []
    while True:
        try:
            packets.append(session._receive(10))
        except Exception as exc:
            assert "closed" in str(exc), f"the session did not end: {exc}"
            return packets


def refused_and_ended(port, password, command, refusal):
    with QuickDirector(port, password, MONITOR) as monitor:
        assert monitor.greeting.startswith(b"2000 OK Hello" if refusal == FD_REFUSED
                                           else b"3000 OK Hello"), monitor.greeting
        reply = monitor.command(command)
        assert reply == refusal, (command, reply)
        assert set(rest_of_session(monitor)) <= {Signal.EOD, Signal.TERMINATE}, command


@pytest.mark.parametrize("family", FAMILIES)
def test_file_daemon_refuses_the_monitor(daemons, family):
    commands = FAMILIES[family][0] or FAMILIES["unknown"][0]
    for command in commands:
        refused_and_ended(daemons.fd_port, FD_MONITOR_PASSWORD, command, FD_REFUSED)


@pytest.mark.parametrize("family", FAMILIES)
def test_storage_daemon_refuses_the_monitor(daemons, family):
    for command in FAMILIES[family][1]:
        refused_and_ended(daemons.sd_port, SD_MONITOR_PASSWORD, command, SD_REFUSED)


@pytest.mark.parametrize("family", FAMILIES)
def test_director_refuses_the_monitor_console(daemons, family):
    with QuickConsole(daemons.dir_port, MONITOR_PASSWORD, name=MONITOR) as monitor:
        for command in FAMILIES[family][2]:
            output = monitor.command(command)
            assert output.strip() == f"{command.split()[0]}: is an invalid command.", output
        # what it may do, it still may
        assert "Running Jobs:" in monitor.command("status director")


def test_director_gives_the_monitor_no_other_daemons_status(daemons):
    """``status client=``/``storage=``: no Client or Storage ACL, so no such daemon for it."""
    with QuickConsole(daemons.dir_port, MONITOR_PASSWORD, name=MONITOR) as monitor:
        assert monitor.command(f"status client={daemons.client_name}").strip() == \
            f'Client "{daemons.client_name}" not found.'
        assert "not found" in monitor.command(f"status storage={daemons.storage_name}")


@pytest.mark.parametrize("command", ["status", ".status"])
def test_file_and_storage_daemons_give_the_monitor_its_status(daemons, command):
    for port, password in ((daemons.fd_port, FD_MONITOR_PASSWORD),
                           (daemons.sd_port, SD_MONITOR_PASSWORD)):
        with QuickDirector(port, password, MONITOR) as monitor:
            monitor.command(command)
            text = b""
            while (packet := monitor._receive(10)) != Signal.EOD:
                text += packet
            assert b"Running Jobs:" in text
