"""Copy and migration between two storage daemons (connections #5b and #8, PROTOCOL.md §7.4).

The director gives the *writing* storage daemon an append job and ``listen``: that job waits
for the reading storage daemon as a backup waits for its file daemon (``Hello Start Storage
Job <Job>``, CRAM-MD5 or TLS-PSK with the job's session key) and then serves
``start replicate`` / ``replicate data`` / ``end replicate`` with the ordinary append
session.  The *reading* storage daemon gets a read job with a bootstrap, then
``replicate JobId=.. Job=.. address=.. port=.. ssl=.. Authorization=..``: it dials the
writing one at once (answering ``3000 OK replicate`` once authenticated), and after ``run``
sends it the bootstrap's records in the file daemon's append format.
"""

import re

from twisted.logger import Logger

import bareos
from bareos.protocol.connection import ConnectionClosed, ReceiveTimeout
from bareos.protocol.framing import Signal
from bareos.network.tls import job_channel_settings, session_kind
from bareos.protocol.handshake import dial_with_retries
from bareos.protocol.hello import Hello, HelloKind
from bareos.protocol.jobstatus import JobStatus
from bareos.storagedaemon import protocol as P
from bareos.storagedaemon.append import AppendSession
from bareos.storagedaemon.fd_session import FD_CLOSE_GRACE, next_command
from bareos.storagedaemon.passive import adopt_dialled_peer, refuse_command
from bareos.storagedaemon.read import ReplicaSource, stream_records

log = Logger(namespace="bareos.storagedaemon")

OK_REPLICATE = "3000 OK replicate\n"
OK_START_REPLICATE = "3000 OK start replicate ticket = {ticket}\n"
OK_REPLICATE_DATA = b"3000 OK replicate data\n"
OK_END_REPLICATE = b"3000 OK end replicate\n"
ERROR_REPLICATE_DATA = b"3903 Error replicate data\n"
NO_OPEN = b"3901 Error replicate session already open\n"
NOT_OPENED = b"3902 Error replicate session not opened\n"
# What the reading storage daemon calls itself in the CRAM-MD5 exchange, as Bareos' does.
REPLICATE_OWN_NAME = "* replicate *"
SD_RETRY_INTERVAL = 10                     # seconds between dial attempts (Bareos: 10)
REPLY_TIMEOUT = 300                        # the writing SD's answer to a session command

_REPLICATE = re.compile(
    r"^replicate JobId=(\d+) Job=(\S+) address=(\S+) port=(\d+) ssl=(\d+) Authorization=(\S+)\s*$")
_TICKET = re.compile(r"^3000 OK start replicate ticket = (\d+)")


class ReplicateFailed(Exception):
    """The writing storage daemon could not be reached, refused us, or broke off."""


def parse_replicate(text):
    """``(job id, job, address, port, ssl, key)`` of a ``replicate`` command, or None."""
    match = _REPLICATE.match(text.rstrip("\x00\n"))
    if not match:
        return None
    job_id, job, address, port, ssl, key = match.groups()
    return int(job_id), job, address, int(port), int(ssl), key


# -- the reading storage daemon ------------------------------------------------------------

async def replicate_command(session, text):
    """``replicate ...``: dial the writing storage daemon for this (read) job."""
    daemon, conn = session.daemon, session.conn
    job = getattr(session, "sd_job", None)
    line = text.rstrip("\x00\n")
    parsed = parse_replicate(line)
    if job is None or parsed is None:
        return _refuse(conn, job, line)
    _job_id, writing_job, address, port, ssl, key = parsed
    hello = Hello(HelloKind.START_STORAGE_JOB, writing_job, version=bareos.VERSION)
    timeout = daemon.resource.sd_connect_timeout
    timeout = 1800 if timeout is None else max(0, int(timeout))
    log.info("{daemon}: job {job}: connecting to storage daemon {address}:{port} (ssl={ssl}) "
             "to copy to job {writing}", daemon=daemon.name, job=job.job, address=address,
             port=port, ssl=ssl, writing=writing_job)
    try:
        peer = await dial_with_retries(
            daemon.reactor, address, port, hello, key.encode(), REPLICATE_OWN_NAME,
            job_channel_settings(ssl, daemon.resource), timeout, getattr(daemon, "sd_retry_interval", SD_RETRY_INTERVAL),
            "storage daemon", ReplicateFailed, lambda: job.canceled)
    except ReplicateFailed as exc:
        if not job.canceled:
            job.fatal(f"Failed to connect to Storage daemon: {address}:{port} ({exc})")
        return _refuse(conn, job, line)
    local = adopt_dialled_peer(daemon, job, conn, peer)
    if local is None:
        return _refuse(conn, job, line)
    job.info(f"Storage daemon connected to Storage daemon at {address}:{port} to copy "
             f"(from {local}), encryption: "
             f"{session_kind(peer)}\n")
    job.serve_peer = send_replica
    job.fd_connected(peer)
    conn.send(OK_REPLICATE)
    return True


def _refuse(conn, job, line):
    return refuse_command(conn, job, "replicate", line)


async def _answer(conn, expected, step):
    """The writing storage daemon's answer to ``step``; ReplicateFailed unless it starts
    with ``expected``."""
    try:
        packet = await conn.receive(REPLY_TIMEOUT)
    except (ConnectionClosed, ReceiveTimeout) as exc:
        raise ReplicateFailed(f"no answer to {step}: {exc}") from None
    text = packet.decode("utf-8", "replace").rstrip("\x00") if isinstance(packet, bytes) else ""
    if not text.startswith(expected):
        raise ReplicateFailed(f"bad answer to {step}: {text.strip() or packet!r}")
    return text


async def send_replica(job, conn, worker):
    """After ``run``: the bootstrap's records to the writing storage daemon (mac.cc's order)."""
    try:
        if not job.bootstrap:
            raise ReplicateFailed("no bootstrap: nothing to read")
        conn.send("start replicate\n")
        ticket = _TICKET.match(await _answer(conn, "3000 OK start replicate", "start replicate"))
        conn.send(f"replicate data {ticket[1] if ticket else 0}\n")
        await _answer(conn, "3000 OK data", "replicate data")
        job.set_status(JobStatus.RUNNING, announce=True)
        source = ReplicaSource(job.bootstrap, job.daemon.devices.devices, job.device)
        if not await stream_records(job, conn, worker, source):
            if not job.canceled and not job.failed:
                job.fatal("Connection to the writing Storage daemon lost during the copy.")
            return
        conn.send_signal(Signal.EOD)           # ends the last piece
        conn.send_signal(Signal.EOD)           # ends the data
        await _answer(conn, "3000 OK replicate data", "the data")
        conn.send("end replicate\n")
        await _answer(conn, "3000 OK end replicate", "end replicate")
        job.set_status(JobStatus.TERMINATED)
    except ReplicateFailed as exc:
        if not job.canceled:
            job.fatal(f"Copy to the writing Storage daemon failed: {exc}")
    finally:
        if conn.is_open:
            conn.close(abort_after=FD_CLOSE_GRACE)


# -- the writing storage daemon ------------------------------------------------------------

async def listen_command(session, text):
    """``listen``: run the (append) job, its data coming from a storage daemon."""
    job = getattr(session, "sd_job", None)
    if job is None:
        session.conn.send("3900 Invalid command: listen (no job)\n")
        session.conn.close()
        return False
    session.sd_job = None
    job.peer_hello = HelloKind.START_STORAGE_JOB
    await session.daemon.run_job(job, serve=serve_storage_daemon, peer="Storage daemon")
    session.conn.close()
    return False


async def serve_storage_daemon(job, conn, worker):
    """The reading storage daemon's commands until it terminates (stored/sd_cmds.cc)."""
    opened = False
    try:
        while (text := await next_command(job, conn)) is not None:
            if text.startswith("start replicate"):
                if opened:
                    conn.send(NO_OPEN)
                    job.fatal("Attempt to open already open session.")
                    break
                opened = True
                job.append = True
                conn.send(OK_START_REPLICATE.format(ticket=job.session_id))
            elif text.startswith("replicate data"):
                if not opened:
                    conn.send(NOT_OPENED)
                    job.fatal("Attempt to replicate on non-open session.")
                    break
                if not await AppendSession(job, conn, worker, peer="SD").run():
                    break
            elif text.startswith("end replicate"):
                if not opened:
                    conn.send(NOT_OPENED)
                    job.fatal("Attempt to close non-open session.")
                    break
                conn.send(OK_END_REPLICATE)
            else:
                job.fatal(f"SD command not found: {text.strip()[:100]}")
                conn.send(P.FD_INVALID_COMMAND)
                break
    finally:
        if conn.is_open:
            conn.close(abort_after=FD_CLOSE_GRACE)
