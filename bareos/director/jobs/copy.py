"""Copy and Migrate jobs: backups read from one pool's volumes and written into its Next Pool.

As in Bareos, a run of a Copy (Migrate) job is a *control job* (Type ``c``/``g``) that only
selects: its Selection Type and Pattern pick successful jobs of the read Pool, and one new
job of the same resource is queued per selected job.  Each of those copies one job:

1. the reading storage daemon (the read Pool's Storage, else the Job's) gets a read job
   and a bootstrap of the original's volume parts (connection #5a);
2. the writing storage daemon (the Next Pool's Storage, else the Job's) gets an append job
   for the *new job* and ``listen`` (#5b; the same daemon when both are one);
3. the reading one is told ``replicate ... address=...`` with the address the Lan Address
   rule picks for the storage pair, dials the writing one (#8) and, after ``run``, streams
   the records; both report to us, the writing one with the files' attributes and the
   new volumes' JobMedia, which go to the new job's catalog records.

The new job is Type ``C`` (a copy) or, for a migration, Type ``B`` while the original turns
``M`` (``Purge Migration Job`` deletes it instead); it takes the original's times, so a
restore of a point in time picks it.  A job already copied into the Next Pool is not copied
again there; a copy that failed leaves the original untouched and the next run copies it.
"""

import collections
import re
from datetime import datetime, timedelta

from twisted.internet import defer

from bareos.director.jobs.common import (
    DaemonReport, job_message_handler, local_time, open_storage_job, outlived, send_bootstrap,
    storage_failed, wait_for_reports)
from bareos.director.jobs.job import Job, JobFailed
from bareos.director.jobs.restore import bootstrap_lines
from bareos.director.jobs.storage import FileAttributes, StorageJobSession
from bareos.network.addresses import storage_address_for_storage, which_address
from bareos.network.tls import job_channel_ssl
from bareos.protocol.cram import bash_spaces
from bareos.protocol.jobstatus import SUCCESSFUL, JobStatus, daemons_outcome

#: Volume statuses whose jobs the volume selections take (Bareos': written to their end).
CLOSED_VOLUME_STATUSES = ("Full", "Used", "Error")
#: ... and whose jobs count in a pool's occupancy (PoolOccupancy): the appendable ones too.
OCCUPYING_VOLUME_STATUSES = CLOSED_VOLUME_STATUSES + ("Append",)

#: A stand-in for a Client or FileSet resource no longer in the configuration: its name.
Named = collections.namedtuple("Named", "name")


def is_migration(job):
    return job.type == "g"


def operation(job):
    return "migrate" if is_migration(job) else "copy"


def done_word(job):
    return "migrated" if is_migration(job) else "copied"


def select_job_ids(selection_type, pattern, pool, candidates, now=None, migration=False):
    """The JobIds a Selection Type (and Pattern) picks among ``candidates`` (``copy_candidates``
    of the read Pool resource ``pool``), oldest first, as Bareos picks them.  ``now`` (a catalog
    time) is PoolTime's; SQLQuery is the catalog's (``job_ids_from_query``)."""
    kind = selection_type.lower()
    if kind in ("job", "client", "volume"):
        if not pattern:
            raise JobFailed(f"Selection Type {selection_type} needs a Selection Pattern.")
        try:
            regex = re.compile(pattern)
        except re.error as exc:
            raise JobFailed(f"Could not compile Selection Pattern {pattern!r}: {exc}") from None
    in_pool = [c for c in candidates if c.pool == pool.name]
    # the volume selections read the pool's enabled volumes that are written to their end
    closed = [c for c in candidates if c.volume_pool == pool.name and c.volume_name
              and c.vol_enabled and c.vol_status in CLOSED_VOLUME_STATUSES]
    if kind == "pooluncopiedjobs":
        if migration:
            raise JobFailed("Selection Type 'pooluncopiedjobs' only applies to Copy Jobs.")
        # never copied anywhere (not only: not into this Next Pool)
        chosen = [c for c in in_pool if c.type == "B" and c.job_bytes > 0 and not c.copied]
    elif kind == "job":
        chosen = [c for c in in_pool if regex.search(c.name)]
    elif kind == "client":
        chosen = [c for c in in_pool if regex.search(c.client or "")]
    elif kind == "volume":
        chosen = [c for c in closed if regex.search(c.volume_name)]
    elif kind == "oldestvolume":
        chosen = _jobs_of_first_volume(closed, lambda c: (c.last_written or datetime.min,
                                                          c.volume_name))
    elif kind == "smallestvolume":
        chosen = _jobs_of_first_volume(closed, lambda c: (c.vol_bytes, c.volume_name))
    elif kind == "pooltime":
        # jobs of the pool on its closed volumes that ended Migration Time ago or longer
        cutoff = now - timedelta(seconds=pool.migration_time or 0)
        chosen = [c for c in closed if c.pool == pool.name and c.real_end_time is not None
                  and c.real_end_time <= cutoff]
    elif kind == "pooloccupancy":
        chosen = _down_to_low_bytes(pool, candidates, closed)
    else:
        raise JobFailed(f"Selection Type {selection_type} is not implemented.")
    return list(dict.fromkeys(c.job_id for c in chosen))


def _jobs_of_first_volume(closed, order):
    """The jobs on the volume that comes first in ``order``."""
    first = min(closed, key=order, default=None)
    return [c for c in closed if first is not None and c.volume_name == first.volume_name]


def _down_to_low_bytes(pool, candidates, closed):
    """PoolOccupancy: once the pool's jobs hold Migration High Bytes or more, its closed
    volumes' jobs, oldest first, until what stays is Migration Low Bytes or less."""
    occupying = {c.job_id: c.job_bytes for c in candidates
                 if c.pool == c.volume_pool == pool.name and c.vol_enabled
                 and c.vol_status in OCCUPYING_VOLUME_STATUSES}
    pool_bytes = sum(occupying.values())
    if not occupying or pool_bytes < (pool.migration_high_bytes or 0):
        return []
    chosen = []
    for c in {c.job_id: c for c in closed}.values():
        chosen.append(c)
        pool_bytes -= c.job_bytes
        if pool_bytes <= (pool.migration_low_bytes or 0):
            break
    return chosen


async def run_copy(director, job):
    if "prior_jobid" in job.options:
        return await copy_one_job(director, job)
    return await select_and_queue(director, job)


def next_pool_of(director, job):
    """The Job's Next Pool, else its read Pool's; JobFailed without one."""
    resource, config = job.resource, director.config
    name = resource.next_pool or (job.pool.next_pool if job.pool is not None else None)
    if not name:
        raise JobFailed(f"No Next Pool specification found in Job resource \"{resource.name}\" "
                        f"or Pool resource \"{job.pool.name if job.pool else ''}\".")
    return config.get("pool", name)


async def select_and_queue(director, job):
    """The control job: choose, leave out what the Next Pool has, queue one job per JobId."""
    messages, catalog, resource = director.messages, director.catalog, job.resource
    next_pool = next_pool_of(director, job)
    if not resource.selection_type:
        raise JobFailed(f"No Selection Type in Job resource \"{resource.name}\": nothing to "
                        f"{operation(job)}.")
    if resource.selection_type.lower() == "sqlquery":
        if not resource.selection_pattern:
            raise JobFailed("Selection Type SQLQuery needs a Selection Pattern (the query).")
        job_ids = await catalog.job_ids_from_query(resource.selection_pattern)
    else:
        candidates = await catalog.copy_candidates(job.pool.name)
        job_ids = select_job_ids(resource.selection_type, resource.selection_pattern, job.pool,
                                 candidates, now=local_time(director.reactor.seconds()),
                                 migration=is_migration(job))
    done = await catalog.copied_to_pool(job_ids, next_pool.name)
    if done:
        messages.job_message(job, "info", f"Already in pool \"{next_pool.name}\", not "
                                          f"{done_word(job)} again: JobId "
                                          f"{','.join(str(i) for i in sorted(done))}")
    job_ids = [i for i in job_ids if i not in done]
    if not job_ids:
        messages.job_message(job, "info", f"No JobIds found to {operation(job)}.")
        return JobStatus.TERMINATED
    messages.job_message(job, "info", f"The following {len(job_ids)} JobId"
                                      f"{' was' if len(job_ids) == 1 else 's were'} chosen to be "
                                      f"{done_word(job)}: {','.join(map(str, job_ids))}")
    limit = resource.max_concurrent_copies
    if limit and len(job_ids) > limit:
        # Bareos starts the first ones only; the next run chooses the others again
        messages.job_message(job, "info", f"Max Concurrent Copies = {limit}: JobId "
                                          f"{','.join(map(str, job_ids[limit:]))} left for a "
                                          f"later run.")
        job_ids = job_ids[:limit]
    from bareos.director.jobs.manager import new_job       # manager imports this module
    for prior_id in job_ids:
        worker = new_job(director, resource, pool=job.pool, options={
            "prior_jobid": prior_id, "triggered_by": f"{job.type_name} control JobId {job.jobid}"})
        await director.jobs.submit(worker)
        messages.job_message(job, "info", f"{job.type_name} JobId {worker.jobid} started for "
                                          f"JobId {prior_id}.")
    return JobStatus.TERMINATED


async def copy_one_job(director, job):
    catalog, messages, config = director.catalog, director.messages, director.config
    prior_id = job.options["prior_jobid"]
    prior = await catalog.get_job(prior_id)
    if prior is None:
        raise JobFailed(f"JobId {prior_id} is not in the catalog.")
    if prior.type not in (("B",) if is_migration(job) else ("B", "C")):
        messages.job_message(job, "info", f"JobId {prior_id} is of type {prior.type}: already "
                                          f"migrated, probably by another job; not {done_word(job)}.")
        return JobStatus.TERMINATED
    next_pool = next_pool_of(director, job)
    if prior_id in await catalog.copied_to_pool([prior_id], next_pool.name):
        messages.job_message(job, "info", f"JobId {prior_id} is in pool \"{next_pool.name}\" "
                                          f"already; not {done_word(job)} again.")
        return JobStatus.TERMINATED
    jobmedia = await catalog.jobmedia_for_jobs([prior_id])
    if not jobmedia:
        messages.job_message(job, "info", f"JobId {prior_id} has no data to {operation(job)}.")
        return JobStatus.TERMINATED
    read_storage, write_storage = job.storage, _write_storage(config, job, next_pool)
    if read_storage is None or write_storage is None:
        raise JobFailed(f"No {'read' if read_storage is None else 'write'} Storage: give the "
                        f"Pool or the Job resource a Storage.")
    job.level = prior.level
    job.options.update(prior_job=prior.job, read_storage=read_storage.name,
                       write_storage=write_storage.name, write_pool=next_pool.name)
    messages.job_message(job, "info", f"Start {job.type_name} JobId {job.jobid}, Job={job.job}: "
                                      f"{operation(job)} JobId {prior_id} (Job={prior.job}) from "
                                      f"pool \"{job.pool.name}\" to pool \"{next_pool.name}\"")

    new = await _create_new_job(director, job, prior, next_pool, write_storage)
    job.options["new_jobid"] = new.jobid
    job.client, job.fileset = new.client, new.fileset      # the original's, as the SDs see them
    try:
        outcome = await _copy_data(director, job, new, jobmedia, read_storage, write_storage)
    except BaseException:
        # whatever stopped the copy, its new job ends with it (never left running)
        await _end_new_job(director, new,
                           JobStatus.CANCELED if job.cancel_requested else JobStatus.FATAL)
        raise
    await _end_new_job(director, new, outcome)
    job.fd_files, job.fd_bytes = new.sd_files, new.sd_bytes      # this job's catalog counters
    job.options.update(written_files=new.sd_files, written_bytes=new.sd_bytes,
                       written_volumes=new.volumes)
    if outcome in SUCCESSFUL:
        await catalog.finish_copy(prior_id, new.jobid, migrated=is_migration(job))
        if is_migration(job) and job.resource.purge_migration_job:
            await catalog.delete_job(prior_id)
            messages.job_message(job, "info", f"Migrated JobId {prior_id} purged from the catalog "
                                              f"(Purge Migration Job = yes).")
    return outcome


async def _copy_data(director, job, new, jobmedia, read_storage, write_storage):
    """The two storage daemons' part (PROTOCOL.md §7.4); the outcome of their reports."""
    reading, _key = await open_storage_job(director, job, append=False)
    everything = {job.options["prior_jobid"]: {
        i for e in jobmedia for i in range(e.first_index, e.last_index + 1)}}
    await send_bootstrap(reading, bootstrap_lines(jobmedia, everything))
    writing, writing_key = await open_storage_job(director, new, append=True)
    # the writing SD's messages go to this job's log, where the operator looks
    job.links.append(writing)
    writing.on_job_message = job_message_handler(director, job, write_storage.name)

    attributes = FileAttributes(director.catalog, new.jobid)
    writing.send("listen")
    write_report = defer.ensureDeferred(StorageJobSession(director, new, writing, attributes).serve())
    read_report = None
    try:
        await _tell_reading_storage_to_replicate(director, job, new, reading, read_storage,
                                                 write_storage, writing_key)
        reading.send("run")
        read_report = defer.ensureDeferred(StorageJobSession(director, job, reading).serve())
        await wait_for_reports(
            director,
            DaemonReport(job, reading, read_report, "the reading storage daemon", storage_failed(job)),
            DaemonReport(new, writing, write_report, "the writing storage daemon", storage_failed(new)))
    except BaseException:
        outlived(write_report, job, "writing storage daemon session")
        if read_report is not None:
            outlived(read_report, job, "reading storage daemon session")
        raise
    reading.close()
    writing.close()
    await attributes.finish()
    return daemons_outcome(job.sd_status, new.sd_status, job.sd_errors + new.sd_errors)


def _write_storage(config, job, next_pool):
    if next_pool.storage:
        return config.get("storage", next_pool.storage[0])
    return job.storage


async def _create_new_job(director, job, prior, next_pool, write_storage):
    """The job that holds the copied data: its Job object and catalog record."""
    config = director.config
    new = Job(
        resource=config.get("job", prior.name) or job.resource,
        type="B" if is_migration(job) else "C", level=prior.level,
        client=config.get("client", prior.client) or Named(prior.client or ""),
        fileset=config.get("fileset", prior.fileset) if prior.fileset else None,
        pool=next_pool, storage=write_storage, messages=job.messages, clock=director.reactor,
        priority=job.priority, options={"triggered_by": f"{job.type_name} JobId {job.jobid}"})
    await director.jobs.record(new, name=prior.name, client_id=prior.client_id,
                               fileset_id=prior.fileset_id, prior_job_id=prior.job_id)
    new.run()
    await director.catalog.update_job(new.jobid, job_status=new.status,
                                      start_time=local_time(new.start_time))
    return new


async def _tell_reading_storage_to_replicate(director, job, new, reading, read_storage,
                                             write_storage, key):
    """``replicate ...`` (PROTOCOL.md §7.4): the reading SD dials the writing one at the
    address the Lan Address rule picks for the pair; its answer comes once it is in."""
    address = storage_address_for_storage(read_storage, write_storage)
    director.messages.job_message(
        job, "info", f"Storage daemon {read_storage.name} told to connect to Storage daemon "
                     f"{write_storage.name} at {address}:{write_storage.port} (its "
                     f"{which_address(read_storage, write_storage)})")
    reading.send(f"replicate JobId={new.jobid} Job={bash_spaces(new.job)} address={address} "
                 f"port={write_storage.port} ssl={job_channel_ssl(write_storage)} Authorization={key}\n")
    reply = await reading.receive_line(timeout=None)
    if not reply.startswith("3000 OK replicate"):
        raise JobFailed(f"Storage daemon {read_storage.name} could not connect to Storage daemon "
                        f"{write_storage.name} at {address}:{write_storage.port} (see its message "
                        f"above): {reply.strip()}")


async def _end_new_job(director, new, outcome):
    """Record the new job's end (its counters are the writing storage daemon's)."""
    if new.is_final:
        return
    new.end(outcome)
    await director.catalog.update_job(
        new.jobid, job_status=new.status, end_time=local_time(new.end_time),
        real_end_time=local_time(new.end_time), job_files=new.sd_files, job_bytes=new.sd_bytes,
        job_errors=new.sd_errors, vol_session_id=new.vol_session_id,
        vol_session_time=new.vol_session_time)

