"""A storage daemon job: its identity, state and counters, and its link to the director.

The director connection that sent ``JobId=`` carries, after ``run``, the
job's status changes, job messages and catalog requests (PROTOCOL.md §7.1
item 5).  Catalog requests are request/response on that connection, so
``DirectorLink`` sends one at a time; messages without an answer (Jmsg,
Status, UpdCat) may go out in between.
"""

import time

from twisted.internet import defer
from twisted.logger import Logger

from bareos.protocol.connection import ConnectionClosed, ReceiveTimeout
from bareos.protocol.framing import Signal
from bareos.protocol.hello import HelloKind
from bareos.protocol.jobstatus import STOPPING, JobStatus, prevailing
from bareos.storagedaemon import protocol as P

log = Logger(namespace="bareos.storagedaemon")

CATALOG_TIMEOUT = 3600


class JobFailed(Exception):
    """Ends the job's data work; ``status`` is the final JobStatus; already reported."""

    def __init__(self, message, status=JobStatus.FATAL):
        super().__init__(message)
        self.status = status


class DirectorGone(Exception):
    pass


class DirectorLink:
    """Messages and catalog requests of one job on its director connection."""

    def __init__(self, conn, job):
        self.conn = conn
        self.job = job
        self.active = False          # messages are queued until the director sent ``run``
        self._queued = []
        self._lock = defer.DeferredLock()

    def activate(self):
        self.active = True
        queued, self._queued = self._queued, []
        for payload in queued:
            self.conn.send(payload)

    def send(self, payload):
        if self.active:
            self.conn.send(payload)
        else:
            self._queued.append(payload)

    def send_signal_eod(self):
        if self.active:
            self.conn.send_signal(Signal.EOD)

    async def request(self, line):
        """Send a catalog request and return the director's one-line answer (str)."""
        await self._lock.acquire()
        try:
            if not self.conn.is_open:
                raise DirectorGone("the director connection is closed")
            self.conn.send(line)
            while True:
                try:
                    packet = await self.conn.receive(CATALOG_TIMEOUT)
                except (ConnectionClosed, ReceiveTimeout) as exc:
                    raise DirectorGone(f"no answer from the director to a catalog request: {exc}") \
                        from None
                if packet == Signal.TERMINATE:
                    raise DirectorGone("the director ended the connection")
                if isinstance(packet, bytes):
                    return packet.decode("utf-8", "replace").rstrip("\x00")
        finally:
            self._lock.release()


class StorageJob:
    """One job the director announced with ``JobId=``."""

    def __init__(self, daemon, command, session_id, session_time, session_key, conn):
        self.daemon = daemon
        self.command = command
        self.job_id = command.job_id
        self.job = command.job                 # unique job name
        self.session_id = session_id
        self.session_time = session_time
        self.session_key = session_key         # wiped once the FD authenticated
        self.link = DirectorLink(conn, self)
        self.status = JobStatus.CREATED
        self.created_at = time.time()
        self.started_at = None
        self.use = []                          # UseStorage entries
        self.device = None                     # the reserved Device resource
        self.bootstrap = []                    # BsrVolume entries (restore)
        self.files = 0
        self.bytes = 0
        self.errors = 0
        self.volume_name = None                # the volume being written/read (status)
        self.append = None                     # True: backup, False: restore, None: unknown
        # The data channel's peer: a file daemon (``Hello Start Job``), or after ``listen`` the
        # storage daemon that reads the records of a copy (``Hello Start Storage Job``).
        self.peer_hello = HelloKind.START_JOB
        self.serve_peer = None                 # after ``replicate``: what ``run`` does instead
        self.fd_conn = None
        self.fd_authenticated = False
        self._fd_event = defer.Deferred()
        self.canceled = False
        self.running = False                   # ``run`` received
        self.finished = False

    # -- state -------------------------------------------------------------------
    @property
    def job_type(self):
        return chr(self.command.job_type) if 0 < self.command.job_type < 256 else "?"

    @property
    def level(self):
        return chr(self.command.job_level) if 0 < self.command.job_level < 256 else " "

    def set_status(self, status, announce=False):
        """Change the status unless the one it has prevails (a failure or a cancel stays)."""
        previous, self.status = self.status, prevailing(self.status, status)
        if self.status != previous and announce:
            self.link.send(P.format_status(self.job, self.status))

    @property
    def failed(self):
        return self.status in STOPPING

    # -- messages ----------------------------------------------------------------
    def message(self, mtype, text):
        body = P.message_prefix(self.daemon.name, self.job_id, mtype) + text
        log_fn = log.error if mtype in (P.M_FATAL, P.M_ERROR) else log.info
        log_fn("{job}: {text}", job=self.job, text=text.rstrip("\n"))
        self.link.send(P.format_jmsg(self.job, mtype, time.time(), body))

    def info(self, text):
        self.message(P.M_INFO, text)

    def warning(self, text):
        self.message(P.M_WARNING, text)

    def error(self, text):
        self.errors += 1
        self.message(P.M_ERROR, text)

    def fatal(self, text, status=JobStatus.FATAL):
        if self.errors == 0:
            self.errors = 1
        self.message(P.M_FATAL, text)
        self.set_status(status)

    # -- the file daemon ---------------------------------------------------------
    @property
    def waiting_for_fd(self):
        return not self.fd_authenticated and not self.finished and not self.canceled

    def fd_connected(self, conn):
        self.fd_authenticated = True
        self.session_key = None
        self.fd_conn = conn
        if not self._fd_event.called:
            self._fd_event.callback(conn)

    def fd_failed(self, reason):
        """A file daemon could not authenticate for this job: the job fails (as Bareos does)."""
        self.fd_authenticated = True     # no second try with the same key
        self.session_key = None
        self.fatal(f"Unable to authenticate File daemon: {reason}", JobStatus.ERROR_TERMINATED)
        if not self._fd_event.called:
            self._fd_event.callback(None)

    async def wait_for_fd(self, timeout, clock):
        """The FD's connection, or None (timeout, cancel, authentication failure)."""
        if self._fd_event.called:
            return self.fd_conn
        call = clock.callLater(timeout, lambda: self._fd_event.called or self._fd_event.callback(None))
        try:
            return await self._fd_event
        finally:
            if call.active():
                call.cancel()

    def cancel(self):
        self.canceled = True
        self.set_status(JobStatus.CANCELED)
        self.daemon.devices.wake()             # if it waits for a busy device, it stops
        if not self._fd_event.called:
            self._fd_event.callback(None)
        if self.fd_conn is not None and self.fd_conn.is_open:
            self.fd_conn.abort("job canceled")
