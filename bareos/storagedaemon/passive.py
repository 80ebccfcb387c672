"""Passive clients (connection #7, PROTOCOL.md §5.4): the storage daemon dials the file daemon.

The director sends ``passive client address=<addr> port=<port> ssl=<0|4>``
after ``JobId=`` (and before ``run``).  We connect to the file daemon, start
TLS-PSK first when ``ssl=4`` (identity ``R_JOB\\x1e<Job>``, key = the job's
session key), send ``Hello Storage calling Start Job <Job>``, answer the file
daemon's challenge and challenge it (it accepted, so it challenges first), then
answer the director ``2000 OK passive client``.  From then on the connection is
the job's file daemon connection, exactly as if the file daemon had dialled us.

A file daemon that cannot be reached within the Storage resource's ``FD Connect
Timeout`` (retrying every ``fd_retry_interval`` seconds, as Bareos does) fails
the job: a fatal job message says why, and the director gets
``3991 Bad passive client command: ...``; the director session ends, the
daemon goes on serving other jobs.
"""

import re

from twisted.logger import Logger

import bareos
from bareos.network.tls import job_channel_settings, session_kind
from bareos.protocol.handshake import dial_with_retries
from bareos.protocol.hello import Hello, HelloKind

log = Logger(namespace="bareos.storagedaemon")

OK_PASSIVE = "2000 OK passive client\n"
FD_RETRY_INTERVAL = 10             # seconds between connection attempts (Bareos: 10)
# Bareos' storage daemon names itself this way in the CRAM challenge of channel 7.
CHANNEL_7_OWN_NAME = "File daemon"

_PASSIVE = re.compile(r"^passive client address=(\S+) port=(\d+) ssl=(\d+)\s*$")
_BUFFER = 1 << 20


class PassiveConnectFailed(Exception):
    """The file daemon could not be reached or refused us (the text says why)."""


def parse_passive(text):
    """``(address, port, ssl)`` of a ``passive client`` command, or None."""
    match = _PASSIVE.match(text.rstrip("\x00\n"))
    if not match:
        return None
    return match[1], int(match[2]), int(match[3])


async def passive_command(session, text):
    """``passive client address=... port=... ssl=...`` from the director."""
    daemon, conn = session.daemon, session.conn
    job = getattr(session, "sd_job", None)
    line = text.rstrip("\x00\n")
    parsed = parse_passive(line)
    if job is None or parsed is None:
        if job is not None:
            job.fatal(f"Bad passiveclientcmd command: {line}")
        return _refuse(conn, job, line)
    address, port, ssl = parsed
    try:
        fd = await dial_file_daemon(daemon, job, address, port, ssl)
    except PassiveConnectFailed as exc:
        if not job.canceled:
            job.fatal(f"Failed to connect to File daemon: {address}:{port} ({exc})")
        return _refuse(conn, job, line)
    local = adopt_dialled_peer(daemon, job, conn, fd)
    if local is None:
        return _refuse(conn, job, line)
    encryption = session_kind(fd)
    job.info(f"Storage daemon connected to File daemon at {address}:{port} (passive client, "
             f"from {local}), encryption: {encryption}\n")
    job.fd_connected(fd)
    conn.send(OK_PASSIVE)
    return True


def adopt_dialled_peer(daemon, job, conn, peer):
    """A data channel we dialled for ``job`` (to a passive FD, to the writing SD of a copy)
    becomes one of the daemon's connections; the local address it went out from, or None
    (and ``peer`` closed) when the job or its director session went away meanwhile."""
    if job.canceled or job.finished or not conn.is_open:
        peer.close()
        return None
    daemon.connections.add(peer)
    peer.closed.addBoth(lambda reason: (daemon.connections.discard(peer), reason)[1])
    if hasattr(peer.transport, "bufferSize"):
        peer.transport.bufferSize = _BUFFER
    local = peer.transport.getHost()
    return getattr(local, "host", local)


def refuse_command(conn, job, command, line):
    """``3991 Bad <command> command: <line>``, ending the director session as Bareos does;
    the job's messages go first so the director logs why."""
    if job is not None:
        job.link.activate()
    if conn.is_open:
        conn.send(f"3991 Bad {command} command: {line}\n")
        conn.close()                    # TERMINATE: Bareos ends the director session here
    return False


def _refuse(conn, job, line):
    return refuse_command(conn, job, "passive client", line)


async def dial_file_daemon(daemon, job, address, port, ssl):
    """Connect and authenticate to the file daemon for ``job``; retry until FD Connect Timeout."""
    hello = Hello(HelloKind.STORAGE_START_JOB, job.job, version=bareos.VERSION)
    key = (job.session_key or "").encode()
    timeout = daemon.resource.fd_connect_timeout
    timeout = 1800 if timeout is None else max(0, int(timeout))
    retry_interval = getattr(daemon, "fd_retry_interval", FD_RETRY_INTERVAL)
    log.info("{daemon}: job {job}: connecting to passive file daemon {address}:{port} (ssl={ssl})",
             daemon=daemon.name, job=job.job, address=address, port=port, ssl=ssl)
    return await dial_with_retries(daemon.reactor, address, port, hello, key,
                                   CHANNEL_7_OWN_NAME, job_channel_settings(ssl, daemon.resource), timeout,
                                   retry_interval, "file daemon", PassiveConnectFailed,
                                   lambda: job.canceled)
