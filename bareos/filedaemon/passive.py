"""Passive clients (connection #7, PROTOCOL.md §5.4): the storage daemon dials us.

With ``Passive = yes`` in the director's Client resource the director tells the
storage daemon where we are instead of telling us where it is.  The storage
daemon connects to our port, TLS-PSK first when the director said ``ssl=4``
(identity ``R_JOB\\x1e<Job>``, key = the job's session key from ``JobId=`` or
``setauthorization``), sends ``Hello Storage calling Start Job <Job>``, and we
challenge first (we accepted the connection).  The connection then becomes the
job's storage connection, exactly as one we had opened after ``storage
address=...``: ``backup`` and ``restore`` use it unchanged.  There is no
"passive" command on this side (Bareos ``filed/sd_cmds.cc``), and nothing here
ever opens a connection.
"""

from twisted.logger import Logger

from bareos.daemon.acceptor import authenticate_peer
from bareos.filedaemon import datachannel, jobs
from bareos.network.tls import session_kind
from bareos.protocol.connection import ConnectionClosed, InvalidPacketStream, ReceiveTimeout
from bareos.protocol.handshake import AuthenticationFailed
from bareos.protocol.tls import TlsPolicy

log = Logger(namespace="bareos.filedaemon")

# The storage daemon follows the ssl= the director sent it: TLS-PSK or cleartext, both accepted.
CHANNEL_POLICY = TlsPolicy.NONE


def waiting_job(daemon, name):
    """The running job ``name`` if it has a session key and no storage connection yet."""
    job = daemon.running_job(name)
    if job is None or not job.sd_key or job.canceled or not job.is_running:
        return None
    sd = getattr(job, "sd_conn", None)
    if sd is not None and sd.is_open:
        return None
    return job


def session_key(daemon, name):
    """TLS-PSK key for the identity ``R_JOB\\x1e<name>``, or None."""
    job = waiting_job(daemon, name)
    return job.sd_key.encode() if job is not None else None


async def accept_storage_daemon(daemon, conn, hello):
    """``Hello Storage calling Start Job <Job>``: authenticate with the job's key, hand over."""
    job = waiting_job(daemon, hello.name)
    key = job.sd_key.encode() if job is not None else None
    try:
        await authenticate_peer(conn, hello, key, CHANNEL_POLICY, daemon.qualified_name,
                                daemon.reactor)
    except InvalidPacketStream:
        return                                      # closed and logged by the connection
    except (AuthenticationFailed, ReceiveTimeout, ConnectionClosed) as exc:
        log.warn("{fd}: storage daemon connection from {peer} for job {job} refused: {reason}",
                 fd=daemon.name, peer=conn.peer_text(), job=hello.name, reason=exc)
        conn.close()
        return
    if job is not waiting_job(daemon, hello.name):     # ended or connected meanwhile
        conn.close()
        return
    datachannel.widen_socket_buffer(conn)
    job.sd_conn = conn
    job.sd_connected = True
    local = conn.transport.getHost()
    local_text = f"{getattr(local, 'host', local)}:{getattr(local, 'port', '')}"
    encryption = session_kind(conn)
    log.info("{fd}: storage daemon for job {job} connected from {peer} to {local} (passive client)"
             ", encryption: {encryption}", fd=daemon.name, job=job.job, peer=conn.peer_text(),
             local=local_text, encryption=encryption)
    _job_message(daemon, job, f"Storage daemon connected from {conn.peer_text()} to "
                              f"{local_text} (passive client), encryption: {encryption}\n")


def _job_message(daemon, job, text):
    """An info message on the job's director connection (if it is still there)."""
    director = next((c for c, j in getattr(daemon, "_conn_jobs", {}).items() if j is job), None)
    if director is None or not director.is_open or not job.job_id:
        return
    director.send(jobs.jmsg_line(job.job, jobs.M_INFO, text, daemon.name, job.job_id,
                                 daemon.reactor.seconds()))
