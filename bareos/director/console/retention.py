"""The console's ``prune`` and ``purge``: the catalog forgets files, jobs and volumes'
contents by their retention (prune) or regardless of it (purge), as Bareos' ``ua_prune.cc``
and ``ua_purge.cc`` do.

``prune`` shows the retention that applies and asks to continue (``yes`` answers, ``mod``
sets another period for this once); in api 2 nothing can be asked, so ``yes`` is needed.
Both need full access (``*all*``) to the resources the rows may belong to, as in Bareos.
Running jobs are never pruned or purged.
"""

from bareos.config.types import DURATION
from bareos.director import retention
from bareos.director.console import acl, volumes
from bareos.director.console.admin import (
    _convert, _volume, ask_value, choose, confirmed, format_duration, named_resource)
from bareos.director.console.commands import _keyword, command, refuse_unknown


def _unrestricted(session, acl_name):
    """Bareos' "no restrictions": the console's (or a profile's) ACL allows ``*all*``."""
    if session.is_default:
        return True
    entries = acl.acl_entries(session.resource, session.profiles, acl_name)
    return any(entry.strip().lower() == "*all*" for entry in entries)


def _need_full_access(session, reply, *kinds):
    for kind in kinds:
        if not _unrestricted(session, f"{kind}_acl"):
            reply.error(f"Permission denied: need full {kind} permission.")
            return False
    return True


async def _optional_pool(session, reply, args):
    """(whether ``pool=`` was given, its Pool resource or None when refused/not given)."""
    if _keyword(args, "pool") is None:
        return False, None
    return True, await named_resource(session, reply, args, "pool")


async def _confirm_retention(session, reply, args, what, seconds):
    """Bareos' ConfirmRetention: the period to prune with (perhaps changed), or None."""
    while True:
        reply.info(f"The current {what} retention period is: {format_duration(seconds)}")
        if _keyword(args, "yes") is not None:
            return seconds
        answer = await ask_value(session, reply, "Continue? (yes/mod/no): ", "yes")
        if answer is None:
            return None
        answer = answer.lower()
        if answer == "mod":
            period = await ask_value(session, reply, "Enter new retention period: ", "yes")
            if period is None:
                return None
            changed = _convert(DURATION, period)
            if changed is None:
                reply.error("Invalid period.")
            else:
                seconds = changed
            continue
        if answer in ("yes", "y"):
            return seconds
        if answer in ("no", "n"):
            return None


def _purged_list(reply, job_ids):
    """Bareos' note of what a prune or purge deletes."""
    if job_ids:
        reply.send(f"Purging the following {len(job_ids)} JobIds: "
                   f"{','.join(str(j) for j in job_ids)}\n")
    else:
        reply.send("No jobids found to be purged\n")


# -- prune --------------------------------------------------------------------------------

_PRUNE_ITEMS = ("files", "jobs", "volume", "stats", "directory")


@command("prune", "Prune records from catalog",
         "files [client=<client>] [pool=<pool>] [yes] | jobs [client=<client>] [pool=<pool>] "
         "[yes] | volume [all] [=volume] [pool=<pool>] [yes]")
async def prune(session, reply, args):
    if refuse_unknown(reply, "prune", args, set(_PRUNE_ITEMS) | {"client", "pool", "yes", "all"}):
        return False
    if not _need_full_access(session, reply, "job", "storage"):
        return False
    item = next((k.lower() for k, _ in args if k.lower() in _PRUNE_ITEMS), None)
    if item is None:
        item = await choose(session, reply, "Choose item to prune:\n", list(_PRUNE_ITEMS[:3]),
                            "item", "Choose item to prune")
        if item is None:
            return False
    if item in ("stats", "directory"):
        reply.error(f"prune {item} is not supported: this catalog keeps no "
                    f"{'JobHisto or statistics' if item == 'stats' else 'per-directory'} "
                    f"records to prune that way.")
        return False
    await session.director.catalog_ready()
    if item == "volume":
        return await _prune_volumes(session, reply, args)
    client = await named_resource(session, reply, args, "client",
                                  "Select Client (File daemon) resource")
    if client is None:
        return False
    given, pool = await _optional_pool(session, reply, args)
    if given and pool is None:
        return False
    pool_name = pool.name if pool is not None else None
    director = session.director
    if item == "files":
        period = await _confirm_retention(session, reply, args, "File",
                                          retention.file_retention(client, pool))
        if period is None:
            return False
        reply.send("Begin pruning Files.\n")
        job_ids = await retention.prune_files(director, client.name, pool_name, period)
        if job_ids:
            reply.info(f"Pruned Files from {len(job_ids)} Jobs for client {client.name} "
                       f"from catalog.")
        else:
            reply.send("No Files found to prune.\n")
        return True
    period = await _confirm_retention(session, reply, args, "Job",
                                      retention.job_retention(client, pool))
    if period is None:
        return False
    reply.send(f"Begin pruning Jobs older than {format_duration(period)}.\n")
    job_ids = await retention.prune_jobs(director, client.name, pool_name, period)
    _purged_list(reply, job_ids)
    if job_ids:
        reply.info(f"Pruned {len(job_ids)} {'Job' if len(job_ids) == 1 else 'Jobs'} for client "
                   f"{client.name} from catalog.")
    return True


async def _prune_volumes(session, reply, args):
    catalog = session.director.catalog
    if not _need_full_access(session, reply, "client"):
        return False
    given, pool = await _optional_pool(session, reply, args)
    if given and pool is None:
        return False
    if _keyword(args, "all") is not None:
        volumes = await catalog.list_volumes(pool.name if pool is not None else None)
    else:
        volume = await _volume(session, reply, args)
        if volume is None:
            return False
        if pool is not None and volume.pool != pool.name:
            reply.error(f'Volume "{volume.volume_name}" is not in Pool "{pool.name}".')
            return False
        volumes = [volume]
    ok = True
    for volume in volumes:
        what = "Volume" if len(volumes) == 1 else f"Volume ({volume.volume_name})"
        if volume.enabled == 2 or volume.vol_status == "Archive":
            reply.error(f'Cannot prune Volume "{volume.volume_name}" because it is archived.')
            ok = False
            continue
        if await _confirm_retention(session, reply, args, what, volume.vol_retention) is None:
            return False
        ok = await _prune_one_volume(session, reply, volume) and ok
    return ok


async def _prune_one_volume(session, reply, volume):
    director = session.director
    name = volume.volume_name
    result = await director.catalog.prune_volume(
        volume.media_id, now=retention.now(director), running=retention.running_job_ids(director))
    if result.refused == "state":
        reply.send(f"Pruning volume {name}: cannot prune as Volstatus is "
                   f"{result.volume.vol_status} but needs to be Full or Used.\n")
        return result.purged
    if result.refused == "empty":
        reply.send(f'Volume "{name}" seems to be empty.  Make sure that it is not currently '
                   f"in use, then call 'purge volume=\"{name}\"'\n")
        return False
    reply.send(f"Pruning volume {name}: {len(result.job_ids)} Jobs have expired and can be "
               f"pruned.\n")
    if result.job_ids:
        _purged_list(reply, result.job_ids)
    await _after_purge(session, reply, result)
    reply.send(f'Volume "{name}" {"contains no" if result.purged else "still contains"} jobs '
               f"after pruning.\n")
    return result.purged


async def _after_purge(session, reply, result):
    """A volume that became Purged says so, is truncated when its pool says ``Action On
    Purge = Truncate``, and goes to its pool's Recycle Pool if set."""
    if not result.purged:
        return
    volume = result.volume
    reply.warning(f'There are no more Jobs associated with Volume "{volume.volume_name}". '
                  f"Marking it purged.")
    pool = session.director.config.get("pool", volume.pool) if volume.pool else None
    if pool is not None and pool.action_on_purge == "Truncate" and volume.recycle:
        await _truncate_on_purge(session, reply, volume)
    if pool is not None and await retention.moved_to_recycle_pool(session.director, pool, volume):
        reply.info(f'Volume "{volume.volume_name}" moved to its Recycle Pool "{pool.recycle_pool}".')


async def _truncate_on_purge(session, reply, volume):
    storage = session.director.config.get("storage", volume.storage) if volume.storage else None
    if storage is None:
        reply.warning(f'Unable to truncate volume "{volume.volume_name}": it has no storage.')
        return
    try:
        await volumes.truncate_volume(session.director, storage, volume)
    except volumes.RelabelFailed as exc:
        reply.warning(f'Unable to truncate volume "{volume.volume_name}": {exc}')
    else:
        reply.send(f'The volume "{volume.volume_name}" has been truncated\n')


# -- purge --------------------------------------------------------------------------------

_PURGE_ITEMS = ("files", "jobs", "volume")
#: Bareos' purge keywords this director does not act on: refused by name.
_PURGE_NOT_SUPPORTED = ("quota", "jobstatus", "action", "storage", "allpools", "devicetype",
                        "drive")


@command("purge", "Purge records from catalog",
         "[files [job=<job> | jobid=<jobid> | client=<client> | volume=<volume>]] | "
         "[jobs [client=<client> | volume=<volume>] | pool=<pool>]] | [volume[=<volume>]] [yes]")
async def purge(session, reply, args):
    reply.warning("\nThis command can be DANGEROUS!!!\n\n"
                  "It purges (deletes) all Files from a Job,\n"
                  "JobId, Client or Volume; or it purges (deletes)\n"
                  "all Jobs from a Client or Volume without regard\n"
                  "to retention periods. Normally you should use the\n"
                  "PRUNE command, which respects retention periods.\n"
                  "This command requires full access to all resources.")
    unsupported = [k for k, _ in args if k.lower() in _PURGE_NOT_SUPPORTED]
    if unsupported:
        reply.error(f"purge: {unsupported[0]} is not supported yet (no quotas, no "
                    f"Action On Purge, no job status filter).")
        return False
    known = set(_PURGE_ITEMS) | {"job", "jobid", "client", "pool", "yes"}
    if refuse_unknown(reply, "purge", args, known):
        return False
    if not _need_full_access(session, reply, "client", "job", "pool", "storage"):
        return False
    await session.director.catalog_ready()
    keys = [k.lower() for k, _ in args]
    item = next((k for k in keys if k in ("files", "jobs")), None)
    if item is None and "volume" in keys:
        item = "volume"
    if item is None:
        item = await choose(session, reply, "Choose item to purge:\n", list(_PURGE_ITEMS),
                            "item", "Choose item to purge")
        if item is None:
            return False
    if item == "files":
        return await _purge_files(session, reply, args)
    if item == "jobs" and ("client" in keys or ("volume" not in keys and "pool" not in keys)):
        return await _purge_jobs(session, reply, args, by_pool=False)
    if item == "jobs" and "pool" in keys and "volume" not in keys:
        return await _purge_jobs(session, reply, args, by_pool=True)
    return await _purge_volumes(session, reply, args)


async def _purge_files(session, reply, args):
    catalog = session.director.catalog
    running = retention.running_job_ids(session.director)
    if _keyword(args, "jobid") or _keyword(args, "job"):
        job_id = _keyword(args, "jobid")
        if not job_id:
            jobs = await catalog.list_jobs(name=None)
            matching = [j.job_id for j in jobs if j.job == _keyword(args, "job")]
            if not matching:
                reply.error(f'Job "{_keyword(args, "job")}" not found.')
                return False
            job_id = matching[0]
        if not str(job_id).isdigit() or await catalog.get_job(int(job_id)) is None:
            reply.error(f"JobId {job_id} not found.")
            return False
        await catalog.purge_files(job_ids=[int(job_id)], running=running)
        return True
    if _keyword(args, "volume") is not None:
        # As Bareos: purge files volume=... is accepted and does nothing.
        return True
    client = await named_resource(session, reply, args, "client",
                                  "Select Client (File daemon) resource")
    if client is None:
        return False
    reply.info(f'Begin purging files for Client "{client.name}"')
    if not await confirmed(session, reply, args, "Purge (yes/no)? "):
        reply.info("Purge canceled.")
        return False
    job_ids = await catalog.purge_files(client=client.name, running=running)
    if not job_ids:
        reply.warning(f"No Files found for client {client.name} to purge from the catalog.")
    else:
        reply.info(f'Found Files in {len(job_ids)} Jobs for client "{client.name}"; purged.')
    return True


async def _purge_jobs(session, reply, args, by_pool):
    director = session.director
    if by_pool:
        pool = await named_resource(session, reply, args, "pool")
        if pool is None:
            return False
        owner, label = dict(pool=pool.name), f'Pool "{pool.name}"'
    else:
        client = await named_resource(session, reply, args, "client",
                                  "Select Client (File daemon) resource")
        if client is None:
            return False
        reply.info(f'Begin purging jobs from Client "{client.name}"')
        owner, label = dict(client=client.name), f'client "{client.name}"'
    if not await confirmed(session, reply, args, "Purge (yes/no)? "):
        reply.info("Purge canceled.")
        return False
    job_ids = await director.catalog.purge_jobs(running=retention.running_job_ids(director),
                                                **owner)
    if not job_ids:
        reply.warning(f"No Jobs found for {label} to purge from catalog.")
        return True
    _purged_list(reply, job_ids)
    reply.info(f"{len(job_ids)} Job{'s' if len(job_ids) > 1 else ''} on {label} purged from "
               f"catalog.")
    return True


async def _purge_volumes(session, reply, args):
    names = [value for key, value in args if key.lower() == "volume" and value]
    ok = True
    for name in names or [None]:
        volume_args = [("volume", name)] if name else []
        volume = await _volume(session, reply, volume_args)
        if volume is None:
            return False
        ok = await _purge_one_volume(session, reply, args, volume) and ok
    return ok


async def _purge_one_volume(session, reply, args, volume):
    director = session.director
    name = volume.volume_name
    if volume.vol_status not in ("Append", "Full", "Used", "Error"):
        reply.error(f'\nVolume "{name}" has VolStatus "{volume.vol_status}" and cannot be '
                    f"purged.\nThe VolStatus must be: Append, Full, Used or Error to be purged.")
        return False
    if not await confirmed(session, reply, args, "Purge (yes/no)? "):
        reply.info("Purge canceled.")
        return False
    result = await director.catalog.purge_volume(volume.media_id,
                                                 running=retention.running_job_ids(director))
    if result.job_ids:
        _purged_list(reply, result.job_ids)
        reply.info(f'{len(result.job_ids)} Jobs on Volume "{name}" purged from catalog.')
    else:
        reply.warning(f"No Jobs found for media {name} to purge from catalog.")
    await _after_purge(session, reply, result)
    return True
