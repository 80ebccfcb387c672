"""Steps that backups and restores share: the storage daemon's job, reaching the client."""

import re
import time
from datetime import datetime
from typing import Any, Callable, NamedTuple

from twisted.internet import defer
from twisted.logger import Logger
from twisted.python.failure import Failure

from bareos.director.links import (
    DaemonLink, DaemonUnreachable, ProtocolViolation, connect_client, connect_storage)
from bareos.director.jobs.job import JobFailed
from bareos.network.addresses import (
    client_address_for_storage, storage_address_for_client, which_address)
from bareos.network.tls import job_channel_ssl
from bareos.protocol.connection import ConnectionClosed, ReceiveTimeout
from bareos.protocol.cram import bash_spaces
from bareos.protocol.framing import Signal
from bareos.protocol.jobstatus import SUCCESSFUL, JobStatus, daemons_outcome

log = Logger(namespace="bareos.director.jobs")

_SD_JOB_REPLY = re.compile(r"^3000 OK Job SDid=(\d+) SDtime=(\d+) Authorization=(\S+)")
_DAEMON_PREFIX = re.compile(r"^\S+ JobId \d+: ")
#: Seconds a daemon gets to report the end of a job once the other daemon has reported that the
#: job failed (or vanished); then it is told to cancel, and after as long again it is given up.
PEER_REPORT_GRACE = 60

_END_JOB = re.compile(
    r"^2800 End Job TermCode=(\d+) JobFiles=(\d+) ReadBytes=(\d+) JobBytes=(\d+) Errors=(\d+)")


def job_message_handler(director, job, origin):
    """Turns ``Jmsg Job=<job> type=<n> level=<t> <text>`` packets into job messages."""
    from bareos.director.messages import TYPE_NAMES

    def handle(packet):
        text = packet.decode("utf-8", "replace")
        parts = text.split(" ", 4)
        if len(parts) < 5:
            return
        type_number = int(parts[2].partition("=")[2] or 6)
        timestamp = int(parts[3].partition("=")[2] or 0) or None
        type_name = TYPE_NAMES.get(type_number, "info")
        if type_name in ("error", "fatal") and origin == job.client.name:
            job.fd_errors += 1
        # Daemons put "<name> JobId <n>: " before their text, as Bareos' do; we add our own.
        body = _DAEMON_PREFIX.sub("", parts[4], count=1)
        director.messages.job_message(job, type_name, body, origin=origin, timestamp=timestamp)
    return handle


async def open_storage_job(director, job, append):
    """Connect to the storage daemon, create its job and reserve a device.

    Returns ``(link, session_key)``.
    """
    storage = job.storage
    link = await job.wait(JobStatus.WAIT_SD,
                          defer.ensureDeferred(connect_storage(director, storage)))
    job.links.append(link)
    link.on_job_message = job_message_handler(director, job, storage.name)
    reply = await link.command(
        f"JobId={job.jobid} job={bash_spaces(job.job)} job_name={bash_spaces(job.name)} "
        f"client_name={bash_spaces(job.client.name)} type={ord(job.type)} "
        f"level={ord(job.level if job.level.strip() else 'F')} "
        f"FileSet={bash_spaces(job.fileset.name if job.fileset else '*None*')} NoAttr=0 "
        f"SpoolAttr=0 FileSetMD5={job.options.get('fileset_md5', '*None*')} SpoolData=0 "
        f"PreferMountedVols=1 SpoolSize=0 rerunning=0 VolSessionId=0 VolSessionTime=0 "
        f"Quota=0 Protocol=0 BackupFormat=Native\n", "3000 OK Job")
    session_id, session_time, key = _SD_JOB_REPLY.match(reply).groups()
    job.vol_session_id, job.vol_session_time = int(session_id), int(session_time)
    link.send(f"use storage={bash_spaces(storage.name)} media_type={bash_spaces(storage.media_type)} "
              f"pool_name={bash_spaces(job.pool.name)} pool_type=Backup append={int(append)} "
              f"copy=0 stripe=0\n")
    for device in storage.device or []:
        link.send(f"use device={bash_spaces(device)}\n")
    link.conn.send_signal(Signal.EOD)
    link.conn.send_signal(Signal.EOD)
    # The answer comes once a device is free, which may take as long as the jobs before it.
    reply = await link.receive_line_while_alive()
    if not reply.startswith("3000 OK use device"):
        raise JobFailed(f"Storage daemon {storage.name} cannot reserve a device: {reply.strip()}")
    director.messages.job_message(
        job, "info", f"Using Device \"{reply.split('device=', 1)[-1].strip()}\" to "
                     f"{'write' if append else 'read'}.")
    return link, key


def is_passive(job):
    """``Passive = yes`` in the job's Client resource: the SD dials the FD (PROTOCOL §5.4)."""
    return bool(getattr(job.client, "passive", False))


async def tell_client_where_storage_is(director, job, fd, sd, authorization=None):
    """Active client: ``storage address=...`` to the FD, which dials the SD (§5.1 step 8).

    ``authorization`` (restores) is the SD session key, sent along as Bareos does.  When the
    storage daemon's connection ``sd`` closes before the FD answers, the job fails at once:
    the FD would go on dialling a storage daemon that is gone for its own SD Connect Timeout.
    """
    client, storage = job.client, job.storage
    address = storage_address_for_client(client, storage)
    director.messages.job_message(
        job, "info", f"File daemon told to connect to Storage daemon at {address}:{storage.port} "
                     f"(its {which_address(client, storage)})")
    key = f" Authorization={authorization}" if authorization else ""
    answer = defer.ensureDeferred(fd.command(
        f"storage address={address} port={storage.port} ssl={job_channel_ssl(storage)}{key}\n",
        "2000 OK storage"))
    await _unless_connection_closes(answer, sd, f"Storage daemon {storage.name}")


async def _unless_connection_closes(pending, link, who):
    """``pending``'s result, or JobFailed as soon as ``link``'s connection closes first (then
    ``pending`` is cancelled)."""
    first = defer.Deferred()

    def settle(value, closed):
        if not first.called:
            first.callback((closed, value))
        return value if closed else None      # the connection's own Deferred keeps its value

    pending.addBoth(settle, False)
    link.conn.closed.addBoth(settle, True)
    closed, value = await first
    if closed:
        pending.cancel()
        raise JobFailed(f"{who} closed its connection before the File daemon reached it ({value})")
    if isinstance(value, Failure):
        value.raiseException()
    return value


async def tell_storage_to_dial_client(director, job, sd):
    """Passive client: ``passive client address=...`` to the SD, which dials the FD (§5.4).

    The SD answers once it is connected and authenticated (or gave up after its
    ``FD Connect Timeout``), so there is no reply timeout here.
    """
    client, storage = job.client, job.storage
    address = client_address_for_storage(client, storage)
    director.messages.job_message(
        job, "info", f"Storage daemon told to connect to File daemon at {address}:{client.port} "
                     f"(its {which_address(client, storage)}; passive client)")
    sd.send(f"passive client address={address} port={client.port} ssl={job_channel_ssl(client)}\n")
    reply = await sd.receive_line(timeout=None)
    if not reply.startswith("2000 OK passive client"):
        raise JobFailed(
            f"Storage daemon {storage.name} could not connect to the passive File daemon "
            f"{client.name} at {address}:{client.port} (see its message above): {reply.strip()}")


async def reach_client(director, job, purpose):
    """An authenticated link to the job's client, the way its configuration allows."""
    link, how = await job.wait(JobStatus.WAIT_FD, defer.ensureDeferred(
        client_link(director, job.client, director.resource.fd_connect_timeout)))
    job.links.append(link)
    link.on_job_message = job_message_handler(director, job, job.client.name)
    director.messages.job_message(job, "info", f"{how} for {purpose}.")
    return link


async def start_client_job(director, job, purpose, key):
    """Reach the job's client and start its job there, with the storage daemon's session
    ``key``; the link.  (A verify job of the disk levels has no storage daemon session.)"""
    fd = await reach_client(director, job, purpose)
    ssl = job_channel_ssl(job.storage) if job.storage is not None else 0
    reply = await fd.command(
        f"JobId={job.jobid} Job={bash_spaces(job.job)} SDid={job.vol_session_id} "
        f"SDtime={job.vol_session_time} Authorization={key} ssl={ssl}\n",
        "2000 OK Job")
    job.client_uname = reply[len("2000 OK Job "):].strip()
    return fd


async def client_link(director, client, timeout, retry_interval=None):
    """Reach a client: (1) a connection it opened and left waiting, (2) dialling it if
    ``Connection From Director To Client`` allows, (3) waiting up to ``timeout`` for it
    to connect if ``Connection From Client To Director`` allows.

    Returns ``(DaemonLink, how it was reached)``; raises DaemonUnreachable saying what was tried.
    """
    pool = director.client_connections
    waiting = pool.take(client.name)
    if waiting is not None:
        return (DaemonLink(waiting.conn, "client", client.name, ""),
                f"Using Client Initiated Connection ({client.name})")
    tried = []
    if client.connection_from_director_to_client:
        try:
            options = {} if retry_interval is None else {"retry_interval": retry_interval}
            link = await connect_client(director, client, timeout=timeout, **options)
            return link, f"Connected Client: {client.name} at {client.address}:{client.port}"
        except DaemonUnreachable as exc:
            tried.append(str(exc))
    if client.connection_from_client_to_director:
        waiting = await pool.wait_for(client.name, timeout)     # also one that came meanwhile
        if waiting is not None:
            return (DaemonLink(waiting.conn, "client", client.name, ""),
                    f"Using Client Initiated Connection ({client.name}), which arrived while waiting")
        tried.append(f"no client-initiated connection from {client.name} arrived within {timeout:g} s")
    if not tried:
        tried.append("its Client resource allows neither connection direction")
    raise DaemonUnreachable(f"Client {client.name} cannot be reached: " + "; ".join(tried))


#: How long telling a daemon to cancel a job may take: reaching it, then its answer (seconds).
CANCEL_TIMEOUT = 15


async def tell_daemon_to_cancel(director, kind, resource, job_name):
    """``cancel Job=<job_name>`` on a new connection to the ``kind`` ("client" or
    "storage") daemon of ``resource``; its answer ("2001 Job ... marked to be canceled",
    "2901 Job ... not found"...), or None if it sent none.

    Bounded: reaching the daemon and its answer each take at most CANCEL_TIMEOUT
    seconds.  Raises DaemonUnreachable if the daemon cannot be reached.
    """
    if kind == "client":
        link, _how = await client_link(director, resource, CANCEL_TIMEOUT, retry_interval=1)
    else:
        link = await connect_storage(director, resource, timeout=CANCEL_TIMEOUT, retry_interval=1)
    try:
        link.send(f"cancel Job={bash_spaces(job_name)}\n")
        return (await link.receive_line(timeout=CANCEL_TIMEOUT)).strip()
    except (ConnectionClosed, ReceiveTimeout, ProtocolViolation):
        return None
    finally:
        link.close()


async def wait_for_end_job(job, link, on_attributes=None):
    """Read the file daemon's messages up to ``2800 End Job``; record its counters.

    ``on_attributes`` (verify jobs) takes the file reports the FD sends before: records
    framed as the SD forwards them, whose header starts with a zero VolSessionId.

    No timeout of its own: a job runs as long as it runs.  What bounds it is the
    connection closing, and ``wait_for_both_daemons`` when the storage daemon gave up."""
    while True:
        packet = await link.receive(timeout=None)
        if packet in (Signal.TERMINATE, Signal.EOD):
            raise JobFailed(f"File daemon {link.name} ended the session before reporting the job's end")
        if not isinstance(packet, bytes):
            continue
        if on_attributes is not None and packet[:1] == b"\x00":
            on_attributes(packet)
            continue
        line = packet.decode("utf-8", "replace")
        match = _END_JOB.match(line)
        if match:
            code, files, read_bytes, job_bytes, errors = (int(v) for v in match.groups())
            try:
                job.fd_status = JobStatus.from_code(code)
            except ValueError:
                raise ProtocolViolation(f"File daemon {link.name} ended the job with an unknown "
                                        f"status: {line.strip()!r}") from None
            job.fd_files, job.read_bytes, job.fd_bytes = files, read_bytes, job_bytes
            job.fd_errors = max(job.fd_errors, errors)
            return
        if line.startswith("2000 OK storage end"):
            job.options["storage_end"] = True
            return
        raise ProtocolViolation(f"File daemon {link.name} sent {line.strip()!r} during the job")


async def wait_for_both_daemons(director, job, fd, fd_report, sd, sd_report):
    """Wait for the file daemon's report (``fd_report``) and the storage daemon's
    (``sd_report``, its session), never for ever once one of them failed the job.

    (Issue 17 item 9: the SD failed the job on a full disk, the FD never reported, and the
    job stayed running with the queue behind it.)  See ``wait_for_reports``; "storage
    end" (one storage's part of a restore done) is no failure of the file daemon.
    """
    def fd_failed():
        return job.fd_status not in SUCCESSFUL and not job.options.get("storage_end")
    await wait_for_reports(director, DaemonReport(job, fd, fd_report, "the file daemon", fd_failed),
                           DaemonReport(job, sd, sd_report, "the storage daemon", storage_failed(job)))


def storage_failed(job):
    """For a DaemonReport: the storage daemon's report of ``job`` is no success."""
    return lambda: job.sd_status not in SUCCESSFUL


class DaemonReport(NamedTuple):
    """One daemon's end-of-job report that ``wait_for_reports`` waits for."""
    job: Any                         # the Job whose daemon it is
    link: Any                        # the daemon's DaemonLink
    deferred: Any                    # fires when the report came (or the connection closed)
    what: str                        # "the file daemon", "the reading storage daemon"...
    failed: Callable[[], bool]       # whether the report that came says the job failed


async def wait_for_reports(director, first, second):
    """Wait for two daemons' reports (DaemonReports), never for ever once one of them
    failed the job.

    Each wait is bounded by its connection closing.  When one daemon reported a failure
    (or its connection closed without a report; its status then stays None), the other has
    ``PEER_REPORT_GRACE`` seconds to report too; then it is told to cancel (on a connection
    of its own, as ``cancel`` does), and after as long again its link is closed, which ends
    the wait with ConnectionClosed.  Raises what a report raised, ``first``'s first.
    """
    clock = director.reactor
    await _first_fired(clock, [first.deferred, second.deferred])
    for done, other in ((first, second), (second, first)):
        if done.deferred.called and not other.deferred.called and done.failed():
            await _bound_report(director, other.job, other.link, other.deferred, done.what)
            break
    try:
        await _taken(first.deferred)
    except BaseException:
        second.deferred.addErrback(lambda failure: None)      # the first one's failure is reported
        raise
    await _taken(second.deferred)


async def _bound_report(director, job, link, report, other):
    """``report`` of ``link``'s daemon, after ``other`` failed the job: see wait_for_both_daemons."""
    clock, messages = director.reactor, director.messages
    if await _first_fired(clock, [report], PEER_REPORT_GRACE):
        return
    messages.job_message(job, "warning", f"{link.kind.capitalize()} {link.name} has not reported "
                         f"the end of the job {PEER_REPORT_GRACE} s after {other} failed it: "
                         f"telling it to cancel the job.")
    await director.jobs.tell_daemons_to_cancel(job, kinds=(link.kind,))
    if await _first_fired(clock, [report], PEER_REPORT_GRACE):
        return
    messages.job_message(job, "error", f"{link.kind.capitalize()} {link.name} did not report the "
                         f"end of the job after the cancel either: giving up on it.")
    link.conn.abort(f"no end-of-job report from {link.kind} {link.name}")


def _taken(deferred):
    """A new Deferred that takes over ``deferred``'s result, once its callbacks have run.

    The waits above resume inside the callbacks of the report that fired (``_first_fired``
    fires there); awaiting that report itself then finds it mid-run: Twisted 26 raises an
    AssertionError when its result is a failure, older Twisteds leave the failure unhandled.
    """
    taken = defer.Deferred()
    deferred.chainDeferred(taken)
    return taken


def _first_fired(clock, deferreds, timeout=None):
    """A Deferred firing True as soon as one of ``deferreds`` has fired (with a result or a
    failure, which stays theirs), or False after ``timeout`` seconds."""
    first = defer.Deferred()

    def fired(result):
        if not first.called:
            first.callback(True)
        return result
    for deferred in deferreds:
        deferred.addBoth(fired)
    if timeout is not None and not first.called:
        call = clock.callLater(timeout, lambda: first.called or first.callback(False))
        first.addBoth(lambda result: (call.active() and call.cancel(), result)[1])
    return first


def local_time(timestamp):
    """Seconds since the epoch as the catalog's naive local datetime (None stays None)."""
    return datetime.fromtimestamp(timestamp).replace(microsecond=0) if timestamp else None


async def send_bootstrap(sd, lines):
    """``bootstrap`` with its lines to a storage daemon's read job; JobFailed if refused."""
    sd.send("bootstrap\n")
    for line in lines:
        sd.send(line + "\n")
    sd.conn.send_signal(Signal.EOD)
    reply = await sd.receive_line()
    if not reply.startswith("3000 OK bootstrap"):
        raise JobFailed(f"Storage daemon refused the bootstrap: {reply.strip()}")


def epoch(value):
    """A catalog time (naive local datetime) as seconds since the epoch."""
    return time.mktime(value.timetuple()) if value is not None else None


def final_status(job):
    """The job's outcome from what both daemons reported."""
    return daemons_outcome(job.fd_status, job.sd_status, job.fd_errors + job.sd_errors)


def outlived(d, job, what):
    """The job failed while ``d`` (``what``, e.g. its storage daemon session) still ran
    beside it: ``d`` will fail too, as the job's links close; say so in the log instead
    of leaving an unhandled error."""
    d.addErrback(lambda failure: log.info("JobId {jobid}: the {what} ended after the job "
                                          "failed: {reason}", jobid=job.jobid, what=what,
                                          reason=failure.getErrorMessage()))
