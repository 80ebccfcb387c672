"""The file daemon's data channel (#6): authentication and the session commands (§7.2)."""

from twisted.logger import Logger

from bareos.daemon.acceptor import authenticate_peer
from bareos.network.tls import session_kind
from bareos.protocol.connection import ConnectionClosed, InvalidPacketStream, ReceiveTimeout
from bareos.protocol.framing import Signal
from bareos.protocol.handshake import AuthenticationFailed
from bareos.protocol.hello import HelloKind
from bareos.protocol.tls import TlsPolicy
from bareos.storagedaemon import protocol as P
from bareos.storagedaemon.append import AppendSession
from bareos.storagedaemon.read import ReadSession

log = Logger(namespace="bareos.storagedaemon")

# The FD follows the ssl= the director sent it: TLS-PSK (identity R_JOB\x1e<Job>, key = the
# session key) or cleartext; both are accepted here.
FD_CHANNEL_POLICY = TlsPolicy.NONE
FD_TRANSPORT_BUFFER = 1 << 20
# Once the session is over, the FD has this long to take our last packets before the data
# channel is aborted: a close never waits for ever on an FD that stopped reading.
FD_CLOSE_GRACE = 10


async def accept_file_daemon(daemon, conn, hello):
    """``Hello Start Job <Job>`` (or ``Hello Start Storage Job <Job>`` for a job that ``listen``s):
    CRAM-MD5 with the job's session key, then hand over to the job."""
    job = daemon.jobs.get(hello.name)
    if job is not None and (not job.waiting_for_fd or job.peer_hello is not hello.kind):
        job = None
    key = job.session_key.encode() if job is not None and job.session_key else None
    try:
        await authenticate_peer(conn, hello, key, FD_CHANNEL_POLICY, daemon.qualified_name,
                                daemon.reactor)
    except InvalidPacketStream:
        return                                      # closed and logged by the connection
    except (AuthenticationFailed, ReceiveTimeout, ConnectionClosed) as exc:
        log.warn("{daemon}: file daemon connection from {peer} for job {job} refused: {reason}",
                 daemon=daemon.name, peer=conn.peer_text(), job=hello.name, reason=exc)
        conn.close()
        if job is not None and job.waiting_for_fd and isinstance(exc, AuthenticationFailed):
            job.fd_failed(str(exc))
        return
    if job is None or not job.waiting_for_fd:          # canceled during the handshake
        conn.close()
        return
    if hasattr(conn.transport, "bufferSize"):
        # Bulk data: read (and pace writes) in 1 MiB steps instead of Twisted's 64 KiB.
        conn.transport.bufferSize = FD_TRANSPORT_BUFFER
    local = conn.transport.getHost()
    log.info("{daemon}: {kind} for job {job} connected from {peer} to {local}{tls}",
             daemon=daemon.name, job=job.job,
             kind="storage daemon" if hello.kind is HelloKind.START_STORAGE_JOB else "file daemon", peer=conn.peer_text(),
             local=f"{getattr(local, 'host', local)}:{getattr(local, 'port', '')}",
             tls=f" ({session_kind(conn)})" if conn.is_tls else "")
    job.fd_connected(conn)


async def next_command(job, conn):
    """The data channel peer's next command, or None once it terminated or closed the
    connection (it does at the end of its job), or a cancel aborted it (StorageJob.cancel)."""
    while not job.canceled:
        try:
            packet = await conn.receive()
        except ConnectionClosed:
            return None
        if packet == Signal.TERMINATE:
            return None
        if isinstance(packet, bytes) and packet:
            return packet.decode("utf-8", "replace").rstrip("\x00")
    return None


async def serve_file_daemon(job, conn, worker):
    """The FD's commands until it terminates (stored/fd_cmds.cc ``DoFdCommands``)."""
    opened = None
    try:
        while (text := await next_command(job, conn)) is not None:
            if text.startswith("append open"):
                if opened:
                    conn.send(P.NO_OPEN)
                    job.fatal("Attempt to open already open session.")
                    break
                opened = "append"
                job.append = True
                conn.send(P.format_open_ticket(job.session_id))
            elif text.startswith("append data"):
                if opened != "append":
                    conn.send(P.NOT_OPENED)
                    job.fatal("Attempt to append on non-open session.")
                    break
                if not await AppendSession(job, conn, worker).run():
                    break
            elif text.startswith("append end"):
                if opened != "append":
                    conn.send(P.NOT_OPENED)
                    job.fatal("Attempt to close non-open session.")
                    break
                conn.send(P.OK_END)
            elif text.startswith("append close"):
                if opened != "append":
                    conn.send(P.NOT_OPENED)
                    job.fatal("Attempt to close non-open session.")
                    break
                conn.send(P.format_close(job.status))
                conn.send_signal(Signal.EOD)
                opened = None
            elif text.startswith("read open"):
                if opened:
                    conn.send(P.NO_OPEN)
                    job.fatal("Attempt to open read on already open session.")
                    break
                args = P.parse_read_open(text)
                if not job.bootstrap and args and args[0] != "DummyVolume":
                    job.bootstrap = [_bsr_from_read_open(args)]
                opened = "read"
                job.append = False
                conn.send(P.format_open_ticket(job.session_id))
            elif text.startswith("read data"):
                if opened != "read":
                    conn.send(P.NOT_OPENED)
                    job.fatal("Attempt to read on non-open session.")
                    break
                if not await ReadSession(job, conn, worker).run():
                    break
            elif text.startswith("read close"):
                if opened != "read":
                    conn.send(P.NOT_OPENED)
                    break
                conn.send(P.format_close(job.status))
                conn.send_signal(Signal.EOD)
                opened = None
            else:
                job.fatal(f"FD command not found: {text.strip()[:100]}")
                conn.send(P.FD_INVALID_COMMAND)
                break
    finally:
        if conn.is_open:
            conn.close(abort_after=FD_CLOSE_GRACE)


def _bsr_from_read_open(args):
    volume, sid, stime, start_file, end_file, start_block, end_block = args
    entry = P.BsrVolume(volume=volume, session_ids=[(sid, sid)], session_times=[stime])
    if end_file or end_block:
        entry.vol_addrs = [((start_file << 32) | start_block, (end_file << 32) | end_block)]
    return entry
