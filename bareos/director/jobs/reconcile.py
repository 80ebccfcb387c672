"""Jobs an earlier director process left unfinished in the catalog, settled at start.

A director that was killed (or lost its machine) while jobs ran leaves their catalog rows
in a status that is not final (created, running, waiting) for ever: no process will end
them.  At start, before it takes the catalog into use, the director marks every such job
Fatal error (``f``), as Bareos' catalog check at start does, with an end time and a job
log message saying the director was restarted while the job ran.  The real end is not
known; like Bareos, the job is taken to have ended when it started (or, never started,
when it was scheduled), so its elapsed time is not made up.

Then, in the background, the file and storage daemons of each job that had started are
told to cancel it, in case they still run it (normally they noticed the director's
connection close and ended the job themselves); their answers go into the job log.  Each
request is bounded (``CANCEL_TIMEOUT``) and a daemon that cannot be reached is logged.
"""

import dataclasses
from typing import Optional

from twisted.internet import defer
from twisted.logger import Logger

from bareos.catalog.api import CatalogError
from bareos.director.jobs.common import epoch, tell_daemon_to_cancel
from bareos.director.links import DaemonUnreachable
from bareos.protocol.jobstatus import FINAL, JobStatus

log = Logger(namespace="bareos.director.jobs")

#: The statuses of a job that has not ended.
UNFINISHED = frozenset(JobStatus) - FINAL


@dataclasses.dataclass
class LeftJob:
    """What the director's message router needs of a job it does not run."""

    jobid: int
    messages: object                       # the Messages resource of its Job, if configured
    log: list = dataclasses.field(default_factory=list)


async def reconcile_unfinished_jobs(director, catalog):
    """Mark the jobs of ``catalog`` that have not ended, and that this director does not
    run, failed; then tell their daemons to cancel them (not waited for).

    A failure is logged, never raised: the director starts regardless.
    """
    try:
        records = await catalog.list_jobs(status=sorted(UNFINISHED))
        left = [record for record in records if director.jobs.find(jobid=record.job_id) is None]
        for record in left:
            await _mark_failed(director, catalog, record)
    except CatalogError as exc:
        log.error("Settling the jobs an earlier director left unfinished failed: {problem}",
                  problem=director.catalog_problem(exc))
        return
    except Exception:
        log.failure("Settling the jobs an earlier director left unfinished failed")
        return
    for record in left:
        if record.start_time is not None:
            defer.ensureDeferred(_tell_daemons_to_cancel(director, catalog, record)).addErrback(
                lambda failure, jobid=record.job_id: log.failure(
                    "Telling the daemons of JobId {jobid} to cancel it failed", failure,
                    jobid=jobid))


def _left_job(director, record):
    resource = director.config.get("job", record.name)
    messages = getattr(resource, "messages", None)
    return LeftJob(record.job_id, director.config.get("messages", messages) if messages else None)


async def _mark_failed(director, catalog, record):
    status = JobStatus(record.job_status)
    end = record.start_time or record.sched_time
    director.messages.job_message(
        _left_job(director, record), "error",
        f"Fatal error: the director was restarted while this job ran (it was \"{status.text}\", "
        f"status {status}); the job is marked failed. Its real end time is not known.",
        catalog=catalog)
    log.warn("JobId {jobid} ({job}) was left {status} by an earlier director: marked failed",
             jobid=record.job_id, job=record.job, status=status.text)
    await catalog.update_job(
        record.job_id, job_status=JobStatus.FATAL, start_time=end, end_time=end,
        real_end_time=end, job_tdate=int(epoch(end)) if end else record.job_tdate)


async def _tell_daemons_to_cancel(director, catalog, record):
    job_resource = director.config.get("job", record.name)
    storage = getattr(job_resource, "storage", None)
    storage_name: Optional[str] = storage[0] if isinstance(storage, list) and storage else \
        (storage or None)
    targets = (("client", director.config.get("client", record.client) if record.client else None),
               ("storage", director.config.get("storage", storage_name) if storage_name else None))
    job = _left_job(director, record)
    for kind, resource in targets:
        if resource is None:
            continue
        try:
            reply = await tell_daemon_to_cancel(director, kind, resource, record.job)
        except DaemonUnreachable as exc:
            text = f"Cancel after the restart: {exc}"
        else:
            text = f"Cancel after the restart, {kind} {resource.name} answered: " \
                   f"{reply or 'nothing'}"
        director.messages.job_message(job, "info", text, catalog=catalog)
