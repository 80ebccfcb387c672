"""Job ids, concurrency limits, and the lists ``status`` shows.

A job waits until the Director, its Job, its Client and its Storage all have a
free slot (``Maximum Concurrent Jobs`` of each), then runs; higher priority
(lower number) first.  Whatever happens, a started job ends with a final
status in the catalog, an end-of-job report and a place in the terminated list.
"""

import bisect
import collections
import hashlib

from twisted.internet import defer
from twisted.logger import Logger

from bareos.catalog.api import CatalogError, CatalogIntegrityError, JobRecord
from bareos.director.jobs.backup import run_backup
from bareos.director.jobs.copy import run_copy
from bareos.director.jobs.job import (
    NAMES_PER_SECOND, VERIFY_LEVEL_CODES, Job, JobCanceled, JobFailed, end_of_job_report,
    unique_job_name)
from bareos.director.jobs.restore import run_restore
from bareos.director.jobs.verify import run_verify
from bareos.filedaemon.fileset import fileset_to_lines
from bareos.director.console.show import configuration_text
from bareos.director.jobs.common import epoch, local_time, tell_daemon_to_cancel
from bareos.director import retention
from bareos.director.links import DaemonUnreachable, ProtocolViolation
from bareos.protocol.connection import ConnectionClosed, ReceiveTimeout
from bareos.protocol.jobstatus import SUCCESSFUL, JobStatus

log = Logger(namespace="bareos.director.jobs")

RUNNERS = {"B": run_backup, "R": run_restore, "c": run_copy, "g": run_copy, "V": run_verify}
#: Job resource Type -> the Type its runs have in the catalog (Copy/Migrate: control jobs).
JOB_TYPES = {"backup": "B", "restore": "R", "copy": "c", "migrate": "g", "verify": "V"}
KEEP_TERMINATED = 100


class JobManager:
    def __init__(self, director):
        self.director = director
        self.waiting = []                                   # by (priority, JobId)
        self.running = {}                                   # JobId -> Job
        # Slots taken, so that a limit is checked without walking the running jobs: running
        # jobs per Job, Client and Storage resource (by identity: after a reload the jobs
        # still running count against the resources they started with), and jobs waiting
        # or running per Job resource.
        self._running_per_resource = collections.Counter()
        self._active_per_job = collections.Counter()
        self.terminated = collections.deque(maxlen=KEEP_TERMINATED)
        self.jobs_run = 0
        self._sequence = 0
        self._incoming_started = {}                         # (job, client) -> time started
        self._incoming_checks = set()                       # (job, client) being checked
        # Client name -> its Jobs with a Run On Incoming Connect Interval: a connecting client
        # looks up its own jobs instead of scanning every Job (10,000 clients with a Job each).
        self._incoming_jobs = {}
        for resource in director.config.resources("job"):
            if resource.run_on_incoming_connect_interval:
                self._incoming_jobs.setdefault(resource.client, []).append(resource)

    # -- creating and starting -------------------------------------------------

    async def submit(self, job):
        """Give the job its JobId and unique name, record it, and start it when it may run."""
        catalog = self.director.catalog
        client_id = await catalog.ensure_client(job.client.name) if job.client else None
        fileset_id = None
        if job.fileset is not None and job.type in ("B", "V"):
            # As Bareos, the catalog keeps the FileSet resource as configuration text; its MD5
            # tells one version of the FileSet from the next.
            text = configuration_text(self.director.config.schema, job.fileset)
            digest = hashlib.md5(text.encode("utf-8")).hexdigest()
            job.options.update(fileset_lines=fileset_to_lines(job.fileset), fileset_md5=digest)
            fileset_id = await catalog.ensure_fileset(job.fileset.name, text, digest)
        await self.record(job, client_id=client_id, fileset_id=fileset_id)
        self._active_per_job[id(job.resource)] += 1
        # Every job already waiting is held back by a limit that has not changed since the
        # last dispatch: only the new one may start now (no pass over thousands that wait).
        limit = self._limit_reached(job)
        if self.director.running and limit is None:
            self._take_slots(job)
            self._launch(job)
        else:
            bisect.insort(self.waiting, job, key=_queue_order)
            if limit is not None:
                job.queue(limit)
        return job

    async def record(self, job, name=None, client_id=None, fileset_id=None, prior_job_id=None):
        """Give ``job`` its unique name (from ``name``, else its resource's) and JobId: its
        catalog record.  (A copy's new job is recorded so, without being queued.)"""
        catalog = self.director.catalog
        name = name or job.name
        pool_id = self.director.pool_ids.get(job.pool.name) if job.pool else None
        # A director started again within the second may meet the names its predecessor
        # gave (the sequence starts anew): the next sequence number then, as often as a
        # second has names.
        for attempt in range(NAMES_PER_SECOND):
            self._sequence += 1
            job.job = unique_job_name(name, self._sequence, job.sched_time)
            try:
                job.jobid = await catalog.create_job(JobRecord(
                    job=job.job, name=name, type=job.type, level=job.level,
                    client_id=client_id, pool_id=pool_id, fileset_id=fileset_id,
                    job_status=job.status, sched_time=local_time(job.sched_time),
                    job_tdate=int(job.sched_time), prior_job_id=prior_job_id))
                return
            except CatalogIntegrityError:
                if attempt == NAMES_PER_SECOND - 1:
                    raise

    def _dispatch(self):
        """Start the waiting jobs the limits now let run, in order of priority and JobId; each
        of the others shows the limit that holds it back.  One pass; limits checked by count."""
        if not self.director.running:            # stopping: waiting jobs are canceled instead
            return
        held, starting = [], []
        for job in self.waiting:
            limit = self._limit_reached(job)
            if limit is None:
                self._take_slots(job)
                starting.append(job)
            else:
                if job.status is not limit:
                    job.queue(limit)
                held.append(job)
        self.waiting = held
        for job in starting:
            self._launch(job)

    def _take_slots(self, job):
        self.running[job.jobid] = job
        self._count_running(job, 1)

    def _launch(self, job):
        job.run()
        self.director.spawn(self._run(job), f"JobId {job.jobid}")

    def _count_running(self, job, change):
        for resource in (job.resource, job.client, job.storage):
            if resource is not None:
                self._running_per_resource[id(resource)] += change

    def _limit_reached(self, job):
        """The wait status of the first Maximum Concurrent Jobs limit that holds ``job``
        back (the Director's, the Job's, the Client's, the Storage's), or None."""
        limit = self.director.resource.maximum_concurrent_jobs
        if limit and len(self.running) >= limit:
            return JobStatus.WAIT_MAX_JOBS
        for resource, status in ((job.resource, JobStatus.WAIT_JOB_RES),
                                 (job.client, JobStatus.WAIT_CLIENT_RES),
                                 (job.storage, JobStatus.WAIT_STORE_RES)):
            limit = getattr(resource, "maximum_concurrent_jobs", 0)
            if limit and self._running_per_resource[id(resource)] >= limit:
                return status
        return None

    async def _run(self, job):
        director = self.director
        try:
            await director.catalog.update_job(job.jobid, job_status=job.status,
                                              start_time=local_time(job.start_time))
            job.check_canceled()
            outcome = await RUNNERS[job.type](director, job)
        except JobCanceled:
            outcome = JobStatus.CANCELED
        except (JobFailed, DaemonUnreachable, ProtocolViolation, ReceiveTimeout) as exc:
            director.messages.job_message(job, "fatal", f"Fatal error: {exc}")
            outcome = JobStatus.FATAL
        except CatalogError as exc:
            director.messages.job_message(job, "fatal",
                                          f"Fatal error: {director.catalog_problem(exc)}")
            outcome = JobStatus.FATAL
        except ConnectionClosed as exc:
            if not job.cancel_requested:      # else closing its links did it
                director.messages.job_message(job, "fatal", f"Fatal error: connection lost: {exc}")
            outcome = JobStatus.FATAL
        except Exception as exc:
            log.failure("JobId {jobid} failed unexpectedly", jobid=job.jobid)
            director.messages.job_message(job, "fatal", f"Fatal error: internal error: {exc}")
            outcome = JobStatus.FATAL
        await self._finish(job, outcome)

    async def _finish(self, job, outcome):
        director = self.director
        if job.is_final:                       # recorded already, when the director stopped
            return
        job.end(outcome)
        for link in job.links:
            link.close()
        # The report goes out before the final status is written, so that a reader who sees
        # the job ended in the catalog finds its report in the Log (the SQLite catalog runs
        # its operations in order; PostgreSQL's pool may not).
        director.messages.job_message(job, "terminate" if job.status in SUCCESSFUL else "error",
                                      end_of_job_report(job, director.name))
        try:
            await director.catalog.update_job(
                job.jobid, job_status=job.status, end_time=local_time(job.end_time),
                real_end_time=local_time(job.end_time), job_files=job.fd_files,
                job_bytes=job.fd_bytes,
                read_bytes=job.read_bytes, job_errors=job.fd_errors + job.sd_errors,
                vol_session_id=job.vol_session_id, vol_session_time=job.vol_session_time,
                level=job.level, job_tdate=int(job.end_time))
        except CatalogError as exc:
            director.messages.job_message(
                job, "error", f"Recording the end of the job failed: {director.catalog_problem(exc)}")
        except Exception:
            log.failure("Recording the end of JobId {jobid} in the catalog failed", jobid=job.jobid)
        await self._autoprune(job)         # still counted as running: it prunes nothing of itself
        if self.running.pop(job.jobid, None) is not None:
            self._count_running(job, -1)
        self._active_per_job[id(job.resource)] -= 1
        self.terminated.append(job)
        self.jobs_run += 1
        job.announce_end()
        self._dispatch()
        director.check_idle()

    async def _autoprune(self, job):
        """Bareos prunes after each job that ended well (Client ``Auto Prune``); a failure
        to prune is the job's warning, never its failure."""
        try:
            await retention.autoprune(self.director, job)
        except CatalogError as exc:
            self.director.messages.job_message(
                job, "warning", f"Auto prune failed: {self.director.catalog_problem(exc)}")
        except Exception:
            log.failure("Auto prune after JobId {jobid} failed", jobid=job.jobid)

    # -- looking up, cancelling -------------------------------------------------

    def find(self, jobid=None, job=None):
        for candidate in list(self.running.values()) + self.waiting + list(self.terminated):
            if (jobid is not None and candidate.jobid == jobid) or \
                    (job is not None and job in (candidate.job, candidate.name)):
                return candidate
        return None

    async def cancel(self, job):
        """Stop a waiting or running job; the daemons it reached are told on separate connections.

        An ended job (it may still be writing its end to the catalog) is left alone.
        """
        if job.is_final:
            return
        job.cancel()
        if job in self.waiting:
            self.waiting.remove(job)
            await self._finish(job, JobStatus.CANCELED)
            return
        await self.tell_daemons_to_cancel(job)
        for link in job.links:
            link.close()

    def cancel_all(self, reason):
        """The director stops: cancel every job, saying why (``reason``) in its log."""
        for job in self.waiting + list(self.running.values()):
            self.director.messages.job_message(job, "warning", f"{reason}: the job is canceled.")
            self.director.spawn(self.cancel(job), f"Canceling JobId {job.jobid}")

    async def record_unfinished(self):
        """The director stops and canceled jobs did not end in time: record them as
        canceled now, while the catalog is open."""
        for job in list(self.running.values()):
            job.cancel_requested = True
            self.director.messages.job_message(
                job, "warning", "The job did not end in time after its cancel; it is "
                                "recorded as canceled.")
            await self._finish(job, JobStatus.CANCELED)

    async def tell_daemons_to_cancel(self, job, kinds=("client", "storage")):
        """``cancel Job=`` to the daemons of ``kinds`` the job reached, each on a new connection."""
        reached = {link.kind for link in job.links}
        for kind, resource in (("client", job.client), ("storage", job.storage)):
            if resource is None or kind not in reached or kind not in kinds:
                continue
            try:
                reply = await tell_daemon_to_cancel(self.director, kind, resource, job.job)
            except DaemonUnreachable as exc:
                self.director.messages.job_message(job, "warning", f"Cancel: {exc}")
                continue
            if reply is not None:
                self.director.messages.job_message(job, "info", reply)

    async def run_on_incoming_connect(self, client):
        """Start the jobs of ``client`` whose ``Run On Incoming Connect Interval`` has passed.

        A client-initiated file daemon connects again each time a job took its waiting
        connection; so a job started this way is not started again for an incoming
        connection within its interval, whatever its outcome (a failing job would otherwise
        restart on every reconnection), and one check runs at a time per job and client.
        """
        director = self.director
        for resource in self._incoming_jobs.get(client.name, ()):
            interval = resource.run_on_incoming_connect_interval
            if resource.enabled is False:
                continue
            if self._active_per_job[id(resource)]:      # waiting or running already
                continue
            key = (resource.name, client.name)
            started = self._incoming_started.get(key)
            if key in self._incoming_checks or \
                    (started is not None and director.reactor.seconds() - started < interval):
                continue
            self._incoming_checks.add(key)
            try:
                catalog = await director.catalog_ready()
                last = await catalog.last_successful_job(
                    resource.name, client.name, resource.fileset,
                    levels=("F", "I", "D")) if resource.fileset else None
                ended = epoch(last.end_time) if last is not None else None
                if ended is not None and director.reactor.seconds() - ended < interval:
                    continue
                self._incoming_started[key] = director.reactor.seconds()
                job = new_job(director, resource,
                              options={"triggered_by": "Incoming client connection"})
                await self.submit(job)
            finally:
                self._incoming_checks.discard(key)

    def wait_all(self):
        pending = [job.finished() for job in list(self.running.values()) + self.waiting]
        return defer.DeferredList(pending) if pending else defer.succeed(None)


def _queue_order(job):
    return job.priority, job.jobid


def new_job(director, resource, level=None, client=None, fileset=None, pool=None, storage=None,
            priority=None, options=None):
    """A Job from a Job resource and the overrides of ``run`` (or a schedule)."""
    config = director.config
    job_type = JOB_TYPES.get(resource.job_type.lower())
    if job_type is None:
        raise JobFailed(f"Job type {resource.job_type} is not supported yet")
    level_word = (level or resource.level or "Incremental").lower()
    if job_type == "V":
        if level_word not in VERIFY_LEVEL_CODES:
            raise JobFailed(f"Level {level or resource.level} is not a verify level")
        level_code = VERIFY_LEVEL_CODES[level_word]
    else:
        level_code = " " if job_type in "Rcg" else \
            {"full": "F", "incremental": "I", "differential": "D"}[level_word]
    pool = pool or config.get("pool", resource.pool)
    if job_type == "B":
        pool = director.pool_for_level(resource, level_code, pool)
    if job_type in "cg" and storage is None:
        # a copy reads with the read Pool's Storage, else the Job's
        names = (pool.storage if pool is not None else None) or resource.storage or [None]
        storage = config.get("storage", names[0]) if names[0] else None
    return Job(
        resource=resource, type=job_type, level=level_code, clock=director.reactor,
        client=client or (config.get("client", resource.client) if resource.client else None),
        fileset=fileset or (config.get("fileset", resource.fileset) if resource.fileset else None),
        pool=pool,
        storage=storage or _first_storage(config, resource),
        messages=config.get("messages", resource.messages),
        priority=priority or resource.priority or 10,
        options=dict(options or {}))


def _first_storage(config, resource):
    names = resource.storage if isinstance(resource.storage, list) else [resource.storage]
    return config.get("storage", names[0]) if names and names[0] else None
