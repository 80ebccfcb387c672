"""Client-initiated connections (channel 4) with real daemons on loopback.

The file daemon dials the director and waits there; the director lists it in
``status director`` and uses the waiting connection for jobs, ``status client``
and ``cancel``.  Faults come from a relay between the two (freeze, silent drop,
reset, a NAT that forgets idle flows) and from restarting the director.  Time
bounds are the ones the feature promises (5 s to appear; the backoff bound
after a director restart; two heartbeat intervals after a network fault), never
measurements.
"""

import os
import re
import sqlite3
import time

import pytest

from backup_helpers import run_job
from bareos.config.writer import quote, resource
from bareos.protocol.framing import Signal
from bareos.testing.ports import free_port
from bareos.testing.quick_console import QuickConsole, QuickDirector
from bareos.testing.relay import TO_CLIENT, FaultyRelay
from bareos.testing.trees import differences, make_tree, snapshot
from bareos.testing.waiting import wait_until

HEARTBEAT = 2               # the FD's Heartbeat Interval in most tests (seconds)
RECONNECT_MAX = 2           # its Reconnect Max Interval: the backoff bound
APPEAR_WITHIN = 5           # an FD that dials out is listed this soon after it starts
_JOBID = re.compile(r"Job queued\. JobId=(\d+)")


# -- configuration -------------------------------------------------------------------------------

def fd_log(suite):
    return suite.run_dir / "bareos-fd-messages.log"


def fd_dialling_out(suite, *, director_port=None, heartbeat=HEARTBEAT, incoming=False, tls=False):
    """The FD's resources: it dials the director (or a relay in front of it)."""
    tls_lines = ["TLS Enable = yes", "TLS Require = yes"] if tls else ["TLS Enable = no",
                                                                       "TLS Require = no"]
    return {
        f"client/{suite.client_name}.conf": resource("Client", [
            f"Name = {suite.client_name}", f"FdAddress = {suite.host}", f"FdPort = {suite.fd_port}",
            f"Working Directory = {quote(suite.fd_work)}", f"Heartbeat Interval = {heartbeat}",
            "Reconnect Min Interval = 1", f"Reconnect Max Interval = {RECONNECT_MAX}",
            "Reconnect Jitter Percent = 20", "TLS Enable = no", "TLS Require = no"]),
        f"director/{suite.director_name}.conf": resource("Director", [
            f"Name = {suite.director_name}", f"Password = {quote(suite.fd_password)}",
            f"Address = {suite.host}", f"Port = {director_port or suite.dir_port}",
            "Connection From Client To Director = yes",
            f"Connection From Director To Client = {'yes' if incoming else 'no'}", *tls_lines]),
        "messages/Standard.conf": resource("Messages", [
            "Name = Standard", f"Director = {suite.director_name} = all, !skipped, !restored",
            f"Append = {quote(fd_log(suite))} = all, !skipped, !restored"]),
    }


def director_client(suite, *, outgoing=False, port=None, tls=False, heartbeat=0):
    """The director's Client resource: the client may connect; dialling it only if ``outgoing``
    (at ``port``, by default a port where nothing listens).  ``heartbeat``: its Heartbeat
    Interval, which the director assumes until the client's heartbeats show their rhythm."""
    tls_lines = ["TLS Enable = yes", "TLS Require = yes"] if tls else ["TLS Enable = no",
                                                                       "TLS Require = no"]
    return {f"client/{suite.client_name}.conf": resource("Client", [
        f"Name = {suite.client_name}", f"Address = {suite.host}", f"Port = {port or free_port()}",
        f"Password = {quote(suite.fd_password)}", "Connection From Client To Director = yes",
        f"Connection From Director To Client = {'yes' if outgoing else 'no'}",
        "Maximum Concurrent Jobs = 10", f"Heartbeat Interval = {heartbeat}", *tls_lines])}


def start_director(suite, source=None, *, fd_connect_timeout=20, extra=None, **client):
    resources = {**(suite.backup_resources(source) if source else {}),
                 **director_client(suite, **client), **(extra or {})}
    return suite.start_director(extra_resources=resources, director_extra=[
        f"FD Connect Timeout = {fd_connect_timeout}", "Maximum Concurrent Jobs = 10"])


def start_fd(suite, **options):
    return suite.start_fd(wait=False, extra_resources=fd_dialling_out(suite, **options))


# -- observing -------------------------------------------------------------------------------

def listening_sockets(pid):
    """TCP sockets in LISTEN state that process ``pid`` holds."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    listening = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as stream:
            for line in stream.readlines()[1:]:
                fields = line.split()
                if fields[3] == "0A" and fields[9] in inodes:
                    listening.append(fields[1])
    return listening


def fd_retries(suite):
    """The number of the FD's latest retry after failed attempts to reach the director, from
    its log ("...; retry 2 in 1.9 s"); 0 before the first."""
    numbers = re.findall(r"; retry (\d+) in ", suite.daemons["fd"].log_text(since_start=True))
    return int(numbers[-1]) if numbers else 0


def queue_job(suite, command):
    output = suite.console(f"{command}\n")
    match = _JOBID.search(output)
    assert match, output
    return int(match.group(1))


def wait_job(suite, jobid):
    output = suite.console(f"wait jobid={jobid}\nmessages\n")
    status = re.search(r"JobStatus=.*\((\w)\)", output)
    assert status, output
    return status.group(1), output


def waits_for_its_client(suite, jobid):
    """``status director`` lists the job waiting for its FD (status F)."""
    return any(line.split()[:1] == [str(jobid)] and line.endswith("is waiting on Client")
               for line in suite.console("status director\n").splitlines())


def catalog_rows(suite, sql, *params):
    """Rows of the director's SQLite catalog (read-only; none while it is not created yet)."""
    try:
        with sqlite3.connect(f"file:{suite.dir_work / 'bareos.db'}?mode=ro", uri=True) as db:
            return db.execute(sql, params).fetchall()
    except sqlite3.OperationalError:
        return []


def job_log(suite, jobid):
    """The job's messages as the catalog's Log table keeps them."""
    rows = catalog_rows(suite, "SELECT LogText FROM Log WHERE JobId = ? ORDER BY LogId", jobid)
    return "\n".join(row[0] for row in rows)


# -- an FD that only dials out -------------------------------------------------------------------

def test_fd_that_only_dials_out_is_listed_fast_and_backs_up_and_restores(suite, tmp_path):
    source = tmp_path / "source"
    make_tree(source, big_file_mib=3, small_files=300)
    suite.start_sd()
    start_director(suite, source, tls=True)
    with QuickConsole(suite.dir_port, suite.dir_password) as console:
        assert console.waiting_clients() == []
        fd = start_fd(suite, tls=True)
        wait_until(lambda: console.waiting_clients() == [suite.client_name], APPEAR_WITHIN,
                   "the FD appears in status director")
        assert listening_sockets(fd.pid) == [], "an FD that only dials out must not listen"

        jobid, status, output = run_job(suite, "run job=backup level=Full yes")
        assert status == "T", output
        assert "Using Client Initiated Connection (bareos-fd) for backup." in output
        expected = snapshot(source)
        where = tmp_path / "restored"
        _, status, output = run_job(suite, f"restore jobid={jobid} all done yes where={where}")
        assert status == "T", output
        assert "Using Client Initiated Connection (bareos-fd) for restore." in output
        assert differences(expected, snapshot(str(where) + str(source))) == []

        status_client = suite.console(f"status client={suite.client_name}\n")
        assert f"{suite.client_name} Version:" in status_client
        assert "Client Initiated Connections (to directors):" in status_client
        wait_until(lambda: console.waiting_clients() == [suite.client_name], APPEAR_WITHIN,
                   "a waiting connection again after the jobs")
        assert listening_sockets(fd.pid) == []


def test_director_restart_fd_back_within_the_backoff_bound(suite, tmp_path):
    source = tmp_path / "source"
    make_tree(source, big_file_mib=1, small_files=20)
    suite.start_sd()
    director = start_director(suite, source)
    start_fd(suite)
    with QuickConsole(suite.dir_port, suite.dir_password) as console:
        wait_until(lambda: console.waiting_clients() == [suite.client_name], APPEAR_WITHIN,
                   "the FD appears")
    director.stop()
    wait_until(lambda: fd_retries(suite) >= 2, 5 * RECONNECT_MAX,
               "the FD is refused twice: its backoff is at its bound")
    director.start()
    with QuickConsole(suite.dir_port, suite.dir_password) as console:
        wait_until(lambda: console.waiting_clients() == [suite.client_name], RECONNECT_MAX + 2,
                   "the FD is back within the backoff bound")
    jobid, status, output = run_job(suite, "run job=backup level=Full yes")
    assert status == "T", output
    assert "Using Client Initiated Connection (bareos-fd) for backup." in output
    # the FD's own log, and the director's job log (Director destination, kept for the next job)
    log = fd_log(suite).read_text()
    assert "Cannot keep a connection to Director bareos-dir at 127.0.0.1:" in log
    assert "is back after" in log
    assert "Warning: Cannot keep a connection to Director bareos-dir" in job_log(suite, jobid)


# -- network faults between FD and director ----------------------------------------------------

RELAY_HEARTBEAT = 3


@pytest.mark.slow                       # each waits out up to two heartbeat intervals
@pytest.mark.parametrize("fault", ["freeze", "drop", "reset"])
def test_network_fault_list_right_and_fd_back_within_two_heartbeats(suite, fault):
    relay = FaultyRelay(suite.dir_port)
    try:
        director = start_director(suite, heartbeat=RELAY_HEARTBEAT)
        start_fd(suite, director_port=relay.port, heartbeat=RELAY_HEARTBEAT)
        bound = 2 * RELAY_HEARTBEAT
        with QuickConsole(suite.dir_port, suite.dir_password) as console:
            wait_until(lambda: console.waiting_clients() == [suite.client_name], APPEAR_WITHIN,
                       "the FD appears through the relay")
            # The director watches only clients it has heard a heartbeat from (a Bareos FD
            # waits in silence); the FD sends its first one as soon as it is greeted.  A
            # fault before the director has heard it is a different case (TCP keepalive
            # finds it), so wait until the director's answer to it has crossed the relay.
            wait_until(lambda: relay.signals(TO_CLIENT)[Signal.HB_RESPONSE] >= 1, bound,
                       "the director answers the FD's first heartbeat")
            flows = relay.accepted
            director_log = lambda: director.log_text(since_start=True).lower()  # noqa: E731
            noticed_before = director_log().count("client-initiated connection")

            def director_noticed():
                return director_log().count("client-initiated connection") > noticed_before

            def right_again():
                return (director_noticed() and relay.accepted > flows
                        and relay.active_flows() == 1
                        and console.waiting_clients() == [suite.client_name])

            if fault == "freeze":
                relay.freeze()
                wait_until(lambda: director_noticed() and console.waiting_clients() == [], bound,
                           "the director drops the frozen connection")
                relay.thaw()
            elif fault == "drop":
                relay.drop_silently()
            else:
                relay.reset()
            wait_until(right_again, bound, f"after {fault}: one live waiting connection, "
                                           "through a new flow, and the old one dropped")
            status_client = suite.console(f"status client={suite.client_name}\n")
            assert f"{suite.client_name} Version:" in status_client
    finally:
        relay.stop()


@pytest.mark.slow                       # idles for 2.5 NAT timeouts
def test_heartbeats_keep_a_waiting_connection_through_a_nat_that_forgets_idle_flows(suite):
    idle_timeout = 5                                  # N; the heartbeat (2 s) is shorter
    relay = FaultyRelay(suite.dir_port, idle_timeout=idle_timeout)
    try:
        start_director(suite)
        start_fd(suite, director_port=relay.port, heartbeat=HEARTBEAT)
        with QuickConsole(suite.dir_port, suite.dir_password) as console:
            wait_until(lambda: console.waiting_clients() == [suite.client_name], APPEAR_WITHIN,
                       "the FD appears through the relay")
            time.sleep(2.5 * idle_timeout)           # the scenario: idle for longer than N
            assert relay.accepted == 1 and relay.active_flows() == 1, "the flow was forgotten"
            assert console.waiting_clients() == [suite.client_name]
        status_client = suite.console(f"status client={suite.client_name}\n")
        assert f"{suite.client_name} Version:" in status_client
        # served by the connection that waited; the FD then opened one new waiting connection
        wait_until(lambda: relay.accepted == 2, 5, "a new waiting connection after the take")
        assert "Cannot keep" not in (fd_log(suite).read_text() if fd_log(suite).exists() else "")
    finally:
        relay.stop()


# -- the director's order: waiting connection, dialling, waiting for the client --------------------

def test_both_directions_client_unreachable_job_uses_the_waiting_connection(suite, tmp_path):
    source = tmp_path / "source"
    make_tree(source, big_file_mib=1, small_files=20)
    suite.start_sd()
    start_director(suite, source, outgoing=True)      # the Client's Port: nothing listens there
    start_fd(suite, incoming=True)
    with QuickConsole(suite.dir_port, suite.dir_password) as console:
        wait_until(lambda: console.waiting_clients() == [suite.client_name], APPEAR_WITHIN,
                   "the FD appears")
    jobid, status, output = run_job(suite, "run job=backup level=Full yes")
    assert status == "T", output
    assert "Using Client Initiated Connection (bareos-fd) for backup." in output


@pytest.mark.slow                       # waits out an FD Connect Timeout
def test_no_waiting_connection_job_waits_for_the_client_or_fails_saying_what_was_tried(
        suite, tmp_path):
    source = tmp_path / "source"
    make_tree(source, big_file_mib=1, small_files=20)
    suite.start_sd()
    timeout = 8
    unreachable = free_port()
    start_director(suite, source, outgoing=True, port=unreachable, fd_connect_timeout=timeout)

    # nobody connects: the job fails and says what it tried
    jobid = queue_job(suite, "run job=backup level=Full yes")
    status, output = wait_job(suite, jobid)
    assert status == "f", output
    assert (f"Client bareos-fd cannot be reached: cannot connect to client bareos-fd at "
            f"127.0.0.1:{unreachable}: connection refused; no client-initiated connection from "
            f"bareos-fd arrived within {timeout} s") in output

    # the client connects while the job waits: it is used
    jobid = queue_job(suite, "run job=backup level=Full yes")
    # the job has found no waiting connection and dials or waits (status F) before the FD starts
    wait_until(lambda: waits_for_its_client(suite, jobid), 30, "the job waits for its client")
    start_fd(suite, incoming=True)
    status, output = wait_job(suite, jobid)
    assert status == "T", output
    log = job_log(suite, jobid)
    assert "Using Client Initiated Connection (bareos-fd), which arrived while waiting " \
           "for backup." in log, log


DIALLING = 15               # the director's FD Connect Timeout in the restart test below


@pytest.mark.slow                       # the job waits out the director's dialling
def test_director_restarted_with_a_job_queued_at_once_uses_the_client_that_connects_meanwhile(
        suite, tmp_path):
    """Issue 17 item 1: both directions allowed, the client unreachable by dialling.  The
    director is restarted and a job queued at once, before the file daemon is back; the file
    daemon connects while the director still dials it.  The job must use that connection
    (it was left waiting, listed by ``status director``, until the job failed)."""
    source = tmp_path / "source"
    make_tree(source, big_file_mib=1, small_files=20)
    unreachable_client = FaultyRelay(free_port())    # resets every connection the director makes
    unreachable_client.refuse()
    to_director = FaultyRelay(suite.dir_port)        # the file daemon's way to the director
    try:
        suite.start_sd()
        director = start_director(suite, source, outgoing=True, port=unreachable_client.port,
                                  fd_connect_timeout=DIALLING)
        start_fd(suite, director_port=to_director.port)
        with QuickConsole(suite.dir_port, suite.dir_password) as console:
            wait_until(lambda: console.waiting_clients() == [suite.client_name], APPEAR_WITHIN,
                       "the FD appears")
        to_director.refuse()                         # the FD stays away until the job dials it
        director.stop()
        director.start()
        jobid = queue_job(suite, "run job=backup level=Full yes")
        wait_until(lambda: unreachable_client.refused >= 1, DIALLING,
                   "the director dials the client for the job")
        to_director.refuse(False)
        with QuickConsole(suite.dir_port, suite.dir_password) as console:
            wait_until(lambda: console.waiting_clients() == [suite.client_name], DIALLING,
                       "the FD is back and waits while the director still dials it")
        status, output = wait_job(suite, jobid)
        assert status == "T", output
        assert ("Using Client Initiated Connection (bareos-fd), which arrived while waiting "
                "for backup.") in job_log(suite, jobid)
    finally:
        to_director.stop()
        unreachable_client.stop()


# -- two jobs at once, status client and cancel while they run ------------------------------------

SLOW_BYTES_PER_SECOND = 100_000


def slow_jobs(suite, sources):
    """Two backup jobs of the same client, each with its own FileSet."""
    resources = {}
    for name, source in sources.items():
        resources[f"fileset/{name}.conf"] = resource("FileSet", {"Name": name, "Include": {
            "Options": {"Signature": "MD5"}, "File": source}})
        resources[f"job/{name}.conf"] = resource("Job", [
            f"Name = {name}", "Type = Backup", "Level = Full", f"Client = {suite.client_name}",
            f"FileSet = {name}", f"Storage = {suite.storage_name}", "Pool = Full",
            "Messages = Standard"])
    resources[f"storage/{suite.storage_name}.conf"] = resource("Storage", [
        f"Name = {suite.storage_name}", f"Address = {suite.host}", f"Port = {suite.sd_port}",
        f"Password = {quote(suite.sd_password)}", "Device = FileStorage", "Media Type = File",
        "Maximum Concurrent Jobs = 10", "TLS Enable = no", "TLS Require = no"])
    return resources


def test_two_concurrent_jobs_with_status_client_and_cancel_during_them(suite, tmp_path):
    sources = {}
    for name in ("slowA", "slowB"):
        sources[name] = tmp_path / name
        sources[name].mkdir()
        (sources[name] / "data.bin").write_bytes(os.urandom(4_000_000))
    device = suite.sd_resources()["device/FileStorage.conf"].replace(
        "}\n", "  Maximum Concurrent Jobs = 10\n}\n")
    suite.start_sd(extra_resources={"device/FileStorage.conf": device})
    start_director(suite, tmp_path / "unused", extra=slow_jobs(suite, sources))
    # The FD dials our director; a second Director resource ("ops") may dial the FD: the test
    # uses it to slow jobs down (setbandwidth=), so that they are still running when we look.
    resources = fd_dialling_out(suite)
    ops_password = "ops-secret"
    resources["director/ops.conf"] = resource("Director", [
        "Name = ops", f"Password = {quote(ops_password)}", "TLS Enable = no", "TLS Require = no"])
    suite.start_fd(extra_resources=resources)
    with QuickDirector(suite.fd_port, ops_password, "ops") as ops:
        assert ops.command(f"setbandwidth={SLOW_BYTES_PER_SECOND} Job=").startswith(b"2000 OK")
    with QuickConsole(suite.dir_port, suite.dir_password) as console:
        wait_until(lambda: console.waiting_clients() == [suite.client_name], APPEAR_WITHIN,
                   "the FD appears")
        job_a = queue_job(suite, "run job=slowA yes")
        job_b = queue_job(suite, "run job=slowB yes")
        running = {}

        def both_running():
            text = console.command(f"status client={suite.client_name}")
            running.update(re.findall(r"JobId (\d+) Job (\S+) is running", text))
            return {str(job_a), str(job_b)} <= set(running)
        wait_until(both_running, 30, "both jobs run in the FD at once", step=0.2)

        cancelled = console.command(f"cancel jobid={job_a} yes")
        assert f"JobId {job_a}, Job {running[str(job_a)]} marked to be canceled." in cancelled
        status, output = wait_job(suite, job_a)
        assert status == "A", output
        assert f"2001 Job {running[str(job_a)]} marked to be canceled." in job_log(suite, job_a)

        assert console.waiting_clients() == [suite.client_name]   # B runs; another one waits
        with QuickDirector(suite.fd_port, ops_password, "ops") as ops:
            reply = ops.command(f"setbandwidth=0 Job={running[str(job_b)]}")
            assert reply.startswith(b"2000 OK"), reply
        status, output = wait_job(suite, job_b)
        assert status == "T", output
        # The FD dials its next connection once one is taken: on a loaded machine job B may
        # start before it is there, and wait for it.
        for jobid in (job_a, job_b):
            log = job_log(suite, jobid)
            assert re.search(r"Using Client Initiated Connection \(bareos-fd\)"
                             r"(, which arrived while waiting)? for backup\.", log), log


# -- Run On Incoming Connect Interval ---------------------------------------------------------------

def test_run_on_incoming_connect_interval_starts_the_job_once(suite, tmp_path):
    source = tmp_path / "source"
    make_tree(source, big_file_mib=1, small_files=20)
    suite.start_sd()
    auto = {"job/auto.conf": resource("Job", [
        "Name = auto", "Type = Backup", "Level = Full", f"Client = {suite.client_name}",
        "FileSet = TestSet", f"Storage = {suite.storage_name}", "Pool = Full",
        "Messages = Standard", "Run On Incoming Connect Interval = 1 hour"])}
    start_director(suite, source, extra=auto)
    start_fd(suite)

    def auto_jobs():
        return catalog_rows(suite, "SELECT JobId, JobStatus FROM Job WHERE Name = 'auto'")
    wait_until(lambda: [status for _, status in auto_jobs()] == ["T"], 60,
               "the client's connection starts the job, which succeeds")
    jobid = auto_jobs()[0][0]
    assert "Job triggered by:       Incoming client connection" in job_log(suite, jobid)
    with QuickConsole(suite.dir_port, suite.dir_password) as console:
        wait_until(lambda: console.waiting_clients() == [suite.client_name], APPEAR_WITHIN,
                   "the FD waits again after the job")
        console.command(f"status client={suite.client_name}")      # one more reconnection
        wait_until(lambda: console.waiting_clients() == [suite.client_name], APPEAR_WITHIN,
                   "the FD waits again after status client")
    time.sleep(1)            # nothing to wait for: a job wrongly started would show up by now
    assert len(auto_jobs()) == 1, "reconnections within the interval must not start it again"
