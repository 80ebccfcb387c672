"""``list`` and ``llist``: what the catalog holds, in the rows and columns Bareos' console shows.

``list <keyword> [arguments]`` gives the short form, ``llist`` every column.  The
keyword picks a handler (``@keyword``), which names the arguments it takes; any
other argument is refused by name, never ignored.  Filters go into the catalog query
(``ICatalog.query_jobs`` and friends); the console's ACLs (Job, Client, Pool, Storage,
FileSet) and the configuration filters ``current`` / ``enabled`` / ``disabled`` then
drop rows the console may not see.  When such a row filter applies, ``limit`` and
``offset`` page through the rows that remain (so a page is never short because of
hidden rows), as Bareos does.

Replies: api 2 gets Bareos' JSON (lower-case column names, every value a string,
``list volumes`` grouped by pool); api 0/1 get Bareos' boxed table (``list``) or
``name: value`` blocks (``llist``), numbers right-aligned with thousands separators.
"""

import re
from datetime import datetime, timedelta

from bareos.catalog.api import JOB_TYPES, JobQuery
from bareos.director.console.arguments import BadArgument, parse_number, parse_number_list
from bareos.director.console.commands import command, format_table
from bareos.protocol.jobstatus import SUCCESSFUL, JobStatus

USAGE = ("jobs [job=<name>] [client=<name>] [jobstatus=<s>] [jobtype=<t>] [joblevel=<l>] "
         "[volume=<name>] [pool=<name>] [days=<n>] [hours=<n>] [last] [count] "
         "[limit=<n> [offset=<n>]] [order=asc|desc] | job=<name> | jobid=<id> | "
         "ujobid=<unique name> | joblog jobid=<id> [count] | jobmedia [jobid=<id>] | "
         "log [client=<name>] [reverse] [limit=<n>] | "
         "jobtotals | files jobid=<id> | filesets | clients | client=<name> | pools | "
         "pool=<name> | poolid=<id> | storages | volumes [pool=<name> | jobid=<id> | all] "
         "[count] | volume=<name> | volumeid=<id> | media ... | copies [jobid=<id>,...] | "
         "backups client=<name> [fileset=<name>|any] [jobstatus=<s>] [level=<l>] "
         "[order=asc|desc] [limit=<n>] | nextvol job=<name>")

# Job type names a console may give for ``jobtype=`` (Bareos' spelling).
JOB_TYPE_NAMES = {"backup": "B", "admin": "D", "archive": "A", "verify": "V", "restore": "R",
                  "migrate": "g", "copy": "c", "consolidate": "O"}
JOB_STATUS_NAMES = {"terminated": JobStatus.TERMINATED, "warnings": JobStatus.WARNINGS,
                    "canceled": JobStatus.CANCELED, "running": JobStatus.RUNNING,
                    "error": JobStatus.ERROR_TERMINATED, "fatal": JobStatus.FATAL}
JOB_LEVEL_NAMES = {"full": "F", "differential": "D", "incremental": "I"}
_ONE_LETTER_CODE = re.compile(r"[A-Za-z]")

JOB_COLUMNS = ["jobid", "name", "client", "starttime", "duration", "type", "level", "jobfiles",
               "jobbytes", "jobstatus"]

# A limit or offset above this (Bareos takes any digits) is this: more rows than a catalog holds.
_MAX_PAGE = 2**62

_JOB_MISSING = ("jobid not found in db, access to job or client denied by ACL, or client not "
                "found in db")

_HANDLERS = {}

# Bareos' list keywords for what this director does not keep: refused with the reason.
NOT_KEPT = {
    "basefiles": "this director runs no Base jobs, so the catalog holds no base files.",
    "jobstatistics": "this director collects no job statistics (Collect Statistics).",
    "jobstats": "this director collects no job statistics (Collect Statistics).",
}


def keyword(*names, takes=()):
    """Register a handler for the list keywords ``names``; it takes the arguments ``takes``."""
    def register(handler):
        for name in names:
            _HANDLERS[name] = (handler, frozenset(takes) | set(names))
        return handler
    return register


class Listing:
    """One list / llist command: its arguments, its console and how it answers."""

    def __init__(self, session, reply, args, long_format):
        self.session = session
        self.reply = reply
        self.long = long_format
        self.keyword = args[0][0].lower()
        self.keyword_value = args[0][1]
        self.args = {}
        for key, value in args:               # the first of a repeated argument counts
            self.args.setdefault(key.lower(), value)
        self.catalog = None

    @property
    def director(self):
        return self.session.director

    def value(self, *names):
        """The value of the first of ``names`` given with a value, else None."""
        for name in names:
            if self.args.get(name) is not None:
                return self.args[name]
        return None

    def flag(self, name):
        return name in self.args

    def number(self, name, minimum=1):
        return parse_number(self.value(name), name, minimum=minimum)

    def allows(self, acl, name):
        """ACL check of one row's resource name (rows without one are not restricted)."""
        return not name or self.session.acl_allows(acl, name)

    @property
    def filters_rows(self):
        """True when rows may be dropped after the catalog query (ACLs, config filters)."""
        return not self.session.is_default or any(
            self.flag(f) for f in ("current", "enabled", "enable", "disabled", "disable"))

    def page(self):
        """(limit, offset) of ``limit=`` / ``offset=``; an offset without a limit is refused
        (Bareos ignores it)."""
        limit = _page_number(self.value("limit"), "limit")
        offset = _page_number(self.value("offset"), "offset")
        if offset is not None and limit is None:
            raise BadArgument("offset= needs limit=.")
        return limit, offset

    def paged(self, rows):
        """The rows of the page ``limit=`` / ``offset=`` asks for (all without them)."""
        limit, offset = self.page()
        start = offset or 0
        return rows[start:None if limit is None else start + limit]

    def emit(self, key, rows):
        """Send rows (dicts of column -> value) as the JSON array ``key`` and as text."""
        self.reply.result(key, [_json_row(row) for row in rows])
        self.send(self.text(rows))

    def send(self, text):
        """Text output; in an api 0 session the first names the catalog, as Bareos does."""
        self.session.name_catalog(self.reply)
        self.reply.send(text)

    def text(self, rows):
        """Bareos' table (list) or name: value blocks (llist); numbers aligned right."""
        if not rows:
            return "No results to list.\n"
        texts = [{column: _text_value(column, value) for column, value in row.items()}
                 for row in rows]
        if not self.long:
            right = {c for row in rows for c, v in row.items() if isinstance(v, int)}
            return format_table(list(rows[0]), texts, right_aligned=right)
        width = max(len(column) for column in rows[0])
        return "".join("".join(f" {column:>{width}}: {value}\n" for column, value in row.items())
                       + "\n" for row in texts)


def _page_number(text, name):
    if text is not None and text.isascii() and text.isdigit():
        # Bareos takes any count of digits; more than a catalog holds means "all".
        return min(int(text), _MAX_PAGE)
    return parse_number(text, name, minimum=0)


def _json_value(value):
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return str(value)


def _json_row(row):
    return {column: _json_value(value) for column, value in row.items()}


def _text_value(column, value):
    # Bareos writes numbers with thousands separators, except JobIds.
    if isinstance(value, int) and not isinstance(value, bool) and column != "jobid":
        return f"{value:,}"
    return _json_value(value)


def _codes(listing, names, table, what):
    """The one-letter codes of ``jobstatus=`` / ``level=`` / ``jobtype=`` (comma lists)."""
    text = listing.value(*names)
    if text is None:
        return ()
    codes = []
    for word in text.split(","):
        code = table.get(word.lower())
        if code is None and _ONE_LETTER_CODE.fullmatch(word) and (what != "jobtype"
                                                                  or word in JOB_TYPES):
            code = word
        if code is None:
            if what == "jobtype":
                listing.reply.warning(f"Illegal jobtype {word}")
            raise BadArgument(f"invalid {what} parameter")
        codes.append(code)
    return tuple(codes)


def _since(listing):
    """``days=`` / ``hours=`` as the SchedTime a job must be after (hours win, as in Bareos)."""
    hours = listing.number("hours", minimum=0)
    days = listing.number("days", minimum=0)
    if hours is None and days is None:
        return None
    span = timedelta(hours=hours) if hours is not None else timedelta(days=days)
    return datetime.fromtimestamp(listing.director.reactor.seconds()).replace(microsecond=0) - span


def _descending(listing):
    order = listing.value("order")
    if order is None:
        return listing.flag("reverse")
    if order and "ascending".startswith(order.lower()):
        return False
    if order and "descending".startswith(order.lower()):
        return True
    raise BadArgument(f'order="{order}" is not valid: give asc or desc.')


# --- jobs ----------------------------------------------------------------------

def _duration(record, now):
    if record.start_time is None:
        return ""
    end = record.end_time if record.end_time and record.end_time >= record.start_time else now
    seconds = max(0, int((end - record.start_time).total_seconds()))
    return f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def job_row(record, long_format, now):
    """A job as ``list jobs`` (or ``llist jobs``) shows it."""
    if not long_format:
        return {"jobid": record.job_id, "name": record.name, "client": record.client,
                "starttime": record.start_time, "duration": _duration(record, now),
                "type": record.type, "level": record.level, "jobfiles": record.job_files,
                "jobbytes": record.job_bytes, "jobstatus": record.job_status}
    return {"jobid": record.job_id, "job": record.job, "name": record.name,
            "purgedfiles": record.purged_files, "type": record.type, "level": record.level,
            "clientid": record.client_id, "client": record.client,
            "jobstatus": record.job_status, "schedtime": record.sched_time,
            "starttime": record.start_time, "endtime": record.end_time,
            "realendtime": record.real_end_time, "duration": _duration(record, now),
            "jobtdate": record.job_tdate, "volsessionid": record.vol_session_id,
            "volsessiontime": record.vol_session_time, "jobfiles": record.job_files,
            "jobbytes": record.job_bytes, "joberrors": record.job_errors,
            "jobmissingfiles": record.job_missing_files, "poolid": record.pool_id,
            "poolname": record.pool, "priorjobid": record.prior_job_id,
            "filesetid": record.fileset_id, "fileset": record.fileset}


def _job_visible(listing, record):
    """The console's ACLs and the current / enabled / disabled filters on one job."""
    if not (listing.allows("job_acl", record.name) and listing.allows("client_acl", record.client)):
        return False
    if listing.long and not (listing.allows("pool_acl", record.pool)
                             and listing.allows("fileset_acl", record.fileset)):
        return False
    config = listing.director.config
    resource = config.get("job", record.name)
    if listing.flag("current"):
        wanted = [("job", record.name), ("client", record.client)]
        if listing.long:
            wanted += [("pool", record.pool), ("fileset", record.fileset)]
        if any(name and config.get(kind, name) is None for kind, name in wanted):
            return False
    if listing.flag("enabled") or listing.flag("enable"):
        if resource is None or not _enabled(resource):
            return False
    if listing.flag("disabled") or listing.flag("disable"):
        if resource is None or _enabled(resource):
            return False
    return True


def _enabled(resource):
    return bool(getattr(resource, "enabled", True))


async def _select_jobs(listing, query):
    """The jobs of a JobQuery the console may see, paged by limit= / offset=."""
    limit, offset = listing.page()
    if not listing.filters_rows:
        query.limit, query.offset = limit, offset
        return await listing.catalog.query_jobs(query)
    return listing.paged([r for r in await listing.catalog.query_jobs(query)
                          if _job_visible(listing, r)])


async def _emit_jobs(listing, key, query):
    if listing.flag("count"):
        if listing.filters_rows:
            count = len([r for r in await listing.catalog.query_jobs(query)
                         if _job_visible(listing, r)])
        else:
            count = await listing.catalog.count_jobs(query)
        listing.emit(key, [{"count": count}])
        return True
    now = datetime.fromtimestamp(listing.director.reactor.seconds())
    records = await _select_jobs(listing, query)
    listing.emit(key, [job_row(r, listing.long, now) for r in records])
    return True


def _common_job_filters(listing):
    return dict(statuses=_codes(listing, ("jobstatus",), JOB_STATUS_NAMES, "jobstatus"),
                levels=_codes(listing, ("joblevel", "level"), JOB_LEVEL_NAMES, "joblevel"),
                since=_since(listing), descending=_descending(listing))


async def _job_from_arguments(listing):
    """The job ``jobid=`` / ``ujobid=`` names: None when neither is given, False when it
    does not exist or the console may not see it (its Job and Client ACLs)."""
    unique = listing.value("ujobid")
    jobid = None if unique is not None else listing.number("jobid")
    if unique is None and jobid is None:
        return None
    records = await listing.catalog.query_jobs(JobQuery(job_id=jobid, job=unique))
    if not records:
        return False
    record = records[0]
    if not (listing.allows("job_acl", record.name) and listing.allows("client_acl", record.client)):
        return False
    return record


async def _require_known_client(listing, name):
    """``client=`` of list jobs names a client of the catalog the console may see; anything
    else is an error, as in Bareos (a mistyped name must not read as "no jobs")."""
    known = any(c.name == name for c in await listing.catalog.list_clients())
    if not (known and listing.allows("client_acl", name)):
        raise BadArgument(f"invalid client argument: {name}")


_JOB_FILTERS = ("job", "jobname", "client", "jobstatus", "jobtype", "joblevel", "level",
                "volume", "pool", "days", "hours", "last", "count", "limit", "offset", "order",
                "reverse", "current", "enabled", "enable", "disabled", "disable", "ujobid",
                "jobid")


@keyword("jobs", "job", "jobname", "jobid", "ujobid", takes=_JOB_FILTERS)
async def list_jobs(listing):
    if listing.keyword == "jobs" and listing.keyword_value is not None:
        raise BadArgument("'list jobs' takes no value; filter with job=<name>.")
    if listing.keyword != "jobs" and listing.keyword_value is None:
        raise BadArgument(f"Missing {listing.keyword} parameter")
    client = listing.value("client")
    if client is not None:
        await _require_known_client(listing, client)
    query = JobQuery(name=listing.value("jobname", "job"), client=client,
                     types=_codes(listing, ("jobtype",), JOB_TYPE_NAMES, "jobtype"),
                     volume=listing.value("volume"), pool=listing.value("pool"),
                     last=listing.flag("last"), **_common_job_filters(listing))
    job = await _job_from_arguments(listing)
    if job is False:
        # Bareos answers an empty object here, not a list: clients tell "no such job"
        # by the KeyError of ["jobs"][0] (python-bareos' own tests do).
        listing.reply.result("jobs", {})
        listing.send(listing.text([]))
        return True
    if job is not None:
        query.job_id = job.job_id
    return await _emit_jobs(listing, "jobs", query)


@keyword("backups", takes=("client", "fileset", "jobstatus", "level", "joblevel", "order",
                           "limit", "offset", "days", "hours", "current", "enabled", "enable",
                           "disabled", "disable"))
async def list_backups(listing):
    client = listing.value("client")
    if client is None:
        raise BadArgument("missing parameter: client")
    fileset = listing.value("fileset")
    if fileset is not None and fileset.lower() != "any":
        if not listing.session.acl_allows("fileset_acl", fileset):
            raise BadArgument("Access to specified FileSet not allowed.")
        filesets = (fileset,)
    else:
        # Every FileSet of the configuration the console may see.
        filesets = tuple(f.name for f in listing.director.config.resources("fileset")
                         if listing.session.acl_allows("fileset_acl", f.name))
    filters = _common_job_filters(listing)
    filters["statuses"] = filters["statuses"] or tuple(sorted(SUCCESSFUL))
    query = JobQuery(client=client, types=("B", "A", "a"), filesets=filesets, **filters)
    return await _emit_jobs(listing, "backups", query)


@keyword("jobtotals")
async def list_jobtotals(listing):
    per_name, total = await listing.catalog.job_totals()
    rows = [{"jobs": t.jobs, "files": t.files, "bytes": t.bytes, "job": t.name}
            for t in per_name if listing.allows("job_acl", t.name)]
    if not listing.session.is_default:      # the grand total of the jobs it may see
        total = total._replace(jobs=sum(r["jobs"] for r in rows),
                               files=sum(r["files"] for r in rows),
                               bytes=sum(r["bytes"] for r in rows))
    totals = {"jobs": total.jobs, "files": total.files, "bytes": total.bytes}
    listing.reply.result("jobs", [_json_row(r) for r in rows])
    listing.reply.result("jobtotals", _json_row(totals))
    long_format, listing.long = listing.long, False      # Bareos shows tables either way
    listing.send(listing.text(rows) + listing.text([totals]))
    listing.long = long_format
    return True


async def _required_job(listing):
    job = await _job_from_arguments(listing)
    if not job:
        raise BadArgument(_JOB_MISSING if job is False else
                          f"list {listing.keyword}: give jobid=<id> or ujobid=<name>")
    return job


@keyword("files", takes=("jobid", "ujobid"))
async def list_files(listing):
    job = await _required_job(listing)
    files = await listing.catalog.list_files(job.job_id)
    listing.reply.result("filenames", [{"filename": f.filename} for f in files])
    # One name a line, as Bareos prints them.
    listing.send("".join(f.filename + "\n" for f in files))
    return True


@keyword("joblog", takes=("jobid", "ujobid", "count"))
async def list_joblog(listing):
    job = await _required_job(listing)
    entries = await listing.catalog.job_log(job.job_id)
    if listing.flag("count"):
        listing.emit("joblog", [{"count": len(entries)}])
        return True
    rows = [{"time": e.time, "logtext": e.text} for e in entries]
    listing.reply.result("joblog", [_json_row(r) for r in rows])
    if listing.long:
        listing.send(listing.text(rows))
    else:        # the log text as it was written, each entry with its time
        listing.send("".join(f" {_json_value(e.time)} {e.text.rstrip(chr(10))}\n"
                                   for e in entries))
    return True


# ``list log`` without a limit: the newest few entries, as in Bareos.
LOG_ENTRIES_SHOWN = 5


@keyword("log", takes=("client", "reverse", "limit", "offset"))
async def list_log(listing):
    """The newest job log entries of every job (or of one client's), oldest first
    (``reverse``: newest first)."""
    limit, offset = listing.page()
    limit = LOG_ENTRIES_SHOWN if limit is None else limit
    client = listing.value("client")
    if listing.filters_rows:
        entries = [e for e in await listing.catalog.recent_log(client)
                   if listing.allows("job_acl", e.job_name)
                   and listing.allows("client_acl", e.client)]
        entries = entries[offset or 0:(offset or 0) + limit]
    else:
        entries = await listing.catalog.recent_log(client, limit, offset)
    if not listing.flag("reverse"):
        entries.reverse()
    listing.reply.result("log", [_json_row({"logid": e.log_id, "jobname": e.job_name,
                                            "clientname": e.client, "time": e.time,
                                            "logtext": e.text}) for e in entries])
    # In text only the log text, as it was written.
    listing.send("".join(e.text if e.text.endswith("\n") else e.text + "\n" for e in entries))
    return True


@keyword("jobmedia", takes=("jobid", "ujobid"))
async def list_jobmedia(listing):
    job = await _job_from_arguments(listing)
    if job is False:
        raise BadArgument(_JOB_MISSING)
    entries = await listing.catalog.list_jobmedia(job.job_id if job else None)
    if not listing.session.is_default and job is None:
        visible = {r.job_id for r in await listing.catalog.query_jobs(JobQuery())
                   if _job_visible(listing, r)}
        entries = [e for e in entries if e.job_id in visible]
    if listing.long:
        rows = [{"jobmediaid": e.job_media_id, "jobid": e.job_id, "mediaid": e.media_id,
                 "volumename": e.volume_name, "firstindex": e.first_index,
                 "lastindex": e.last_index, "startfile": e.start_file, "endfile": e.end_file,
                 "startblock": e.start_block, "endblock": e.end_block} for e in entries]
    else:
        rows = [{"jobid": e.job_id, "volumename": e.volume_name, "firstindex": e.first_index,
                 "lastindex": e.last_index} for e in entries]
    listing.emit("jobmedia", rows)
    return True


@keyword("copies", takes=("jobid", "limit", "offset"))
async def list_copies(listing):
    job_ids = parse_number_list(listing.value("jobid"), "jobid")
    copies = listing.paged(await listing.catalog.list_copies(job_ids))
    if not copies:           # Bareos answers nothing at all when there are no copies
        return True
    listing.send("These JobIds have copies as follows:\n" if job_ids
                       else "The catalog contains copies as follows:\n")
    listing.emit("copies", [{"jobid": c.prior_job_id, "job": c.job, "copyjobid": c.copy_job_id,
                             "mediatype": c.media_type} for c in copies])
    return True


# --- resources -------------------------------------------------------------------

@keyword("filesets", "fileset", takes=("current", "limit", "offset", "jobid", "ujobid",
                                         "filesetid"))
async def list_filesets(listing):
    """``list filesets``; ``list fileset`` with jobid= / ujobid= (the job's) or filesetid=."""
    fileset_id = None
    if listing.keyword == "fileset":
        fileset_id = listing.number("filesetid")
        job = await _job_from_arguments(listing)
        if job:
            fileset_id = job.fileset_id
        elif fileset_id is None:
            raise BadArgument(_JOB_MISSING + ", or no filesetid= given")
    config = listing.director.config
    rows = [{"filesetid": f.fileset_id, "fileset": f.fileset, "md5": f.md5,
             "createtime": f.create_time, "filesettext": f.text}
            for f in await listing.catalog.list_filesets(fileset_id)
            if listing.allows("fileset_acl", f.fileset)
            and not (listing.flag("current") and config.get("fileset", f.fileset) is None)]
    listing.emit("filesets", listing.paged(rows))
    return True


@keyword("clients", "client", takes=("current", "enabled", "disabled"))
async def list_clients(listing):
    if listing.keyword == "client" and listing.keyword_value is None:
        raise BadArgument("Missing client parameter")
    config = listing.director.config
    clients = sorted(await listing.catalog.list_clients(), key=lambda c: c.client_id)
    rows = []
    for c in clients:
        resource = config.get("client", c.name)
        if (listing.keyword_value is not None and c.name != listing.keyword_value
                or not listing.allows("client_acl", c.name)
                or listing.flag("current") and resource is None
                or listing.flag("enabled") and (resource is None or not _enabled(resource))
                or listing.flag("disabled") and (resource is None or _enabled(resource))):
            continue
        if listing.long:
            rows.append({"clientid": c.client_id, "name": c.name, "uname": c.uname,
                         "autoprune": c.auto_prune, "fileretention": c.file_retention,
                         "jobretention": c.job_retention})
        else:
            rows.append({"clientid": c.client_id, "name": c.name,
                         "fileretention": c.file_retention, "jobretention": c.job_retention})
    listing.emit("clients", rows)
    return True


@keyword("storages", takes=("current", "enabled", "disabled"))
async def list_storages(listing):
    config = listing.director.config
    rows = []
    for s in await listing.catalog.list_storages():
        resource = config.get("storage", s.name)
        if (not listing.allows("storage_acl", s.name)
                or listing.flag("current") and resource is None
                or listing.flag("enabled") and (resource is None or not _enabled(resource))
                or listing.flag("disabled") and (resource is None or _enabled(resource))):
            continue
        rows.append({"storageid": s.storage_id, "name": s.name, "autochanger": s.auto_changer})
    listing.emit("storages", rows)
    return True


def pool_row(pool, long_format):
    if not long_format:
        return {"poolid": pool.pool_id, "name": pool.name, "numvols": pool.num_vols,
                "maxvols": pool.max_vols, "pooltype": pool.pool_type,
                "labelformat": pool.label_format}
    # Use Once, Accept Any Volume, Scratch Pool and Recycle Pool are not kept by this
    # catalog: their columns say "not set".
    return {"poolid": pool.pool_id, "name": pool.name, "numvols": pool.num_vols,
            "maxvols": pool.max_vols, "useonce": 0, "usecatalog": pool.use_catalog,
            "acceptanyvolume": 0, "volretention": pool.vol_retention,
            "voluseduration": pool.vol_use_duration, "maxvoljobs": pool.max_vol_jobs,
            "maxvolbytes": pool.max_vol_bytes, "autoprune": pool.auto_prune,
            "recycle": pool.recycle, "pooltype": pool.pool_type,
            "labelformat": pool.label_format, "enabled": pool.enabled, "scratchpoolid": 0,
            "recyclepoolid": 0, "labeltype": pool.label_type}


@keyword("pools", "pool", "poolid", takes=("current",))
async def list_pools(listing):
    name = pool_id = None
    if listing.keyword == "pool":
        name = listing.keyword_value
    elif listing.keyword == "poolid":
        pool_id = parse_number(listing.keyword_value or "", "poolid")
    config = listing.director.config
    pools = await listing.catalog.list_pools(name=name, pool_id=pool_id)
    rows = [pool_row(p, listing.long) for p in sorted(pools, key=lambda p: p.pool_id)
            if listing.allows("pool_acl", p.name)
            and not (listing.flag("current") and config.get("pool", p.name) is None)]
    listing.emit("pools", rows)
    return True


def volume_row(volume, long_format):
    if not long_format:
        return {"mediaid": volume.media_id, "volumename": volume.volume_name,
                "volstatus": volume.vol_status, "enabled": volume.enabled,
                "volbytes": volume.vol_bytes, "volfiles": volume.vol_files,
                "volretention": volume.vol_retention, "recycle": volume.recycle,
                "slot": volume.slot, "inchanger": volume.in_changer,
                "mediatype": volume.media_type, "lastwritten": volume.last_written,
                "storage": volume.storage, "hasencryptionkey": int(bool(volume.encryption_key))}
    # Device, Location, Recycle Count, Initial Write, Scratch and Recycle Pool are not
    # kept by this catalog: their columns say "not set".
    return {"mediaid": volume.media_id, "volumename": volume.volume_name, "slot": volume.slot,
            "poolid": volume.pool_id, "pool": volume.pool, "mediatype": volume.media_type,
            "firstwritten": volume.first_written, "lastwritten": volume.last_written,
            "labeldate": volume.label_date, "voljobs": volume.vol_jobs,
            "volfiles": volume.vol_files, "volblocks": volume.vol_blocks,
            "volmounts": volume.vol_mounts, "volbytes": volume.vol_bytes,
            "volerrors": volume.vol_errors, "volwrites": volume.vol_writes,
            "volcapacitybytes": volume.vol_capacity_bytes, "volstatus": volume.vol_status,
            "enabled": volume.enabled, "recycle": volume.recycle,
            "volretention": volume.vol_retention, "voluseduration": volume.vol_use_duration,
            "maxvoljobs": volume.max_vol_jobs, "maxvolfiles": volume.max_vol_files,
            "maxvolbytes": volume.max_vol_bytes, "inchanger": volume.in_changer,
            "endfile": volume.end_file, "endblock": volume.end_block,
            "labeltype": volume.label_type, "storageid": volume.storage_id, "deviceid": 0,
            "locationid": 0, "recyclecount": 0, "initialwrite": None, "scratchpoolid": 0,
            "scratchpool": None, "recyclepoolid": 0, "recyclepool": None,
            "comment": volume.comment, "storage": volume.storage}


@keyword("volumes", "volume", "media", takes=("pool", "jobid", "ujobid", "all", "count",
                                              "limit", "offset", "current"))
async def list_volumes(listing):
    catalog = listing.catalog
    if listing.keyword_value is not None:              # list volume=<name>
        volume = await catalog.get_volume(listing.keyword_value)
        await _emit_one_volume(listing, volume)
        return True
    job = await _job_from_arguments(listing)
    if job is False:                 # Bareos answers nothing at all for a job it cannot see
        listing.send(listing.text([]))
        return True
    if job is not None:
        await _emit_volumes_of_job(listing, job)
        return True
    pool = listing.value("pool")
    if pool is not None:
        pools = await catalog.list_pools(name=pool)
        if not pools or not listing.allows("pool_acl", pool):
            raise BadArgument(f"Pool {pool} doesn't exist.")
        volumes = await catalog.list_volumes(pools[0].pool_id)
        _emit_volumes(listing, "volumes", listing.paged(volumes))
        return True
    volumes = [v for v in await catalog.list_volumes() if listing.allows("pool_acl", v.pool)
               and not (listing.flag("current")
                        and listing.director.config.get("pool", v.pool) is None)]
    pools = sorted(await catalog.list_pools(), key=lambda p: p.pool_id)
    if listing.flag("all"):
        # The short form has no pool column, so a console whose Pool ACL hides a pool
        # could not tell whose volumes it sees (Bareos refuses it too).
        if not listing.long and not all(listing.allows("pool_acl", p.name) for p in pools):
            raise BadArgument("Restricted permission: use 'list media' or 'llist media all' "
                              "instead.")
        _emit_volumes(listing, "volumes", listing.paged(volumes))
        return True
    # Grouped by pool, every pool the console may see (also those without volumes).
    grouped, text = {}, []
    for p in pools:
        if not listing.allows("pool_acl", p.name):
            continue
        in_pool = listing.paged([v for v in volumes if v.pool_id == p.pool_id])
        if listing.flag("count"):
            rows = [{"count": len(in_pool)}]
        else:
            rows = [volume_row(v, listing.long) for v in in_pool]
        grouped[p.name.lower()] = [_json_row(r) for r in rows]
        text.append(f"Pool: {p.name}\n" + listing.text(rows))
    listing.reply.result("volumes", grouped)
    listing.send("".join(text))
    return True


def _emit_volumes(listing, key, volumes):
    if listing.flag("count"):
        listing.emit(key, [{"count": len(volumes)}])
    else:
        listing.emit(key, [volume_row(v, listing.long) for v in volumes])


async def _emit_one_volume(listing, volume):
    """``list volume=<name>`` / ``volumeid=<id>``: the JSON object "volume" ({} if none)."""
    rows = []
    if volume is not None and listing.allows("pool_acl", volume.pool):
        rows = [volume_row(volume, listing.long)]
    listing.reply.result("volume", _json_row(rows[0]) if rows else {})
    listing.send(listing.text(rows))


async def _emit_volumes_of_job(listing, job):
    entries = await listing.catalog.jobmedia_for_jobs([job.job_id])
    if listing.long:
        rows = [{"jobmediaid": e.job_media_id, "jobid": e.job_id, "mediaid": e.media_id,
                 "volumename": e.volume_name} for e in entries]
    else:
        names = dict.fromkeys(e.volume_name for e in entries)       # distinct, in order
        rows = [{"volumename": name} for name in names]
    listing.emit("volumes", rows)


@keyword("volumeid", "mediaid")
async def list_volume_by_id(listing):
    media_id = parse_number(listing.keyword_value or "", listing.keyword)
    await _emit_one_volume(listing, await listing.catalog.get_volume(media_id))
    return True


@keyword("nextvol", "nextvolume", takes=("job", "days"))
async def list_nextvol(listing):
    name = listing.value("job")
    job = listing.director.config.get("job", name) if name else None
    if job is None or not listing.session.acl_allows("job_acl", name):
        raise BadArgument(f'list {listing.keyword}: give job=<name> of a Job resource.')
    listing.number("days", minimum=0)            # checked; this director has no look-ahead
    config = listing.director.config
    pool = config.get("pool", job.pool)
    storages = job.storage or (pool.storage if pool else None) or []
    storage = config.get("storage", storages[0]) if storages else None
    if pool is None or storage is None:
        raise BadArgument(f"Could not find next Volume for Job {name}.")
    pool_name = pool.name
    volume = await listing.catalog.find_appendable_volume(pool_name, storage.media_type)
    volume_name = volume.volume_name if volume else await listing.catalog.next_volume_name(
        pool_name)
    if volume_name is None:
        raise BadArgument(f"Could not find next Volume for Job {name}.")
    level = job.level or "Full"
    listing.send(f'The next Volume to be used by Job "{name}" (Pool={pool_name}, '
                       f"Level={level}) will be {volume_name}\n")
    listing.reply.result("nextvol", {"job": name, "pool": pool_name, "level": level,
                                     "volume": volume_name})
    return True


# --- the commands --------------------------------------------------------------------

async def run_listing(session, reply, args, long_format):
    command_name = "llist" if long_format else "list"
    if not args:
        raise BadArgument(f"{command_name} command requires a keyword")
    listing = Listing(session, reply, args, long_format)
    entry = _HANDLERS.get(listing.keyword)
    if listing.keyword in NOT_KEPT:
        raise BadArgument(f"{command_name} {listing.keyword}: {NOT_KEPT[listing.keyword]}")
    if entry is None:
        raise BadArgument(f"Unknown list keyword: {args[0][0]}")
    handler, takes = entry
    unknown = [key for key, _ in args[1:] if key.lower() not in takes]
    if unknown:
        raise BadArgument(f'{command_name} {listing.keyword}: unknown argument "{unknown[0]}"; '
                          f"it takes {', '.join(sorted(takes - {listing.keyword})) or 'none'}.")
    listing.catalog = await session.director.catalog_ready()
    return await handler(listing)


@command("list", "List objects from the catalog", USAGE)
async def list_(session, reply, args):
    return await run_listing(session, reply, args, long_format=False)


@command("llist", "Full or long list like list command", USAGE)
async def llist(session, reply, args):
    return await run_listing(session, reply, args, long_format=True)

