"""The file daemon: director command sessions (channel 3, tray monitor channel 10) and its jobs.

Each director session may carry one job (``JobId=...``); the FileDaemon keeps
the registry of running jobs (for ``cancel`` from another session and for
``status``) and a short list of terminated ones.
"""

import collections
import functools
import weakref

from twisted.logger import Logger

import bareos
from bareos.config.schemas import FILEDAEMON
from bareos.daemon.director_session import (
    FILE_DAEMON, DirectorServedDaemon, accept_director, serve_session)
from bareos.daemon.service import format_datetime, os_info
from bareos.filedaemon import datachannel, dircommands, jobs, passive
from bareos.filedaemon.director_link import DirectorLink, client_initiated_directors
from bareos.filedaemon.messages import TYPE_NUMBERS, FileDaemonMessages
from bareos.protocol.hello import HelloKind
from bareos.protocol.jobstatus import JobStatus

TERMINATED_KEPT = 10


class FileDaemon(DirectorServedDaemon):
    schema = FILEDAEMON
    log = Logger(namespace="bareos.filedaemon")
    dialect = FILE_DAEMON
    qualified_type = "R_CLIENT"
    sd_retry_interval = datachannel.SD_RETRY_INTERVAL

    def __init__(self, config, reactor=None):
        super().__init__(config, "client", reactor)
        self.running_jobs = {}                 # Job name -> Job
        self.terminated_jobs = collections.deque(maxlen=TERMINATED_KEPT)
        self._session_jobs = weakref.WeakKeyDictionary()   # DirectorSession -> Job
        self._conn_jobs = {}                   # director connection -> Job
        self.max_bandwidth_per_job = 0
        self.messages = FileDaemonMessages(self)
        self.job_threads = datachannel.JobThreads(self.max_concurrent_jobs())
        self.job_threads.setServiceParent(self)
        # Client-initiated connections (channel 4): one link per Director resource that allows it.
        self.director_links = []
        for director in client_initiated_directors(config):
            if not director.address:
                config.warnings.append(
                    f"Director {director.name}: Connection From Client To Director = yes needs "
                    f"its Address; this file daemon does not dial it")
                continue
            link = DirectorLink(self, director)
            link.setServiceParent(self.intake)
            self.director_links.append(link)

    def accepts_directors(self):
        """Listen only if some Director resource may connect to us (Connection From Director
        To Client, the default); a file daemon that only dials out opens no port at all."""
        return any(d.connection_from_director_to_client for d in self.config.resources("director"))

    # -- commands ----------------------------------------------------------------------
    def commands(self):
        return dircommands.command_table()

    # -- passive clients: the storage daemon dials us (channel 7) ------------------------
    def hello_handlers(self):
        handlers = super().hello_handlers()
        handlers[HelloKind.STORAGE_START_JOB] = \
            lambda conn, hello: passive.accept_storage_daemon(self, conn, hello)
        return handlers

    def psk_key(self, resource_type, name):
        if resource_type == "R_JOB":
            return passive.session_key(self, name)
        return super().psk_key(resource_type, name)

    async def serve_director(self, conn, hello):
        director = self.config.get("director", hello.name)
        if director is not None and not director.connection_from_director_to_client:
            # Bareos refuses it before any CRAM-MD5 and closes without a word or a signal
            self.log.warn("Connection from Director {name} at {peer} rejected: Connection From "
                          "Director To Client = no", name=hello.name, peer=conn.peer_text())
            conn.close(terminate=False)
            return
        try:
            await accept_director(self, conn, hello, self.dialect, self.commands())
        finally:
            self._session_over(conn)

    async def serve_director_link(self, conn, director, first_packet):
        """A client-initiated connection the director took: the same command loop."""
        self.connections.add(conn)
        conn.closed.addBoth(lambda _: self.connections.discard(conn))
        try:
            await serve_session(self, conn, director, self.dialect, self.commands(), first_packet)
        finally:
            self._session_over(conn)

    def _session_over(self, conn):
        job = self._conn_jobs.pop(conn, None)
        if job is not None and job.is_running:
            # The director ended the session without a job end (e.g. after an estimate).
            if job.status in (JobStatus.CREATED, JobStatus.RUNNING, JobStatus.BLOCKED):
                job.set_status(JobStatus.TERMINATED)
            datachannel.close_connection(getattr(job, "sd_conn", None))
            worker = getattr(job, "restore_worker", None)
            if worker is not None:  # a restore the director left unfinished
                worker.call(functools.partial(job.restorer.finish, complete=False),
                            after_failure=True).addErrback(
                    lambda f: self.log.failure("Restore clean-up failed", f))
                worker.close()
            self.job_ended(job)

    # -- job registry --------------------------------------------------------------------
    def job_for(self, session, create=True):
        job = self._session_jobs.get(session)
        if job is None and create:
            job = jobs.Job(started_at=self.reactor.seconds())
            if self.max_bandwidth_per_job:
                job.max_bandwidth = self.max_bandwidth_per_job
            self._session_jobs[session] = job
            self._conn_jobs[session.conn] = job
            job.director = session.name
            session.conn.closed.addCallback(self._director_lost, job)
        return job

    def _director_lost(self, reason, job):
        """Stop a running job whose director connection is gone (nobody to report to)."""
        if job.busy and job.is_running and job.job_id and not job.canceled:
            self.log.warn("{job}: director connection lost ({reason}); stopping the job",
                          job=job.job, reason=reason)
            job.set_status(JobStatus.FATAL)
            job.cancel()
        return reason

    def job_started(self, job):
        """A JobId arrived: the job is visible to ``status`` and ``cancel``."""
        if job.job_id and job.job not in self.running_jobs:
            self.running_jobs[job.job] = job
            self.jobs_run += 1
            job.started_at = self.reactor.seconds()
            self._send_kept_messages(job)

    def _send_kept_messages(self, job):
        """Daemon messages kept for this job's director (``Director = <name>`` destination,
        e.g. connection failures) travel now, as job messages; errors as warnings, so that
        an old outage does not mark this job as failed or with errors."""
        conn = next((c for c, j in self._conn_jobs.items() if j is job), None)
        if conn is None or not conn.is_open or not job.director:
            return
        for message in self.messages.take_for_director(job.director):
            kind = TYPE_NUMBERS["warning"] if message.type_name in ("error", "fatal") else \
                TYPE_NUMBERS.get(message.type_name, TYPE_NUMBERS["info"])
            conn.send(jobs.jmsg_line(job.job, kind, message.text, self.name, job.job_id,
                                     message.when))

    def job_ended(self, job):
        if job.ended_at is not None:
            return
        job.ended_at = self.reactor.seconds()
        if self.running_jobs.get(job.job) is job:
            del self.running_jobs[job.job]
            self.check_idle()
        if not job.job_id:
            return
        self.terminated_jobs.appendleft(job)
        self.log.info("{fd}: job {job} (JobId {job_id}) ended: {status} files={files} "
                      "bytes={bytes} errors={errors}", fd=self.name, job=job.job,
                      job_id=job.job_id, status=job.status, files=job.files,
                      bytes=job.job_bytes, errors=job.errors)

    # -- stopping ------------------------------------------------------------------------
    def has_running_jobs(self):
        return bool(self.running_jobs)

    def cancel_jobs(self, reason):
        """Each job tells its director why it ends, then stops as for a ``cancel``; its
        director gets its end (status canceled) on the job's connection."""
        for session, job in list(self._session_jobs.items()):
            if self.running_jobs.get(job.job) is job:
                dircommands.send_jmsg(session, job, jobs.M_WARNING,
                                      f"{reason}: the job is canceled.\n")
                job.cancel()

    def running_job(self, name):
        return self.running_jobs.get(name)

    def max_concurrent_jobs(self):
        return int(getattr(self.resource, "maximum_concurrent_jobs", None) or 1000)

    def sd_connect_timeout(self):
        try:
            return int(self.resource.sd_connect_timeout)
        except (AttributeError, TypeError, ValueError):
            return 1800

    # -- status -----------------------------------------------------------------------------
    def status_text(self):
        now = self.reactor.seconds()
        lines = [
            f"{self.name} Version: {bareos.VERSION} ({bareos.VERSION_DATE}) {os_info()}",
            f"Daemon started {format_datetime(self.started_at)}. Jobs: run={self.jobs_run}, "
            f"running={len(self.running_jobs)}, bareos-twisted binary",
            f" Sizeof: boffset_t=8 size_t=8 debug=0 trace=0 "
            f"bwlimit={jobs.with_commas(self.max_bandwidth_per_job // 1024)}kB/s",
        ]
        if self.director_links:
            lines += ["", "Client Initiated Connections (to directors):"]
            lines += [" " + link.status_line(format_datetime) for link in self.director_links]
        lines += [
            "",
            "Running Jobs:",
        ]
        lines += [session.describe() for session in self.director_sessions]
        for job in self.running_jobs.values():
            lines += job.status_lines(now, format_datetime)
        if not self.running_jobs:
            lines.append("No Jobs running.")
        lines += ["====", "", "Terminated Jobs:"]
        if self.terminated_jobs:
            lines += jobs.TERMINATED_HEADER
            lines += [jobs.terminated_line(job, format_datetime) for job in self.terminated_jobs]
        lines.append("====")
        return "\n".join(lines) + "\n"
