"""Retention as the director applies it: which retention holds for a client and pool,
AutoPrune after a job, and finding a volume to reuse when a job needs one.

The catalog does the pruning (``ICatalog.prune_*``, ``purge_*``); this module decides what
to prune with which retention, as Bareos does (autoprune.cc, next_vol.cc, recycle.cc), and
reads the time from the director's clock, so tests drive a year with a
``twisted.internet.task.Clock``.
"""

from twisted.logger import Logger

from bareos.director.console.admin import format_duration
from bareos.protocol.jobstatus import SUCCESSFUL

log = Logger(namespace="bareos.director.retention")


def file_retention(client, pool):
    """The File Retention that holds: the Pool's when it sets one, else the Client's."""
    return (pool.file_retention if pool is not None and pool.file_retention
            else client.file_retention)


def job_retention(client, pool):
    """The Job Retention that holds: the Pool's when it sets one, else the Client's."""
    return (pool.job_retention if pool is not None and pool.job_retention
            else client.job_retention)


def running_job_ids(director):
    """JobIds nothing may prune or purge: the jobs running now."""
    return set(director.jobs.running)


def now(director):
    return int(director.clock.seconds())


async def prune_files(director, client_name, pool_name, seconds):
    """Prune the File rows of the client's jobs (in ``pool_name`` unless None) older than
    ``seconds``; the JobIds."""
    return await _prune(director, director.catalog.prune_files, client_name, pool_name, seconds)


async def prune_jobs(director, client_name, pool_name, seconds):
    """Prune the client's jobs (in ``pool_name`` unless None) older than ``seconds``; the JobIds."""
    return await _prune(director, director.catalog.prune_jobs, client_name, pool_name, seconds)


def _prune(director, prune, client_name, pool_name, seconds):
    return prune(client_name, pool_name, seconds, now=now(director),
                 running=running_job_ids(director))


async def autoprune(director, job):
    """After a job that ended well: prune the jobs and files of its client in its pool by
    their retention when the Client says ``Auto Prune = yes`` (the Pool's File and Job
    Retention, when set, take precedence), as Bareos does.  Messages go to the job's log."""
    client = job.client
    if client is None or not client.auto_prune or job.status not in SUCCESSFUL:
        return
    say = director.messages.job_message
    pool = job.pool
    pool_name = pool.name if pool is not None else None
    retention = job_retention(client, pool)
    say(job, "info", f"Begin pruning Jobs older than {format_duration(retention)}.")
    pruned = await prune_jobs(director, client.name, pool_name, retention)
    if pruned:
        say(job, "info", f"Pruned {len(pruned)} {'Job' if len(pruned) == 1 else 'Jobs'} for "
                         f"client {client.name} from catalog.")
    else:
        say(job, "info", "No Jobs found to prune.")
    say(job, "info", "Begin pruning Files.")
    pruned = await prune_files(director, client.name, pool_name, file_retention(client, pool))
    if pruned:
        say(job, "info", f"Pruned Files from {len(pruned)} Jobs for client {client.name} "
                         f"from catalog.")
    else:
        say(job, "info", "No Files found to prune.")
    say(job, "info", "End auto prune.")



# -- a volume for a job that needs one ----------------------------------------------------

#: Volume states whose jobs may expire: what AutoPrune looks at when a pool has no volume.
PRUNABLE_STATES = ("Full", "Used")
#: What Purge / Recycle Oldest Volume choose from (Bareos also takes an Append volume; we
#: do not, as another job may be writing it).
OLDEST_STATES = ("Full", "Used", "Recycle", "Purged")


async def reusable_volume(director, pool, media_type, exclude):
    """A volume of ``pool`` to reuse, in Bareos' order: one already in Recycle state; the
    least recently written Purged one; then, with the Pool's ``Auto Prune``, the first of
    its Full and Used volumes (oldest first) whose jobs have all passed the Volume
    Retention.  A Purged volume is recycled (Recycle state: the storage daemon relabels
    it, truncating the file) unless the Pool's ``Recycle Pool`` takes it.  Or None."""
    catalog = director.catalog
    found = await catalog.reusable_volumes(pool.name, media_type, ["Recycle"], exclude)
    if found:
        return found[0]
    for volume in await catalog.reusable_volumes(pool.name, media_type, ["Purged"], exclude):
        if not await moved_to_recycle_pool(director, pool, volume):
            return await catalog.recycle_volume(volume.media_id)
    if pool.auto_prune is False:
        return None
    for volume in await catalog.reusable_volumes(pool.name, media_type, PRUNABLE_STATES,
                                                 exclude):
        result = await catalog.prune_volume(volume.media_id, now=now(director),
                                            running=running_job_ids(director))
        if result.purged and not await moved_to_recycle_pool(director, pool, result.volume):
            return await catalog.recycle_volume(volume.media_id)
    return None


async def recycled_current_volume(director, pool, media_type, exclude, job):
    """``Recycle Current Volume``: the pool's most recently written volume (the one a
    device still has mounted, which Bareos' storage daemon offers first), once past a
    limit of its pool, pruned by its Volume Retention and, when no job is left on it,
    recycled for this job.  Or None (a volume still appendable is left to the ordinary
    search)."""
    if not pool.recycle_current_volume:
        return None
    catalog = director.catalog
    written = [v for v in await catalog.reusable_volumes(
        pool.name, media_type, ("Append",) + PRUNABLE_STATES, exclude) if v.last_written]
    if not written:
        return None
    current = max(written, key=lambda volume: volume.last_written)
    if current.vol_status == "Append" and \
            await catalog.expire_volume(current.media_id, now=now(director)) is None:
        return None
    result = await catalog.prune_volume(current.media_id, now=now(director),
                                        running=running_job_ids(director))
    if result is None or not result.purged:
        return None
    director.messages.job_message(job, "info", f'Recycled current volume "{current.volume_name}"')
    return await catalog.recycle_volume(current.media_id)


async def oldest_volume(director, pool, media_type, exclude, job):
    """``Purge Oldest Volume`` (its jobs deleted whatever their retention) or ``Recycle
    Oldest Volume`` (only if its jobs have expired): the least recently written volume of
    the pool, recycled; or None."""
    if not (pool.purge_oldest_volume or pool.recycle_oldest_volume):
        return None
    catalog = director.catalog
    candidates = await catalog.reusable_volumes(pool.name, media_type, OLDEST_STATES, exclude)
    if not candidates:
        return None
    volume = candidates[0]
    if pool.purge_oldest_volume:
        director.messages.job_message(job, "info", f'Purging oldest volume "{volume.volume_name}"')
        result = await catalog.purge_volume(volume.media_id, running=running_job_ids(director))
    else:
        director.messages.job_message(job, "info", f'Pruning oldest volume "{volume.volume_name}"')
        result = await catalog.prune_volume(volume.media_id, now=now(director),
                                            running=running_job_ids(director))
    if not result.purged:
        return None
    return await catalog.recycle_volume(volume.media_id)


async def scratch_volume(director, pool, media_type, storage_id, job):
    """A volume taken from the Pool's ``Scratch Pool`` (or the pool named Scratch) into
    ``pool``: an unused Append one, one in Recycle state or a Purged one (recycled), as
    long as ``Maximum Volumes`` of ``pool`` allows another; it takes ``pool``'s volume
    defaults.  Or None."""
    config = director.config
    scratch = config.get("pool", pool.scratch_pool) if pool.scratch_pool else \
        config.get("pool", "Scratch")
    if scratch is None or scratch.name == pool.name:
        return None
    catalog = director.catalog
    if pool.maximum_volumes and await catalog.count_volumes(pool.name) >= pool.maximum_volumes:
        director.messages.job_message(
            job, "warning", f'Unable add Scratch Volume, Pool "{pool.name}" full '
                            f'MaxVols={pool.maximum_volumes}')
        return None
    volume = await catalog.find_appendable_volume(scratch.name, media_type, ())
    if volume is None:
        volume = await reusable_volume(director, scratch, media_type, ())
    if volume is None:
        return None
    await catalog.update_volume(volume.media_id, pool_id=await _pool_id(director, pool),
                                storage_id=storage_id)
    await catalog.update_volumes_from_pool(pool.name, volume.media_id)
    director.messages.job_message(job, "info",
                                  f'Using Volume "{volume.volume_name}" from \'Scratch\' pool.')
    return await catalog.get_volume(volume.media_id)


async def moved_to_recycle_pool(director, pool, volume):
    """A Purged volume goes to its Pool's ``Recycle Pool`` (when set and not full);
    True when it moved."""
    if not pool.recycle_pool or pool.recycle_pool == pool.name:
        return False
    target = director.config.get("pool", pool.recycle_pool)
    catalog = director.catalog
    if target.maximum_volumes and \
            await catalog.count_volumes(target.name) >= target.maximum_volumes:
        log.warn('Unable move recycled Volume in full Pool "{pool}" MaxVols={max}',
                 pool=target.name, max=target.maximum_volumes)
        return False
    await catalog.update_volume(volume.media_id, pool_id=await _pool_id(director, target))
    await catalog.update_volumes_from_pool(target.name, volume.media_id)
    return True


async def _pool_id(director, pool):
    return director.pool_ids.get(pool.name) or await director.register_pool(director.catalog, pool)
