"""The dot commands programs use (WebUI, bareos-restapi, BAT): short machine-readable answers.

Each answers in api 2 with Bareos' JSON (``{"jobs": [{"name": "x", "enabled": true}]}``)
and in api 0/1 with Bareos' plain lines (the names, one a line).  Lists show only what the
console's ACLs let it see.
"""

from bareos.catalog.api import CatalogQueryError, name_text
from bareos.catalog.core import op_sql_query
from bareos.director.console import status as status_report
from bareos.director.console.commands import TABLE, _keyword, command, format_table, refuse_unknown
from bareos.director.console.output import API_JSON, API_SIGNALS
from bareos.director.console.jobcommands import status_of_daemon
from bareos.director.console.show import visible_resources

# Bareos' job types and levels, with their one-letter codes (JSON gives the codes as numbers).
JOB_TYPES = (("Backup", "B"), ("Admin", "D"), ("Archive", "A"), ("Verify", "V"),
             ("Restore", "R"), ("Migrate", "g"), ("Copy", "c"), ("Consolidate", "O"))
JOB_LEVELS = (("Full", "F", "B"), ("Base", "B", "B"), ("Incremental", "I", "B"),
              ("Differential", "D", "B"), ("Since", "S", "B"), ("VirtualFull", "f", "B"),
              ("Catalog", "C", "V"), ("InitCatalog", "V", "V"), ("VolumeToCatalog", "O", "V"),
              ("DiskToCatalog", "d", "V"), ("Data", "A", "V"),
              ("Full", "F", "c"), ("Incremental", "I", "c"), ("Differential", "D", "c"),
              ("Full", "F", "g"), ("Incremental", "I", "g"), ("Differential", "D", "g"))


def _names(reply, key, rows):
    """A list of ``{"name": ...}`` objects; text shows the names, one a line."""
    reply.send("".join(f"{row['name']}\n" for row in rows))
    reply.result(key, rows)
    return True


ENABLED_FILTERS = ("enabled", "disabled")


def _enabled_filter(args):
    """``enabled`` / ``disabled`` keep only the resources in that state."""
    if _keyword(args, "enabled") is not None:
        return lambda resource: resource.enabled
    if _keyword(args, "disabled") is not None:
        return lambda resource: not resource.enabled
    return lambda resource: True


# The lists of names: (command, help, JSON key, resource type, whether the console's ACLs
# choose the names: Bareos lists every Console and Profile to whoever may run the command).
NAME_LISTS = (
    (".catalogs", "List all catalog resources", "catalogs", "catalog", True),
    (".consoles", "List all console resources", "consoles", "console", False),
    (".filesets", "List all filesets", "filesets", "fileset", True),
    (".jobdefs", "List all job defaults resources", "jobdefs", "jobdefs", True),
    (".profiles", "List all profile resources", "profiles", "profile", False),
)
# The lists of names with each one's state, which ``enabled`` or ``disabled`` filter.
ENABLED_LISTS = (
    (".clients", "List all client resources", "clients", "client"),
    (".schedule", "List all schedule resources", "schedules", "schedule"),
    (".storages", "List all storage resources", "storages", "storage"),
)


def _name_list(name, key, resource_type, by_acl):
    async def run(session, reply, args):
        if refuse_unknown(reply, name, args, ()):
            return False
        resources = (visible_resources(session, resource_type) if by_acl
                     else session.director.config.resources(resource_type))
        return _names(reply, key, [{"name": r.name} for r in resources])
    return run


def _enabled_list(name, key, resource_type):
    async def run(session, reply, args):
        if refuse_unknown(reply, name, args, ENABLED_FILTERS):
            return False
        keep = _enabled_filter(args)
        return _names(reply, key, [{"name": r.name, "enabled": r.enabled}
                                   for r in visible_resources(session, resource_type) if keep(r)])
    return run


for _name, _help, _key, _type, _by_acl in NAME_LISTS:
    command(_name, _help)(_name_list(_name, _key, _type, _by_acl))
for _name, _help, _key, _type in ENABLED_LISTS:
    command(_name, _help, "[enabled | disabled]")(_enabled_list(_name, _key, _type))


@command(".jobs", "List all job resources", "[type=<jobtype>] [enabled | disabled]")
async def dot_jobs(session, reply, args):
    if refuse_unknown(reply, ".jobs", args, ("type", *ENABLED_FILTERS)):
        return False
    wanted_type = _keyword(args, "type")
    # Bareos compares the first letter of type= with the job type's one-letter code.
    code = wanted_type[0] if wanted_type else None
    keep = _enabled_filter(args)
    return _names(reply, "jobs", [
        {"name": job.name, "enabled": job.enabled}
        for job in visible_resources(session, "job")
        if keep(job) and (code is None or dict(JOB_TYPES)[job.job_type] == code)])


@command(".msgs", "List all message resources")
async def dot_msgs(session, reply, args):
    if refuse_unknown(reply, ".msgs", args, ()):
        return False
    rows = [{"text": r.name} for r in session.director.config.resources("messages")]
    reply.send("".join(f"{row['text']}\n" for row in rows))
    reply.result("messages", rows)
    return True


@command(".pools", "List all pool resources", "[type=<pooltype>]")
async def dot_pools(session, reply, args):
    if refuse_unknown(reply, ".pools", args, ("type",)):
        return False
    wanted_type = (_keyword(args, "type") or "").lower()
    return _names(reply, "pools", [
        {"name": pool.name} for pool in visible_resources(session, "pool")
        if pool.pool_type.lower().startswith(wanted_type)])


@command(".types", "List all job types")
async def dot_types(session, reply, args):
    if refuse_unknown(reply, ".types", args, ()):
        return False
    return _names(reply, "jobtypes", [{"name": name} for name, _code in JOB_TYPES])


@command(".levels", "List all backup levels", "[<jobtype>]")
async def dot_levels(session, reply, args):
    levels = JOB_LEVELS
    if args:
        code = next((code for name, code in JOB_TYPES if name.lower() == args[0][0].lower()),
                    None)
        levels = [level for level in JOB_LEVELS if level[2] == code]
    return _names(reply, "levels", [{"name": name, "level": ord(level), "jobtype": ord(jobtype)}
                                    for name, level, jobtype in levels])


@command(".help", "Print parsable information about a command", "[ all ] [ item=cmd ] [ full ]")
async def dot_help(session, reply, args):
    """Every command the console may run (``full``: every command), with ``all`` only the
    commands without a dot, with ``item=`` one command.  Text: the names with ``all``,
    the usage with ``item=``, otherwise ``name description -- usage``."""
    if refuse_unknown(reply, ".help", args, ("all", "item", "full")):
        return False
    full = _keyword(args, "full")
    if full:
        reply.error("The full option does not take a value.")
        return False
    item = _keyword(args, "item")
    only_user_commands = _keyword(args, "all") is not None
    for entry in TABLE:
        allowed = entry.always_allowed or session.acl_allows("command_acl", entry.name)
        if item:
            if entry.name != item:
                continue
            reply.send(f"{entry.usage}\n")
        elif not (allowed or full is not None) or \
                (only_user_commands and entry.name.startswith(".")):
            continue
        elif only_user_commands:
            reply.send(f"{entry.name}\n")
        else:
            reply.send(f"{entry.name} {entry.help} -- {entry.usage}\n")
        reply.result(entry.name, {"command": entry.name, "description": entry.help,
                                  "arguments": entry.usage, "permission": allowed})
    return True


@command(".defaults", "Get default settings",
         "job=<job-name> | client=<client-name> | storage=<storage-name> | pool=<pool-name>")
async def dot_defaults(session, reply, args):
    if refuse_unknown(reply, ".defaults", args, ("job", "client", "storage", "pool")):
        return False
    for kind, describe in (("job", _job_defaults), ("client", _client_defaults),
                           ("storage", _storage_defaults), ("pool", _pool_defaults)):
        name = _keyword(args, kind)
        if name:
            resource = session.director.config.get(kind, name)
            acl = "job_acl" if kind == "job" else f"{kind}_acl"
            defaults = {}
            if resource is not None and session.acl_allows(acl, name):
                defaults = describe(session.director, resource)
            reply.send("".join(f"{key}={value}\n" for key, value in defaults.items()))
            reply.result("defaults", defaults)
            return True
    reply.error(".defaults command requires a parameter.")
    return False


def _catalog_name(director, client):
    catalog = client.catalog if client is not None else None
    if catalog is None:
        catalogs = director.config.resources("catalog")
        catalog = catalogs[0].name if catalogs else "*None*"
    return catalog


def _job_defaults(director, job):
    client = director.config.get("client", job.client) if job.client else None
    storage = job.storage or director.config.get("pool", job.pool).storage
    defaults = {"job": job.name, "pool": job.pool, "messages": job.messages,
                "client": job.client or "*None*",
                "storage": storage[0] if storage else "*None*", "where": job.where or ""}
    if job.job_type == "Restore":
        defaults["replace"] = job.replace.lower()
    defaults.update({"level": job.level or "", "type": job.job_type,
                     "fileset": job.fileset or "*None*", "enabled": int(job.enabled),
                     "catalog": _catalog_name(director, client) if client else "*None*"})
    return defaults


def _client_defaults(director, client):
    return {"client": client.name, "address": client.address, "port": client.port,
            "file_retention": str(client.file_retention),
            "job_retention": str(client.job_retention), "autoprune": int(client.auto_prune),
            "enabled": int(client.enabled), "catalog": _catalog_name(director, client)}


def _storage_defaults(director, storage):
    return {"storage": storage.name, "address": storage.address, "port": storage.port,
            "enabled": int(storage.enabled), "media_type": storage.media_type,
            "device": ",".join(storage.device)}


def _pool_defaults(director, pool):
    def number(value):
        return int(value or 0)
    return {"pool": pool.name, "pool_type": pool.pool_type, "label_format": pool.label_format or "",
            # Bareos' own key, "=" included
            "purge_oldest_volume=": number(pool.purge_oldest_volume),
            "recycle_oldest_volume": number(pool.recycle_oldest_volume),
            "max_volumes": number(pool.maximum_volumes),
            "vol_retention": str(number(pool.volume_retention)),
            "vol_use_duration": str(number(pool.volume_use_duration)),
            "max_vol_jobs": number(pool.maximum_volume_jobs),
            "max_vol_files": number(pool.maximum_volume_files),
            "max_vol_bytes": str(number(pool.maximum_volume_bytes)),
            "auto_prune": int(pool.auto_prune), "recycle": int(pool.recycle),
            "file_retention": str(number(pool.file_retention)),
            "job_retention": str(number(pool.job_retention))}


# .status dir <item>: which part of the director's status report, and how it is written.
_DIRECTOR_STATUS_PARTS = {
    "header": status_report.header_lines,
    "scheduled": status_report.scheduled_lines,
    "running": status_report.running_lines,
    "terminated": status_report.terminated_lines,
}


@command(".status", "Report the status of a part of the director, a client or a storage",
         "dir ( header | scheduled | running | terminated ) | client=<name> | storage=<name>")
async def dot_status(session, reply, args):
    if not args:
        reply.error("1900 Bad .status command, missing arguments.")
        return False
    target, name = args[0][0].lower(), args[0][1]
    part = args[1][0].lower() if len(args) > 1 else None
    if target == "dir":
        if part not in _DIRECTOR_STATUS_PARTS:
            reply.error("1900 Bad .status command, wrong argument.")
            return False
        report = status_report.director_status(session.director)
        reply.send("\n".join(_DIRECTOR_STATUS_PARTS[part](report[part])) + "\n")
        reply.result(part, status_report.json_part(report, part))
        return True
    if target in ("client", "storage") and name:
        if part is not None:
            reply.error(f".status {target}: the part {args[1][0]!r} is not supported; "
                        f"without it the whole status is given.")
            return False
        return await status_of_daemon(session, reply, target, name)
    reply.error("1900 Bad .status command, wrong argument.")
    return False


@command(".sql", "Send an arbitrary SQL command", "query=<sqlquery>")
async def dot_sql(session, reply, args):
    """The query run on the catalog as written; its rows as Bareos gives them: a table in
    api 0, each row's values tab-ended in api 1 (BAT's form), ``{"query": [rows]}`` in api 2."""
    if refuse_unknown(reply, ".sql", args, ("query",)):
        return False
    query = _keyword(args, "query")
    if not query:
        reply.error("query keyword not found.")
        return False
    catalog = await session.director.catalog_ready()
    try:
        columns, rows = await catalog.run_operation(op_sql_query, query)
    except CatalogQueryError as error:
        reply.error(f"Query failed: {query}. ERR={error}")
        return False
    rows = [[_sql_text(value) for value in row] for row in rows]
    if session.api == API_SIGNALS:
        for row in rows:
            reply.send("".join(("*None*" if v is None else v) + "\t" for v in row))
    elif session.api != API_JSON and columns:
        reply.send(format_table(columns, [
            {c: "NULL" if v is None else v for c, v in zip(columns, row)} for row in rows]))
    reply.result("query", [dict(zip(columns, row)) for row in rows])
    return True


def _sql_text(value):
    """A column's value as text (names as the catalog stores them: bytes); NULL stays None."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, (bytes, memoryview)):
        return name_text(value)
    return str(value)
