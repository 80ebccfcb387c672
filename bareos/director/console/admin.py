"""Console commands that administer the director and its catalog: enable, disable, delete,
update, configure add, reload.

Registered into the command table of ``commands``.  They follow Bareos' dialogue: a
command missing a name asks for it (a numbered choice or a typed answer) in api 0 and 1;
in api 2 (batch mode, as in Bareos) nothing can be asked, so such a command fails and says
which keyword is missing.
"""

import os

from bareos.config import ConfigError
from bareos.config import writer
from bareos.config.loader import resource_tree
from bareos.config.schemas import DIRECTOR
from bareos.config.types import BOOLEAN, DURATION, NAME, SIZE, BadValue
from bareos.config.lexer import tokenize
from bareos.director.console.arguments import BadArgument, parse_number
from bareos.director.console.commands import _keyword, command, format_table, refuse_unknown
from bareos.director.console.show import configure_export

# -- asking -------------------------------------------------------------------------------


async def choose(session, reply, header, items, what, question):
    """Bareos' numbered selection: the item chosen from ``items``, or None (the reason told).

    One item is taken without asking; in batch mode the choices are shown and the
    command fails, naming what was to be chosen."""
    if not items:
        reply.error(f'Selection list for "{what}" is empty!')
        return None
    if len(items) == 1:
        reply.send(f"Automatically selected {what}: {items[0]}\n")
        return items[0]
    listing = header + "".join(f"{number:>6}: {item}\n" for number, item in enumerate(items, 1))
    reply.send(listing)
    if session.batch:
        reply.error(f'Your request has multiple choices for "{what}"; give it as a keyword, '
                    f"a selection is not possible in api 2 (batch mode).")
        return None
    while True:
        answer = await session.ask(f"{question} (1-{len(items)}): ")
        if answer is None:
            reply.info("Selection aborted, nothing done.")
            return None
        if answer.isdigit() and 1 <= int(answer) <= len(items):
            return items[int(answer) - 1]
        reply.warning(f"Please enter a number between 1 and {len(items)}")


async def ask_value(session, reply, question, keyword):
    """A typed answer; in batch mode the command fails naming ``keyword``."""
    if session.batch:
        reply.error(f"{keyword}= is missing; it cannot be asked for in api 2 (batch mode).")
        return None
    answer = await session.ask(question)
    if answer is None:
        reply.info("Selection aborted, nothing done.")
    return answer


async def confirmed(session, reply, args, question):
    """Bareos' yes/no before something is destroyed: ``yes`` among the arguments or batch
    mode says yes, else the console is asked."""
    if _keyword(args, "yes") is not None or session.batch:
        return True
    return await session.confirm(question, reply)


def _sorted_names(names):
    return sorted(names, key=str.lower)


# -- enable / disable ---------------------------------------------------------------------

#: What enable/disable switch, in the order Bareos looks for their keyword.
_SWITCHABLE = (("schedule", "schedule_acl"), ("client", "client_acl"), ("job", "job_acl"))


async def _switch(session, reply, args, enable):
    """``enable``/``disable`` job=|client=|schedule=: the resource's ``Enabled`` changes in
    the running configuration until the next reload; a disabled job, a job of a disabled
    client or on a disabled schedule is not started by the scheduler."""
    action = "enable" if enable else "disable"
    if refuse_unknown(reply, action, args, {kind for kind, _ in _SWITCHABLE}):
        return False
    kind, acl_name = next(((k, a) for k, a in _SWITCHABLE if _keyword(args, k) is not None),
                          _SWITCHABLE[-1])
    label = kind.capitalize()
    config = session.director.config
    name = _keyword(args, kind)
    if not name:
        candidates = [r.name for r in config.resources(kind)
                      if session.acl_allows(acl_name, r.name) and (r.enabled is not False) != enable]
        name = await choose(session, reply, f"The defined {label} resources are:\n",
                            _sorted_names(candidates), label, f"Select {label} resource")
        if name is None:
            return False
    resource = config.get(kind, name) if session.acl_allows(acl_name, name) else None
    if resource is None:
        reply.error(f'{label} "{name}" not found.')
        return False
    resource.override("enabled", enable)
    reply.send(f'{label} "{name}" {action}d\n')
    reply.result(action, {f"{kind}s": [name]})
    reply.warning(f"{action.capitalize()} lasts until the director reloads its configuration; "
                  f"set the \"Enabled\" directive in the resource's file to keep it.")
    return True


@command("enable", "Enable a job, client or schedule (until the next reload)",
         "job=<job-name> | client=<client-name> | schedule=<schedule-name>")
async def enable(session, reply, args):
    return await _switch(session, reply, args, True)


@command("disable", "Disable a job, client or schedule (until the next reload)",
         "job=<job-name> | client=<client-name> | schedule=<schedule-name>")
async def disable(session, reply, args):
    return await _switch(session, reply, args, False)


# -- selecting catalog pools and volumes --------------------------------------------------

async def _catalog_pool(session, reply, args, keyword="pool"):
    """The PoolRecord named by ``keyword=`` (or chosen), allowed by the Pool ACL; else None."""
    catalog = await session.director.catalog_ready()
    pools = [p for p in await catalog.list_pools() if session.acl_allows("pool_acl", p.name)]
    name = _keyword(args, keyword)
    if not name:
        name = await choose(session, reply, "Defined Pools:\n", [p.name for p in pools],
                            "Pool", "Select the Pool")
        if name is None:
            return None
    found = [p for p in pools if p.name == name]
    if not found:
        reply.error(f'Pool "{name}" not found.')
        return None
    return found[0]


async def named_resource(session, reply, args, kind, select_prompt=None):
    """The ``kind`` resource named by ``kind=`` (or chosen among those its ACL allows), which
    the console's ``<kind> ACL`` allows; else None, the refusal replied."""
    config = session.director.config
    acl, label = f"{kind}_acl", kind.capitalize()
    name = _keyword(args, kind)
    if not name:
        allowed = [r.name for r in config.resources(kind) if session.acl_allows(acl, r.name)]
        name = await choose(session, reply, f"The defined {label} resources are:\n",
                            _sorted_names(allowed), label, select_prompt or f"Select {label} resource")
        if name is None:
            return None
    resource = config.get(kind, name) if session.acl_allows(acl, name) else None
    if resource is None:
        reply.error(f'{label} resource "{name}" not found.')
    return resource


async def _volume(session, reply, args):
    """The VolumeRecord named by ``volume=`` (or ``media=``, or typed: a name or *MediaId),
    whose pool the Pool ACL allows; else None."""
    catalog = await session.director.catalog_ready()
    name = _keyword(args, "volume") or _keyword(args, "media")
    if not name:
        name = await ask_value(session, reply, "Enter *MediaId or Volume name: ", "volume")
        if name is None:
            return None
    key = parse_number(name[1:], "MediaId") if name.startswith("*") else name
    volume = await catalog.get_volume(key)
    if volume is None:
        reply.error(f'Volume "{name}" not found in the catalog.')
        return None
    if not session.acl_allows("pool_acl", volume.pool or ""):
        reply.error(f'No access to Pool "{volume.pool}"')
        return None
    return volume


# -- delete -------------------------------------------------------------------------------

@command("delete", "Delete a volume, a pool or jobs from the catalog",
         "volume=<vol-name> [pool=<pool-name>] [yes] | pool=<pool-name> [yes] | "
         "jobid=<jobid> | jobid=<jobid1,jobid2,...> | jobid=<jobid1-jobid9>")
async def delete(session, reply, args):
    if refuse_unknown(reply, "delete", args, {"volume", "pool", "jobid", "yes"}):
        return False
    what = next((key.lower() for key, _ in args if key.lower() in ("volume", "pool", "jobid")),
                None)
    if what is None:
        reply.warning("Deleting a pool or a volume from the catalog forgets the data they hold.")
        what = await choose(session, reply, "Item to delete:\n", ["volume", "pool", "jobid"],
                            "item", "Choose catalog item to delete")
        if what is None:
            return False
    if what == "volume":
        return await _delete_volume(session, reply, args)
    if what == "pool":
        return await _delete_pool(session, reply, args)
    return await _delete_jobs(session, reply, args)


async def _delete_jobs(session, reply, args):
    values = [value for key, value in args if key.lower() == "jobid" and value]
    if not values:
        answer = await ask_value(session, reply, "Enter JobId to delete: ", "jobid")
        if answer is None:
            return False
        values = [answer]
    job_ids = []
    for value in values:
        for part in value.split(","):
            ids = await _jobid_part(session, reply, part)
            job_ids += ids or []
    catalog = await session.director.catalog_ready()
    deleted = []
    for job_id in job_ids:
        record = await catalog.get_job(job_id)
        if record is not None and not (session.acl_allows("job_acl", record.name) and
                                       (record.client is None
                                        or session.acl_allows("client_acl", record.client))):
            reply.error(f"JobId {job_id} is not yours to delete (Job or Client ACL).")
            continue
        # As Bareos: a JobId that is not in the catalog counts as deleted too.
        await catalog.delete_job(job_id)
        deleted.append(str(job_id))
        reply.send(f"JobId {job_id} and associated records deleted from the catalog.\n")
    reply.result("deleted", {"jobids": deleted})
    return not reply.failed


async def _jobid_part(session, reply, part):
    """The JobIds of one element of a jobid= list: ``7`` or ``5-9``; [] when refused."""
    first, dash, last = part.partition("-")
    try:
        if not dash:
            return [parse_number(part, "jobid")]
        low, high = parse_number(first, "jobid"), parse_number(last, "jobid")
    except BadArgument as exc:
        reply.error(f"{exc} JobId {part} ignored.")
        return []
    if high <= low:
        reply.error(f"Illegal JobId range {part}: the second JobId must be the larger; ignored")
        return []
    if high - low > 25 and not session.batch and not await session.confirm(
            f"Are you sure you want to delete {high - low} JobIds ? (yes/no): ", reply):
        return []
    return list(range(low, high + 1))


async def _delete_volume(session, reply, args):
    volume = await _volume(session, reply, args)
    if volume is None:
        return False
    pool = _keyword(args, "pool")
    if pool and volume.pool != pool:
        reply.error(f'Volume "{volume.volume_name}" is not in pool "{pool}".')
        return False
    reply.warning(f"\nThis deletes volume {volume.volume_name} and all jobs stored on it "
                  f"from the catalog.\n")
    if not await confirmed(session, reply, args, f'Are you sure you want to delete Volume '
                                                 f'"{volume.volume_name}"? (yes/no): '):
        reply.send("Nothing deleted.\n")
        return False
    catalog = await session.director.catalog_ready()
    _existed, job_ids = await catalog.delete_volume(volume.volume_name)
    deleted = {"jobids": [str(j) for j in job_ids], "volumes": [volume.volume_name]}
    if job_ids:
        reply.info(f"Deleted {len(job_ids)} jobs and associated records from the catalog "
                   f"(jobids: {','.join(deleted['jobids'])}).")
    reply.send(f"Volume {volume.volume_name} deleted.\n")
    reply.result("deleted", deleted)
    return True


async def _delete_pool(session, reply, args):
    if session.batch:
        reply.error("Deleting pools from the catalog is not supported in batch mode (api 2).")
        return False
    pool = await _catalog_pool(session, reply, args)
    if pool is None:
        return False
    # Bareos asks even when "yes" is given; we take "yes" as the answer, as other deletes do.
    if not await confirmed(session, reply, args,
                           f'Are you sure you want to delete Pool "{pool.name}"? (yes/no): '):
        reply.send("Nothing deleted.\n")
        return False
    catalog = await session.director.catalog_ready()
    await catalog.delete_pool(pool.name)
    session.director.pool_ids.pop(pool.name, None)
    reply.send(f'Pool "{pool.name}" and its {pool.num_vols} volume record(s) deleted from '
               f"the catalog.\n")
    reply.result("deleted", {"pools": [pool.name]})
    return True


# -- update -------------------------------------------------------------------------------

VOLUME_STATUSES = ("Append", "Archive", "Disabled", "Full", "Used", "Cleaning", "Recycle",
                   "Read-Only", "Error")


def _convert(value_type, text):
    """A console value read as the configuration reads it (``30 days``, ``10G``, ``yes``);
    None when it is not one."""
    try:
        return value_type.convert(tokenize(text or "", "<console>")[:-1])
    except (BadValue, ConfigError):
        return None


def format_duration(seconds):
    """A duration for people: ``1 year 2 months 3 days 4 hours 5 mins 6 secs``."""
    parts = []
    for unit, size in (("year", 365 * 86400), ("month", 30 * 86400), ("day", 86400),
                       ("hour", 3600), ("min", 60), ("sec", 1)):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count} {unit}{'s' if count != 1 else ''}")
    return " ".join(parts) or "0 secs"


async def _set_volstatus(session, reply, volume, text):
    status = next((s for s in VOLUME_STATUSES if s.lower() == text.lower()), None)
    if status is None:
        reply.error(f"Invalid VolStatus specified: {text}")
        return None
    return {"vol_status": status}, f"New Volume status is: {status}"


def _duration_setter(field, what):
    async def setter(session, reply, volume, text):
        seconds = _convert(DURATION, text)
        if seconds is None:
            reply.error(f"Invalid {what} specified: {text}")
            return None
        return {field: seconds}, f"New {what} is: {format_duration(seconds)}"
    return setter


def _count_setter(field, what):
    async def setter(session, reply, volume, text):
        number = parse_number(text, what.replace(" ", ""), minimum=0)
        return {field: number}, f"New {what} is: {number}"
    return setter


def _flag_setter(field, what):
    async def setter(session, reply, volume, text):
        flag = _convert(BOOLEAN, text)
        if flag is None:
            reply.error("Invalid value. It must be YES or NO.")
            return None
        return {field: int(flag)}, f"New {what} flag is: {'yes' if flag else 'no'}"
    return setter


async def _set_maxvolbytes(session, reply, volume, text):
    size = _convert(SIZE, text)
    if size is None:
        reply.error(f"Invalid max. bytes specification: {text}")
        return None
    return {"max_vol_bytes": size}, f"New Max bytes is: {size}"


async def _set_slot(session, reply, volume, text):
    slot = parse_number(text, "slot", minimum=0)
    catalog = await session.director.catalog_ready()
    pool = next((p for p in await catalog.list_pools() if p.pool_id == volume.pool_id), None)
    if pool is not None and pool.max_vols and slot > pool.max_vols:
        reply.error(f"Invalid slot, it must be between 0 and MaxVols={pool.max_vols}")
        return None
    return {"slot": slot}, f"New Slot is: {slot}"


async def _set_enabled(session, reply, volume, text):
    if (text or "").lower() == "archived":
        return {"enabled": 2}, "New Enabled is: 2"
    flag = _convert(BOOLEAN, text)
    if flag is None:
        reply.error(f"Invalid value for enabled: {text} (yes, no or archived).")
        return None
    return {"enabled": int(flag)}, f"New Enabled is: {int(flag)}"


async def _set_pool(session, reply, volume, text):
    pool = await _catalog_pool(session, reply, [("pool", text)])
    if pool is None:
        return None
    return {"pool_id": pool.pool_id}, f"New Pool is: {pool.name}"


async def _set_storage(session, reply, volume, text):
    if session.director.config.get("storage", text) is None or \
            not session.acl_allows("storage_acl", text):
        reply.error(f'Storage "{text}" not found.')
        return None
    catalog = await session.director.catalog_ready()
    return {"storage_id": await catalog.ensure_storage(text)}, f"New Storage is: {text}"


async def _set_from_pool(session, reply, volume, text):
    catalog = await session.director.catalog_ready()
    pool = next((p for p in await catalog.list_pools() if p.pool_id == volume.pool_id), None)
    if pool is None or not session.acl_allows("pool_acl", pool.name):
        reply.error(f'Pool of volume "{volume.volume_name}" not found.')
        return None
    await catalog.update_volumes_from_pool(pool.pool_id, media_id=volume.media_id)
    return {}, f'Volume defaults updated from "{pool.name}" Pool record.'


#: ``update volume`` keywords that change one volume: keyword -> setter(session, reply,
#: volume, value) giving (catalog fields, message) or None after telling the error.
VOLUME_SETTERS = {
    "volstatus": _set_volstatus,
    "volretention": _duration_setter("vol_retention", "retention period"),
    "voluse": _duration_setter("vol_use_duration", "use duration"),
    "maxvoljobs": _count_setter("max_vol_jobs", "max jobs"),
    "maxvolfiles": _count_setter("max_vol_files", "max files"),
    "maxvolbytes": _set_maxvolbytes,
    "recycle": _flag_setter("recycle", "Recycle"),
    "inchanger": _flag_setter("in_changer", "InChanger"),
    "slot": _set_slot,
    "pool": _set_pool,
    "frompool": _set_from_pool,
    "enabled": _set_enabled,
    "storage": _set_storage,
}
#: Bareos keywords for catalog columns this director does not keep.
_VOLUME_KEYWORDS_NOT_KEPT = ("recyclepool", "actiononpurge", "encrypt")

#: The interactive ``update volume`` menu: (entry, keyword, question); keyword None for
#: entries that are not a single volume's value.
_VOLUME_MENU = (
    ("Volume Status", "volstatus", None),
    ("Volume Retention Period", "volretention", "Enter Volume Retention period: "),
    ("Volume Use Duration", "voluse", "Enter Volume Use Duration: "),
    ("Maximum Volume Jobs", "maxvoljobs", "Enter new Maximum Jobs: "),
    ("Maximum Volume Files", "maxvolfiles", "Enter new Maximum Files: "),
    ("Maximum Volume Bytes", "maxvolbytes", "Enter new Maximum Bytes: "),
    ("Recycle Flag", "recycle", "Enter new Recycle status: "),
    ("Slot", "slot", "Enter new Slot: "),
    ("InChanger Flag", "inchanger", "Enter new InChanger flag: "),
    ("Volume Files", None, None),
    ("Pool", "pool", "Enter new Pool name: "),
    ("Volume from Pool", "frompool", None),
    ("All Volumes from Pool", None, None),
    ("All Volumes from all Pools", None, None),
    ("Enabled", "enabled", "Enter new Enabled: "),
    ("RecyclePool", None, None),
    ("Action On Purge", None, None),
    ("Storage", "storage", "Enter new Storage name: "),
    ("Done", None, None),
)


@command("update", "Update a volume, a pool or the statistics in the catalog",
         "volume=<volume-name> [volstatus=<status>] [volretention=<time>] [voluse=<time>] "
         "[maxvoljobs=<n>] [maxvolfiles=<n>] [maxvolbytes=<size>] [recycle=<yes/no>] "
         "[inchanger=<yes/no>] [slot=<n>] [pool=<pool-name>] [frompool] [enabled=<yes/no>] "
         "[storage=<storage-name>] | volume allfrompool=<pool-name> | volume fromallpools "
         "| pool=<pool-name> | stats [days=<n>]")
async def update(session, reply, args):
    what = next((key.lower() for key, _ in args
                 if key.lower() in ("media", "volume", "pool", "slots", "slot", "jobid", "stats")),
                None)
    if what is None:
        if args:
            reply.error(f"update: unknown keyword {args[0][0]!r}.")
            return False
        what = await choose(session, reply, "Update choice:\n",
                            ["Volume parameters", "Pool from resource", "Long term statistics"],
                            "item", "Choose catalog item to update")
        what = {"Volume parameters": "volume", "Pool from resource": "pool",
                "Long term statistics": "stats", None: None}[what]
        if what is None:
            return False
    if what in ("media", "volume"):
        return await _update_volume(session, reply, args)
    if what == "pool":
        return await _update_pool(session, reply, args)
    if what == "stats":
        return await _update_stats(session, reply, args)
    reply.error(f"update {what}: not supported by this director (it keeps no autochanger "
                f"slots and no editable job records).")
    return False


async def _update_volume(session, reply, args):
    known = set(VOLUME_SETTERS) | {"volume", "media", "allfrompool", "fromallpools", "yes"}
    for key, _ in args:
        if key.lower() in _VOLUME_KEYWORDS_NOT_KEPT:
            reply.error(f"update volume: {key}= is not supported (this catalog has no such "
                        f"volume attribute).")
            return False
    if refuse_unknown(reply, "update volume", args, known):
        return False
    if _keyword(args, "allfrompool"):
        return await _update_all_volumes(session, reply, [_keyword(args, "allfrompool")])
    # in Bareos' order, whatever the order on the command line
    given = {key.lower(): value for key, value in args}
    changes = [(keyword, given[keyword]) for keyword in VOLUME_SETTERS
               if keyword in given and (given[keyword] is not None or keyword == "frompool")]
    if changes:
        volume = await _volume(session, reply, args)
        if volume is None:
            return False
        for keyword, value in changes:
            await _apply(session, reply, volume, keyword, value)
        return not reply.failed
    if _keyword(args, "fromallpools") is not None:
        return await _update_all_volumes(session, reply, None)
    return await _volume_menu(session, reply, args)


async def _apply(session, reply, volume, keyword, value):
    outcome = await VOLUME_SETTERS[keyword](session, reply, volume, value)
    if outcome is None:
        return
    fields, message = outcome
    catalog = await session.director.catalog_ready()
    await catalog.update_volume(volume.media_id, **fields)
    reply.info(message)
    reply.result("volume", {"volumename": volume.volume_name, keyword: value})


async def _volume_menu(session, reply, args):
    """``update volume`` without values: Bareos' menu, until Done."""
    entries = [entry for entry, _, _ in _VOLUME_MENU]
    while True:
        entry = await choose(session, reply, "Parameters to modify:\n", entries, "parameter",
                             "Select parameter to modify")
        if entry is None:
            return False
        _, keyword, question = _VOLUME_MENU[entries.index(entry)]
        if entry == "Done":
            reply.info("Selection terminated.")
            return True
        if entry == "All Volumes from Pool":
            pool = await named_resource(session, reply, [], "pool")
            return pool is not None and await _update_all_volumes(session, reply, [pool.name])
        if entry == "All Volumes from all Pools":
            return await _update_all_volumes(session, reply, None)
        if keyword is None:
            reply.error(f"update volume: {entry} cannot be changed in this catalog.")
            return False
        volume = await _volume(session, reply, args)
        if volume is None:
            return False
        reply.info(f'Updating Volume "{volume.volume_name}"')
        if keyword == "volstatus":
            value = await choose(session, reply, "Possible Values are:\n", list(VOLUME_STATUSES),
                                 "", "Choose new Volume Status")
        elif question is None:
            value = ""
        else:
            value = await ask_value(session, reply, question, keyword)
        if value is None:
            return False
        await _apply(session, reply, volume, keyword, value)
        if keyword in ("pool", "frompool"):
            return not reply.failed


async def _update_all_volumes(session, reply, pool_names):
    """Every volume of the pools named (all pools the Pool ACL allows when None) takes its
    pool's volume defaults."""
    catalog = await session.director.catalog_ready()
    if pool_names is None:
        pool_names = [p.name for p in await catalog.list_pools()
                      if session.acl_allows("pool_acl", p.name)]
    updated = []
    for name in pool_names:
        if not session.acl_allows("pool_acl", name) or \
                await catalog.update_volumes_from_pool(name) is None:
            reply.error(f'Pool "{name}" not found.')
            continue
        reply.info(f'All Volume defaults updated from "{name}" Pool record.')
        updated.append(name)
    reply.result("pools", updated)
    return not reply.failed


async def _update_pool(session, reply, args):
    """``update pool=X``: the catalog's Pool row takes the values of the Pool resource
    (other values are not taken: they belong in the resource, then ``reload``)."""
    if refuse_unknown(reply, "update pool", args, {"pool"}):
        return False
    pool = await named_resource(session, reply, args, "pool")
    if pool is None:
        return False
    catalog = await session.director.catalog_ready()
    pool_id = await session.director.register_pool(catalog, pool)
    record = next(p for p in await catalog.list_pools() if p.pool_id == pool_id)
    row = {"poolid": str(record.pool_id), "name": record.name, "numvols": str(record.num_vols),
           "maxvols": str(record.max_vols), "volretention": str(record.vol_retention),
           "voluseduration": str(record.vol_use_duration),
           "maxvoljobs": str(record.max_vol_jobs), "maxvolbytes": str(record.max_vol_bytes),
           "recycle": str(record.recycle), "pooltype": record.pool_type,
           "labelformat": record.label_format or "", "enabled": str(record.enabled)}
    reply.send(format_table(list(row), [row]))
    reply.result("pools", [row])
    reply.info("Pool DB record updated from resource.")
    return True


async def _update_stats(session, reply, args):
    reply.error("update stats: this director keeps no long-term job statistics (JobHisto); "
                "the Job table is the only job history.")
    return False


# -- configure add, reload ----------------------------------------------------------------

#: Characters a console-given directive value may not hold (they would end the
#: directive or include another file).
_FORBIDDEN_IN_VALUES = {"@": "'@' (include)", ";": "';' (end of directive)"}


@command("configure", "Configure director resources",
         "add <resource-type> name=<name> <directive>=<value> ... | "
         "add <resource-type>=<name> <directive>=<value> ... | export client=<client-name>")
async def configure(session, reply, args):
    if len(args) < 2:
        reply.error("usage:\n  configure add <resourcetype> name=<name> <directive>=<value> ...\n"
                    "  configure export client=<clientname>")
        return False
    subcommand = args[0][0].lower()
    if subcommand == "export":
        return await configure_export(session, reply, args[1:])
    if subcommand != "add":
        reply.error(f"configure: invalid subcommand {args[0][0]}; give add or export.")
        return False
    return await _configure_add(session, reply, args[1], args[2:])


async def _configure_add(session, reply, type_argument, directive_arguments):
    director = session.director
    type_word, name = type_argument
    schema = DIRECTOR.resource(type_word)
    if schema is None:
        reply.error(f"invalid resource type {type_word}.")
        return False
    if schema.name == "Director":
        reply.error("Only one Director resource allowed.")
        return False
    directives = [("Name", name)] if name else []
    for key, value in directive_arguments:
        if value is None:
            reply.error(f'Missing value for directive "{key}"')
            return False
        directive = schema.directive(key)
        if directive is None:
            reply.error(f'Resource "{schema.name}" does not permit directive "{key}".')
            return False
        forbidden = next((what for char, what in _FORBIDDEN_IN_VALUES.items() if char in value),
                         None)
        if forbidden:
            reply.error(f'Could not add directive "{key}": character {forbidden} is forbidden.')
            return False
        if directive.name == "Name":
            name = value
        directives.append((directive.name, _written_keyword(directive, value)))
    if not name:
        reply.error(f'Resource "{schema.name}": missing name parameter.')
        return False
    if not NAME.pattern.fullmatch(name):
        reply.error(f'Resource "{schema.name}": "{name}" is not a valid name ({NAME.expected}).')
        return False
    if director.config.get(schema.name, name) is not None:
        reply.error(f'Resource "{schema.name}" with name "{name}" already exists.')
        return False
    tree = resource_tree(director.config_path, DIRECTOR.daemon_name) \
        if director.config_path else None
    if tree is None:
        reply.error("configure add needs the configuration in the bareos-dir.d directory "
                    "layout (one file per resource); this director's is not.")
        return False
    resource = writer.Resource(schema.name, directives)
    path = tree / resource.path
    if path.exists():
        reply.error(f'failed to write config resource file: "{path}" exists already.')
        return False
    text = resource.text()
    writer.write_file(path, text)
    try:
        config = director.read_config()
    except ConfigError as exc:
        os.unlink(path)
        reply.error(f"configure error: {exc}")
        return False
    await director.adopt_resource(config.get(schema.name, name))
    reply.send(f'Created resource config file "{path}":\n{text}')
    reply.result("configure", {"add": {"resource": schema.name, "name": name,
                                       "filename": str(path), "content": text}})
    return True


def _written_keyword(directive, value):
    """A console value as the configuration file gets it: a comma-separated list for a
    directive that takes one stays a list; a password is always quoted."""
    if getattr(directive.type, "accumulates", False) and "," in value:
        return writer.Verbatim(", ".join(writer.quote(part.strip()) for part in value.split(",")))
    if "password" in directive.name.lower():
        return writer.Quoted(value)
    return value


@command("reload", "Read the configuration again")
async def reload(session, reply, args):
    try:
        await session.director.reload_config()
    except ConfigError as exc:
        reply.error(f"reload failed, the configuration in use stays: {exc}")
        reply.result("reload", {"success": False})
        return False
    reply.send("reloaded\n")
    reply.result("reload", {"success": True})
    return True
