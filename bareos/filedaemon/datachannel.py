"""The FD <-> SD data channel (connection #6): dialing, the append (backup) and read
(restore) conversations with the storage daemon, and the streaming below them.

The director's commands that start them (``backup``, ``restore``, ``storage``) live in
``bareos.filedaemon.dircommands``; ``run_backup`` and ``run_restore_part`` here are the
storage daemon side of those commands (filed/dir_cmd.cc BackupCmd, filed/restore.cc).

Backup: one thread per job (from the daemon's ``JobThreads`` pool) walks the
FileSet, reads, hashes and compresses, and turns the records into ready-framed
packet bytes (``"<FileIndex> <Stream> 0"`` header, data packets, EOD per record
group).  It hands the reactor batches of about ``BATCH_BYTES`` with
``callFromThread``.  The streamer is registered as a streaming producer on the SD
transport: while the transport is paused the batches wait, and the thread blocks
as soon as ``MAX_PENDING_BATCHES`` batches wait, so memory stays flat whatever the
size of the backup.

Restore: the reactor collects ``rechdr`` + data packets from the SD into batches
(decoding attribute records on the way) and a worker (a ``JobThreads`` thread)
feeds them to the ``Restorer``.  A few batches may wait for the worker
(``RESTORE_BATCHES_AHEAD``: with only one, the worker often sat idle until the busy
reactor got round to handing it the next); then the reactor stops collecting, and
the SD connection's own receive queue (which pauses the transport when full)
pushes back on the SD.
"""

import collections
import queue
import struct
import threading
import time

from twisted.application import service
from twisted.internet import defer, tcp
from twisted.logger import Logger
from twisted.python import failure as tw_failure
from twisted.python.threadpool import ThreadPool
from zope.interface import implementer
from twisted.internet.interfaces import IPushProducer

import bareos
from bareos.filedaemon import jobs
from bareos.filedaemon.attributes import AttributeRecord
from bareos.filedaemon.jobs import (
    M_FATAL, M_INFO, parse_rechdr,
)
from bareos.filedaemon.messages import jmsg_from_thread, send_jmsg
from bareos.filedaemon.restore import RestoreError
from bareos.filedaemon.streams import STREAM_TYPE_MASK, STREAM_UNIX_ATTRIBUTES
from bareos.protocol import framing
from bareos.protocol.connection import ConnectionClosed
from bareos.protocol.framing import Signal
from bareos.protocol.handshake import dial_with_retries
from bareos.protocol.hello import Hello, HelloKind
from bareos.protocol.jobstatus import SUCCESSFUL, JobStatus

log = Logger(namespace="bareos.filedaemon")

BATCH_BYTES = 512 * 1024
MAX_PENDING_BATCHES = 4
RESTORE_BATCH_BYTES = 1024 * 1024
RESTORE_BATCH_RECORDS = 2000    # and at most this many records (a batch of empty files)
RESTORE_BATCHES_AHEAD = 4       # batches handed to the worker and not yet applied, at most
SD_RETRY_INTERVAL = 10          # seconds between connection attempts (Bareos: 10)
# The SD may wait for a volume: no timeout on its replies.  What ends such a wait is the SD
# closing the connection (it ended the job) or a cancel, which closes it from our side.
SD_REPLY_TIMEOUT = None

_HEADER = struct.Struct("!i")
_EOD = framing.encode_signal(Signal.EOD)
_IOV_MAX = 1024                 # pieces one sendmsg takes (Linux' UIO_MAXIOV)


class StorageConnectFailed(Exception):
    """The SD could not be reached or refused us."""


async def connect_storage(reactor, address, port, job_name, key, tls, own_name, timeout,
                          retry_interval=SD_RETRY_INTERVAL, is_canceled=lambda: False):
    """Dial the SD for ``job_name`` with ``tls`` (``network.tls.job_channel_settings``),
    retrying unreachable addresses until ``timeout``.

    Returns the authenticated BareosConnection; raises StorageConnectFailed
    with a reason an operator understands.
    """
    hello = Hello(HelloKind.START_JOB, job_name, version=bareos.VERSION)
    key = key.encode() if isinstance(key, str) else key
    return await dial_with_retries(reactor, address, port, hello, key, own_name,
                                   tls, timeout, retry_interval,
                                   "storage daemon", StorageConnectFailed, is_canceled)


def close_connection(conn, grace=2.0):
    """TERMINATE and close; abort if the peer does not take the rest within ``grace`` s."""
    if conn is not None:
        conn.close(abort_after=grace)


SOCKET_BUFFER_BYTES = 1024 * 1024


def widen_socket_buffer(conn, nbytes=SOCKET_BUFFER_BYTES):
    """Read (and buffer writes) in larger pieces on a bulk data connection.

    Twisted reads 64 KiB per wake-up; a data channel moves gigabytes, so fewer,
    larger reads save most of the per-read Python overhead.  The TCP transport
    may sit below a TLS layer.
    """
    transport = conn.transport
    for _ in range(3):
        if transport is None:
            return
        if hasattr(transport, "socket") and hasattr(transport, "bufferSize"):
            transport.bufferSize = nbytes
            return
        transport = getattr(transport, "transport", None)


def send_batch(transport, parts):
    """Hand one batch of packet pieces to ``transport``, in order.

    On a plain TCP transport with nothing buffered, the pieces go to the socket in one
    ``sendmsg`` (the kernel gathers them); only what the socket does not take now is
    left to the transport.  Its ``writeSequence`` would first join the whole batch
    into a new buffer: a copy of every byte, and a fresh allocation whose first touch
    is costly here (see bench/README, "What distorts the figures").  Under TLS, or
    behind data the transport still holds, the pieces go to ``writeSequence``.
    """
    if (not isinstance(transport, tcp.Connection) or transport.TLS or not transport.connected
            or transport.disconnecting or transport.dataBuffer or transport._tempDataBuffer):
        transport.writeSequence(parts)
        return
    try:
        sent = transport.socket.sendmsg(parts[:_IOV_MAX])
    except (BlockingIOError, InterruptedError):
        sent = 0
    except OSError:
        # the transport finds and reports the error on its own next write
        transport.writeSequence(parts)
        return
    for index, piece in enumerate(parts):
        if sent < len(piece):
            rest = parts[index:]
            if sent:
                rest[0] = bytes(memoryview(piece)[sent:])
            transport.writeSequence(rest)
            return
        sent -= len(piece)


def frame_records(records, job=None):
    """Yield ``(pieces, nbytes)`` per record: the packets that carry it.

    Record groups (same FileIndex and stream) share one header; a group ends
    with EOD.  After the last record one more EOD ends the session.  ``job``
    (optional) receives ``last_fname``/progress updates.
    """
    current = None
    pack = _HEADER.pack
    limit = framing.MAX_MESSAGE_LEN
    for record in records:
        key = (record.file_index, record.stream)
        pieces = []
        if key != current:
            if current is not None:
                pieces.append(_EOD)
            header = b"%d %d 0" % key
            pieces.append(pack(len(header)))
            pieces.append(header)
            current = key
        data = record.data
        if len(data) > limit:
            for start in range(0, len(data), limit):
                piece = data[start:start + limit]
                pieces.append(pack(len(piece)))
                pieces.append(piece)
        else:
            pieces.append(pack(len(data)))
            pieces.append(data)
        yield pieces
    tail = [_EOD] if current is not None else []
    tail.append(_EOD)
    yield tail


class JobThreads(service.Service):
    """The threads that move job data: a backup stream or a restore worker holds one
    for as long as it runs.  One Twisted ThreadPool, owned by the file daemon (a child
    service: started and stopped with it), sized so that no job waits for a thread.

    What runs here has ``run_in_thread()`` (the thread's work) and ``stop_thread()``
    (reactor side: make it return soon).  Stopping the service stops what still runs
    before it joins the threads: a backup thread may be waiting for the reactor.
    """

    def __init__(self, max_threads):
        self.pool = ThreadPool(minthreads=0, maxthreads=max_threads, name="bareos-fd-jobs")
        self._running = set()

    def startService(self):
        super().startService()
        self.pool.start()

    def stopService(self):
        super().stopService()
        for work in list(self._running):
            work.stop_thread()
        self.pool.stop()

    def run(self, work):
        self._running.add(work)

        def run_then_forget():
            try:
                work.run_in_thread()
            finally:
                self._running.discard(work)
        self.pool.callInThread(run_then_forget)


@implementer(IPushProducer)
class BackupStreamer:
    """Ships the packets a worker thread makes to the SD transport, with back-pressure.

    ``make_records()`` runs in a thread of ``threads`` (JobThreads) and returns the
    iterable of Records.
    ``start()`` returns a Deferred that fires (with None) when every packet,
    including the final EOD, has been handed to the transport, or fails with
    the thread's exception.  ``stop()`` ends the thread early (cancel, SD lost);
    the Deferred then fires with ``StreamStopped``.
    """

    def __init__(self, reactor, conn, make_records, threads, batch_bytes=BATCH_BYTES,
                 max_pending=MAX_PENDING_BATCHES, bandwidth=lambda: 0, on_progress=None):
        self.reactor = reactor
        self.threads = threads
        self.conn = conn
        self.make_records = make_records
        self.batch_bytes = batch_bytes
        self.max_pending = max_pending
        self.bandwidth = bandwidth
        self.on_progress = on_progress
        self.bytes_sent = 0
        self._pending = collections.deque()
        self._paused = False
        self._stopped = None            # reason, once stopped
        self._thread_done = False
        self._thread_failure = None
        self._cond = threading.Condition()
        self._in_flight = 0             # batches made by the thread, not yet written
        self._done = defer.Deferred()

    # -- reactor side -------------------------------------------------------------------
    def start(self):
        transport = self.conn.transport
        transport.registerProducer(self, True)
        self.threads.run(self)
        return self._done

    def stop_thread(self):
        self.stop("the file daemon is stopping")

    def stop(self, reason="stopped"):
        with self._cond:
            if self._stopped is None:
                self._stopped = reason
            self._cond.notify_all()
        self._pending.clear()
        self._finish()

    def pauseProducing(self):
        self._paused = True

    def resumeProducing(self):
        self._paused = False
        self._pump()

    def stopProducing(self):
        self.stop("the storage daemon connection was closed")

    def _deliver(self, parts, size):
        if self._stopped is not None:
            return
        self._pending.append((parts, size))
        self._pump()

    def _pump(self):
        transport = self.conn.transport
        while self._pending and not self._paused and self._stopped is None:
            parts, size = self._pending.popleft()
            if not self.conn.is_open:
                self.stop("the storage daemon connection was closed")
                return
            send_batch(transport, parts)
            self.bytes_sent += size
            if self.on_progress is not None:
                self.on_progress(self.bytes_sent)
            with self._cond:
                self._in_flight -= 1
                self._cond.notify_all()
        self._finish()

    def _thread_finished(self, failure=None):
        self._thread_done = True
        self._thread_failure = failure
        self._finish()

    def _finish(self):
        if self._done.called:
            return
        if self._stopped is not None and self._thread_done:
            pass
        elif self._stopped is not None:
            return  # wait until the thread has really ended (it may hold open files)
        elif not (self._thread_done and not self._pending):
            return
        try:
            self.conn.transport.unregisterProducer()
        except Exception:  # transport already gone
            pass
        if self._thread_failure is not None:
            self._done.errback(self._thread_failure)
        elif self._stopped is not None:
            self._done.errback(StreamStopped(self._stopped))
        else:
            self._done.callback(None)

    # -- thread side ---------------------------------------------------------------------
    def run_in_thread(self):
        failure = None
        records = None
        try:
            records = self.make_records()
            self._produce(records)
        except BaseException:
            failure = tw_failure.Failure()
        finally:
            close = getattr(records, "close", None)
            if close is not None:
                try:
                    close()
                except Exception:
                    pass
            self.reactor.callFromThread(self._thread_finished, failure)

    def _produce(self, records):
        parts = []
        size = 0
        started = time.monotonic()
        shipped = 0
        batch_bytes = self.batch_bytes
        for pieces in frame_records(records):
            if self._stopped is not None:
                return
            parts.extend(pieces)
            for piece in pieces:
                size += len(piece)
            if size >= batch_bytes:
                if not self._ship(parts, size):
                    return
                shipped += size
                parts, size = [], 0
                self._throttle(started, shipped)
        if parts and self._stopped is None:
            self._ship(parts, size)

    def _ship(self, parts, size):
        """Wait for room, then hand one batch to the reactor.  False when stopped."""
        with self._cond:
            while self._in_flight >= self.max_pending and self._stopped is None:
                self._cond.wait(1.0)
            if self._stopped is not None:
                return False
            self._in_flight += 1
        self.reactor.callFromThread(self._deliver, parts, size)
        return True

    def _throttle(self, started, shipped):
        limit = self.bandwidth()
        if not limit:
            return
        ahead = shipped / limit - (time.monotonic() - started)
        while ahead > 0 and self._stopped is None:
            with self._cond:
                self._cond.wait(min(ahead, 0.5))
            ahead = shipped / limit - (time.monotonic() - started)


class StreamStopped(Exception):
    """The backup stream ended early (cancel, or the SD went away)."""


class RestoreWorker:
    """One thread (of ``threads``, JobThreads) that applies record batches to a Restorer,
    in order.

    ``submit(batch)`` (reactor) returns a Deferred fired when that batch has been
    applied; ``call(fn)`` runs ``fn()`` in the same thread (``finish()``).  A
    failure (e.g. RestoreDiskFull) fails that batch's Deferred and every later one,
    except calls made with ``after_failure=True`` (the clean-up at the end).
    """

    def __init__(self, reactor, restorer, threads, is_canceled=lambda: False):
        self.reactor = reactor
        self.restorer = restorer
        self.is_canceled = is_canceled
        self._queue = queue.Queue()
        self._failure = None
        threads.run(self)

    def submit(self, batch):
        restorer = self.restorer
        canceled = self.is_canceled

        def apply():
            record = restorer.record
            for file_index, stream, data in batch:
                if canceled():
                    return
                record(file_index, stream, data)
        return self.call(apply)

    def call(self, fn, after_failure=False):
        d = defer.Deferred()
        self._queue.put((fn, d, after_failure))
        return d

    def close(self):
        self._queue.put(None)

    stop_thread = close     # the batches already submitted are still applied

    def run_in_thread(self):
        while True:
            item = self._queue.get()
            if item is None:
                return
            fn, d, after_failure = item
            if self._failure is not None and not after_failure:
                self.reactor.callFromThread(d.errback, self._failure)
                continue
            try:
                result = fn()
            except BaseException:
                self._failure = tw_failure.Failure()
                self.reactor.callFromThread(d.errback, self._failure)
            else:
                self.reactor.callFromThread(d.callback, result)


class RestoreStreamError(Exception):
    """The SD sent something that is not a record stream."""


async def receive_records(conn, worker, job, batch_bytes=RESTORE_BATCH_BYTES):
    """Read ``rechdr`` + data packets until EOD and apply them through ``worker``.

    Returns ``(records, data_bytes)`` received.  Raises RestoreStreamError,
    ConnectionClosed, or what the Restorer raised.  Packets are taken from the
    connection a queue-full at a time (``receive_many``).  Attribute records are
    decoded here, so the worker thread, which the file system keeps busy, only
    writes.
    """
    batch, size = [], 0
    in_flight = collections.deque()  # batches submitted and not yet applied
    count = 0
    total = 0
    receive_many = conn.receive_many
    limit = framing.MAX_MESSAGE_LEN
    file_index = stream = length = 0
    have_header = False
    pieces = None               # a record longer than one packet, being collected
    got = 0
    finished = False
    try:
        while not finished:
            if job.canceled:
                break
            packets = await receive_many(SD_REPLY_TIMEOUT)
            for position, packet in enumerate(packets):
                if packet.__class__ is not bytes:
                    if have_header:
                        raise RestoreStreamError(
                            "record data cut short" if pieces is not None else
                            f"record header without data ({framing.signal_name(packet)})")
                    if packet != Signal.EOD:
                        raise RestoreStreamError(
                            f"unexpected {framing.signal_name(packet)} in the record stream")
                    finished = True
                    conn.unreceive(packets[position + 1:])
                    break
                if not have_header:
                    _, _, file_index, stream, length = _parse_rechdr(packet)
                    have_header = True
                    continue
                if pieces is not None:
                    pieces.append(packet)
                    got += len(packet)
                    if got < length:
                        continue
                    data, pieces = b"".join(pieces), None
                elif length > limit and len(packet) == limit:  # a record longer than one packet
                    pieces, got = [packet], len(packet)
                    continue
                else:
                    data = packet
                have_header = False
                if file_index < 0:
                    continue  # labels are not for us
                if stream & STREAM_TYPE_MASK == STREAM_UNIX_ATTRIBUTES:
                    data = _decode_attributes(data)
                else:
                    size += len(data)
                    total += len(data)
                batch.append((file_index, stream, data))
                count += 1
                if size >= batch_bytes or len(batch) >= RESTORE_BATCH_RECORDS:
                    if len(in_flight) >= RESTORE_BATCHES_AHEAD:
                        await in_flight.popleft()
                    in_flight.append(worker.submit(batch))
                    batch, size = [], 0
        while in_flight:
            await in_flight.popleft()
    except BaseException:
        for pending in in_flight:  # their failures follow from the one raised
            pending.addErrback(lambda _: None)
        raise
    if batch and not job.canceled:
        await worker.submit(batch)
    return count, total


def _decode_attributes(data):
    try:
        return AttributeRecord.decode(data)
    except (ValueError, IndexError) as exc:
        raise RestoreStreamError(f"bad attributes record from the storage daemon: {exc}: "
                                 f"{bytes(data[:120])!r}") from None


def _parse_rechdr(packet):
    header = parse_rechdr(packet)
    if header is None:
        raise RestoreStreamError(f"bad record header from the storage daemon: {packet[:80]!r}")
    return header


# -- the conversations with the storage daemon: append (backup), read (restore) ----------
async def _sd_reply(job, sd, what):
    try:
        return await sd.receive(SD_REPLY_TIMEOUT)
    except ConnectionClosed as exc:
        raise SdProtocolError(f"Comm error with SD. bad response to {what}. ERR={exc}") from None


class SdProtocolError(Exception):
    pass


async def _expect(job, sd, expected, what):
    reply = await _sd_reply(job, sd, what)
    if not jobs.same_line(reply, expected):
        raise SdProtocolError(f"Bad response to {what} command. Wanted {expected.decode().strip()}, "
                              f"got {_show(reply)}")


def _show(reply):
    if isinstance(reply, bytes):
        return reply.decode("utf-8", "replace").strip()
    return Signal(reply).name if reply in Signal._value2member_map_ else str(reply)


async def _start_session(job, sd, open_command, open_what, data_command, data_what):
    """Open an append or read session with the SD and start its data; the session's ticket."""
    sd.send(open_command)
    reply = await _sd_reply(job, sd, open_what)
    ticket = jobs.parse_ticket(reply)
    if ticket is None:
        raise SdProtocolError(f"Bad response to {open_what}: {_show(reply)}")
    sd.send(data_command(ticket))
    await _expect(job, sd, jobs.OK_DATA, data_what)
    job.set_status(JobStatus.RUNNING)
    return ticket


async def run_backup(session, job, sd, first_index):
    """The append session: open, data stream, end, close (filed/dir_cmd.cc BackupCmd)."""
    daemon = session.daemon
    reactor = daemon.reactor
    streamer = None
    # Every wait on the SD below ends when the SD closes the connection; a cancel (also the
    # director's, when the SD failed the job and we did not report) closes it from here.
    close_sd = lambda: close_connection(sd, grace=0.5)  # noqa: E731
    job.on_cancel(close_sd)
    try:
        ticket = await _start_session(job, sd, jobs.APPEND_OPEN, "append open",
                                      jobs.append_data, "Append Data")

        stats = _JobStats(job)
        spec = job.fileset
        since = job.since

        def on_error(path, message):
            jmsg_from_thread(session, job, jobs.classify_file_problem(message), message + "\n",
                             count=False)

        def on_info(path, message):
            jmsg_from_thread(session, job, jobs.M_SKIPPED if "skipped" in message else M_INFO,
                             message + "\n")

        listed = getattr(job, "accurate_list", None)
        mtime_only = job.mtime_only

        def make_records():
            if listed is not None:
                from bareos.filedaemon.accurate import accurate_records
                return accurate_records(spec, listed, on_error, on_info, stats, first_index,
                                        mtime_only)
            from bareos.filedaemon.walk import backup_records
            return backup_records(spec, since, on_error, on_info, stats=stats,
                                  first_index=first_index)

        streamer = BackupStreamer(reactor, sd, make_records, daemon.job_threads,
                                  bandwidth=lambda: job.max_bandwidth,
                                  on_progress=lambda n: setattr(job, "stream_bytes", n))
        cancel_hook = lambda: streamer.stop("job canceled")  # noqa: E731
        job.on_cancel(cancel_hook)
        lost = lambda reason: streamer.stop("the storage daemon connection was closed")  # noqa
        sd.closed.addCallback(lambda reason: (lost(reason), reason)[1])
        try:
            await streamer.start()      # ends when the SD connection closes, or on a cancel
        finally:
            job.remove_cancel_hook(cancel_hook)
        if job.canceled:
            return
        await _expect(job, sd, jobs.OK_APPEND, "Append Data")
        sd.send(jobs.append_end(ticket))
        await _expect(job, sd, jobs.OK_END, "Append End")
        sd.send(jobs.append_close(ticket))
        sd_status = None
        while True:
            reply = await _sd_reply(job, sd, "Append Close")
            if not isinstance(reply, bytes):
                break
            status = jobs.parse_close_status(reply)
            if status is not None:
                sd_status = status
        if sd_status is None:
            send_jmsg(session, job, M_FATAL, "Append Close with SD failed.\n")
            return
        if sd_status not in (ord(status) for status in SUCCESSFUL):
            send_jmsg(session, job, M_FATAL, f"Bad status {sd_status} returned from Storage Daemon.\n")
            return
        job.set_status(JobStatus.TERMINATED)
    except StreamStopped as exc:
        if not job.canceled:
            send_jmsg(session, job, M_FATAL, f"Backup stream to the storage daemon ended: {exc}\n")
    except SdProtocolError as exc:
        if not job.canceled:
            send_jmsg(session, job, M_FATAL, f"{exc}\n")
    finally:
        job.remove_cancel_hook(close_sd)
        close_connection(sd)
        job.sd_connected = False


class _JobStats:
    """BackupStats that writes straight into the Job (live values for ``status``)."""

    def __init__(self, job):
        self.__dict__["_job"] = job
        self.__dict__["skipped"] = {}

    _MAP = {"files": "files", "read_bytes": "read_bytes", "job_bytes": "job_bytes",
            "errors": "errors", "last_fname": "last_fname"}

    def __getattr__(self, name):
        return getattr(self.__dict__["_job"], self._MAP.get(name, name))

    def __setattr__(self, name, value):
        setattr(self.__dict__["_job"], self._MAP.get(name, name), value)


async def run_restore_part(session, job, sd):
    """One read session with the SD (OpenSdReadSession + DoRestore + read close)."""
    cancel_hook = lambda: close_connection(sd, grace=0.5)  # noqa: E731
    job.on_cancel(cancel_hook)
    try:
        ticket = await _start_session(job, sd, jobs.read_open(job.sd_id, job.sd_time),
                                      "SD read open", jobs.read_data, "Read Data")
        count, nbytes = await receive_records(sd, job.restore_worker, job)
        job.read_bytes += nbytes
        stats = job.restorer.stats
        job.files, job.job_bytes = stats.files, stats.bytes
        if job.canceled:
            return
        sd.send(jobs.read_close(ticket))
        await _sd_reply(job, sd, "read close")  # 3000 OK close Status = n
    except (SdProtocolError, RestoreStreamError) as exc:
        if not job.canceled:
            send_jmsg(session, job, M_FATAL, f"{exc}\n")
    except ConnectionClosed as exc:
        if not job.canceled:
            send_jmsg(session, job, M_FATAL, f"Connection to the storage daemon lost: {exc}\n")
    except RestoreError:  # the Restorer stopped (disk full): it sent its own message
        job.set_status(JobStatus.FATAL)
    finally:
        job.remove_cancel_hook(cancel_hook)
        close_connection(sd)
        job.sd_connected = False
        stats = job.restorer.stats
        job.files, job.job_bytes = stats.files, stats.bytes
