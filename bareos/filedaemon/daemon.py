"""The file daemon: director command sessions (channel 3, tray monitor channel 10) and its jobs.

Each director session may carry one job (``JobId=...``); the FileDaemon keeps
the registry of running jobs (for ``cancel`` from another session and for
``status``) and a short list of terminated ones.
"""

import collections
import weakref

from twisted.logger import Logger

import bareos
from bareos.daemon.director_session import FILE_DAEMON, DirectorServedDaemon, accept_director
from bareos.daemon.service import format_datetime, os_info
from bareos.filedaemon import datachannel, dircommands, jobs, passive
from bareos.protocol.hello import HelloKind

TERMINATED_KEPT = 10


class FileDaemon(DirectorServedDaemon):
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
        try:
            await accept_director(self, conn, hello, self.dialect, self.commands())
        finally:
            job = self._conn_jobs.pop(conn, None)
            if job is not None and job.is_running:
                # The director ended the session without a job end (e.g. after an estimate).
                if job.status in (jobs.JS_CREATED, jobs.JS_RUNNING, jobs.JS_BLOCKED):
                    job.set_status(jobs.JS_TERMINATED)
                datachannel.close_connection(self.reactor, getattr(job, "sd_conn", None))
                worker = getattr(job, "restore_worker", None)
                if worker is not None:
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
            job.set_status(jobs.JS_FATAL)
            job.cancel()
        return reason

    def job_started(self, job):
        """A JobId arrived: the job is visible to ``status`` and ``cancel``."""
        if job.job_id and job.job not in self.running_jobs:
            self.running_jobs[job.job] = job
            self.jobs_run += 1
            job.started_at = self.reactor.seconds()

    def job_ended(self, job):
        if job.ended_at is not None:
            return
        job.ended_at = self.reactor.seconds()
        if self.running_jobs.get(job.job) is job:
            del self.running_jobs[job.job]
        if not job.job_id:
            return
        self.terminated_jobs.appendleft(job)
        self.log.info("{fd}: job {job} (JobId {job_id}) ended: {status} files={files} "
                      "bytes={bytes} errors={errors}", fd=self.name, job=job.job,
                      job_id=job.job_id, status=job.status, files=job.files,
                      bytes=job.job_bytes, errors=job.errors)

    def running_job(self, name):
        return self.running_jobs.get(name)

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
