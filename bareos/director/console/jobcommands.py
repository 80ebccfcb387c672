"""Console commands about jobs and the catalog: run, list, wait, cancel, ... (restore: restore.py)

Registered into the command table of ``commands``.
"""

import time
from datetime import datetime

from bareos.director.console import status as status_report
from bareos.director.console.arguments import parse_number
from bareos.director.console.commands import _keyword, command, format_table
from bareos.director.jobs.backup import decide_level, send_fileset, send_level
from bareos.director.jobs.common import client_link
from bareos.director.jobs.job import JobFailed
from bareos.director.jobs.manager import new_job
from bareos.director.links import (
    DaemonUnreachable, ProtocolViolation, connect_storage, query_status)
from bareos.filedaemon.fileset import fileset_to_lines
from bareos.protocol.connection import ConnectionClosed, ReceiveTimeout
from bareos.protocol.cram import bash_spaces
from bareos.protocol.framing import Signal

JOB_COLUMNS = ["jobid", "name", "client", "starttime", "duration", "type", "level", "jobfiles",
               "jobbytes", "jobstatus"]


def _resource(session, reply, kind, name, acl):
    resource = session.director.config.get(kind, name)
    if resource is None or not session.acl_allows(acl, name):
        reply.error(f'{kind.capitalize()} "{name}" not found.')
        return None
    return resource


async def _catalog(session):
    return await session.director.catalog_ready()


@command("cancel", "Cancel a job", "jobid=<id> | job=<name>")
async def cancel(session, reply, args):
    director = session.director
    jobid = parse_number(_keyword(args, "jobid"), "jobid")
    name = _keyword(args, "job")
    job = director.jobs.find(jobid=jobid, job=name)
    if job is None or job.is_final:
        reply.error(f"No running job matches "
                    f"{f'jobid={jobid}' if jobid is not None else f'job={name}'}.")
        return False
    if not session.acl_allows("job_acl", job.name):
        reply.error(f"No running job matches jobid={job.jobid}.")
        return False
    await director.jobs.cancel(job)
    reply.send(f"JobId {job.jobid}, Job {job.job} marked to be canceled.\n")
    reply.result("cancel", {"jobid": job.jobid, "job": job.job})
    return True


@command("delete", "Delete a job and its file records from the catalog", "jobid=<id>")
async def delete(session, reply, args):
    catalog = await _catalog(session)
    jobid = parse_number(_keyword(args, "jobid"), "jobid")
    if jobid is None:
        reply.error("delete: give jobid=<id>")
        return False
    if not await catalog.delete_job(jobid):
        reply.error(f"JobId {jobid} not found in the catalog.")
        return False
    reply.send(f"JobId {jobid} and associated records deleted from the catalog.\n")
    reply.result("deleted", {"jobid": jobid})
    return True


@command("estimate", "Estimate the files and bytes a backup would save",
         "job=<name> [level=<level>] [client=<name>] [fileset=<name>] [listing]")
async def estimate(session, reply, args):
    director = session.director
    job_name = _keyword(args, "job")
    resource = _resource(session, reply, "job", job_name or "", "job_acl")
    if resource is None:
        return False
    job = new_job(director, resource, level=_keyword(args, "level"),
                  client=_optional(session, args, "client"), fileset=_optional(session, args, "fileset"))
    listing = _keyword(args, "listing") is not None
    if job.level != "F":
        await _catalog(session)
        await decide_level(director, job, announce=False)
    try:
        link, _how = await client_link(director, job.client, 15, retry_interval=1)
    except DaemonUnreachable as exc:
        reply.error(str(exc))
        return False
    try:
        await link.command(f"JobId=0 Job={job.name}.estimate SDid=0 SDtime=0 "
                           f"Authorization=dummy ssl=0\n", "2000 OK Job")
        await send_level(link, job)
        await send_fileset(link, fileset_to_lines(job.fileset))
        link.send(f"estimate listing={int(listing)}\n")
        output = await query_lines(link)
    except (ProtocolViolation, ConnectionClosed, ReceiveTimeout, JobFailed) as exc:
        reply.error(f"Estimate failed: {exc}")
        return False
    finally:
        link.close()
    for line in output:
        reply.send(line if line.endswith("\n") else line + "\n")
    reply.result("estimate", {"lines": output})
    return True


async def query_lines(link):
    lines = []
    while True:
        packet = await link.receive(120)
        if isinstance(packet, bytes):
            lines.append(packet.decode("utf-8", "replace"))
        elif packet in (Signal.EOD, Signal.TERMINATE):
            return lines


def _optional(session, args, kind):
    name = _keyword(args, kind)
    return session.director.config.get(kind, name) if name else None


@command("label", "Label a new volume", "storage=<name> volume=<name> pool=<name>")
async def label(session, reply, args):
    director = session.director
    catalog = await _catalog(session)
    storage = _resource(session, reply, "storage", _keyword(args, "storage") or
                        (director.config.resources("storage")[0].name
                         if director.config.resources("storage") else ""), "storage_acl")
    volume = _keyword(args, "volume")
    pool = _resource(session, reply, "pool", _keyword(args, "pool") or "", "pool_acl")
    if storage is None or pool is None or not volume:
        if not volume:
            reply.error("label: give volume=<name>")
        return False
    if await catalog.get_volume(volume) is not None:
        reply.error(f'Volume "{volume}" already exists in the catalog.')
        return False
    try:
        link = await connect_storage(director, storage, timeout=15, retry_interval=1)
    except DaemonUnreachable as exc:
        reply.error(str(exc))
        return False
    try:
        device = storage.device[0]
        answer = await link.command(
            f"label {bash_spaces(device)} VolumeName={bash_spaces(volume)} "
            f"PoolName={bash_spaces(pool.name)} MediaType={bash_spaces(storage.media_type)} "
            f"Slot=0 drive=0\n", "3000 OK label")
    except (ProtocolViolation, ConnectionClosed, ReceiveTimeout) as exc:
        reply.error(f"Label failed: {exc}")
        return False
    finally:
        link.close()
    storage_id = await catalog.ensure_storage(storage.name)
    await catalog.create_volume(volume, pool.name, storage.media_type, storage_id=storage_id,
                                label_date=datetime.now().replace(microsecond=0))
    reply.send(f"{answer.strip()}\nCatalog record for Volume \"{volume}\", Slot 0 successfully created.\n")
    reply.result("label", {"volume": volume, "pool": pool.name})
    return True


def _job_row(record):
    duration = ""
    if record.start_time and record.end_time:
        seconds = int((record.end_time - record.start_time).total_seconds())
        duration = time.strftime("%H:%M:%S", time.gmtime(seconds))
    return {"jobid": str(record.job_id), "name": record.name, "client": record.client or "",
            "starttime": str(record.start_time or ""), "duration": duration,
            "type": record.type, "level": record.level, "jobfiles": str(record.job_files),
            "jobbytes": str(record.job_bytes), "jobstatus": record.job_status}


async def _list(session, reply, args, long_format):
    catalog = await _catalog(session)
    what = args[0][0].lower() if args else ""
    value = args[0][1] if args else None
    if what in ("jobs", "job") or what == "jobid":
        jobid = parse_number(value, "jobid") if what == "jobid" else None
        limit = parse_number(_keyword(args, "limit"), "limit", minimum=0)
        records = await catalog.list_jobs(
            job_id=jobid, client=_keyword(args, "client"), name=_keyword(args, "job"),
            status=_keyword(args, "jobstatus"), limit=limit or None)
        rows = [_job_row(r) for r in records if session.acl_allows("job_acl", r.name)]
        if long_format:
            for record, row in zip(records, rows):
                row.update(job=record.job, readbytes=str(record.read_bytes),
                           joberrors=str(record.job_errors), volsessionid=str(record.vol_session_id),
                           volsessiontime=str(record.vol_session_time), pool=record.pool or "",
                           fileset=record.fileset or "", schedtime=str(record.sched_time or ""),
                           endtime=str(record.end_time or ""))
        reply.result("jobs", rows)
        _show_rows(reply, rows, JOB_COLUMNS, long_format)
        return True
    if what == "files":
        jobid = parse_number(_keyword(args, "jobid"), "jobid")
        if jobid is None:
            reply.error("list files: give jobid=<id>")
            return False
        files = await catalog.list_files(jobid)
        rows = [{"filename": f.filename} for f in files]
        reply.result("filenames", rows)
        _show_rows(reply, rows, ["filename"], long_format)
        return True
    if what in ("volumes", "volume", "media"):
        volumes = await catalog.list_volumes(_keyword(args, "pool"))
        rows = [{"mediaid": str(v.media_id), "volumename": v.volume_name,
                 "volstatus": v.vol_status, "enabled": str(v.enabled),
                 "volbytes": str(v.vol_bytes), "volfiles": str(v.vol_files),
                 "voljobs": str(v.vol_jobs), "mediatype": v.media_type,
                 "pool": v.pool or "", "lastwritten": str(v.last_written or "")}
                for v in volumes]
        reply.result("volumes", rows)
        _show_rows(reply, rows, ["mediaid", "volumename", "volstatus", "enabled", "volbytes",
                                 "volfiles", "voljobs", "mediatype", "pool", "lastwritten"],
                   long_format)
        return True
    if what in ("pools", "pool"):
        pools = await catalog.list_pools()
        rows = [{"poolid": str(p.pool_id), "name": p.name, "numvols": str(p.num_vols),
                 "maxvols": str(p.max_vols), "pooltype": p.pool_type,
                 "labelformat": p.label_format or ""} for p in pools
                if session.acl_allows("pool_acl", p.name)]
        reply.result("pools", rows)
        _show_rows(reply, rows, ["poolid", "name", "numvols", "maxvols", "pooltype",
                                 "labelformat"], long_format)
        return True
    if what in ("clients", "client"):
        clients = await catalog.list_clients()
        rows = [{"clientid": str(c.client_id), "name": c.name, "uname": c.uname or "",
                 "autoprune": str(c.auto_prune), "fileretention": str(c.file_retention),
                 "jobretention": str(c.job_retention)} for c in clients
                if session.acl_allows("client_acl", c.name)]
        reply.result("clients", rows)
        _show_rows(reply, rows, ["clientid", "name", "uname", "autoprune", "fileretention",
                                 "jobretention"], long_format)
        return True
    reply.error(f"list: unknown keyword {what!r}; try jobs, jobid=, files jobid=, volumes, "
                f"pools, clients")
    return False


def _show_rows(reply, rows, columns, long_format):
    if not long_format:
        reply.send(format_table(columns, rows))
        return
    for row in rows:
        width = max(len(k) for k in row) + 1
        reply.send("".join(f"{k:>{width}}: {v}\n" for k, v in row.items()) + "\n")


@command("list", "List objects from the catalog",
         "jobs | jobid=<id> | files jobid=<id> | volumes [pool=<name>] | pools | clients")
async def list_(session, reply, args):
    return await _list(session, reply, args, long_format=False)


@command("llist", "List objects from the catalog, all columns", "as list")
async def llist(session, reply, args):
    return await _list(session, reply, args, long_format=True)


@command("messages", "Show pending job messages")
async def messages(session, reply, args):
    pending = session.director.messages.take_console_messages()
    if not pending:
        reply.send("You have no messages.\n")
    for line in pending:
        reply.send(line if line.endswith("\n") else line + "\n")
    reply.result("messages", pending)
    return True


@command("run", "Run a job", "job=<name> [level=<level>] [client=<name>] [fileset=<name>] "
                             "[pool=<name>] [storage=<name>] [priority=<n>] [yes]")
async def run(session, reply, args):
    director = session.director
    await _catalog(session)
    resource = _resource(session, reply, "job", _keyword(args, "job") or "", "job_acl")
    if resource is None:
        return False
    level = _keyword(args, "level")
    if level and level.lower() not in ("full", "incremental", "differential"):
        reply.error(f"Level {level} not valid.")
        return False
    try:
        job = new_job(director, resource, level=level,
                      client=_optional(session, args, "client"),
                      fileset=_optional(session, args, "fileset"),
                      pool=_optional(session, args, "pool"),
                      storage=_optional(session, args, "storage"),
                      priority=parse_number(_keyword(args, "priority"), "priority"))
    except JobFailed as exc:
        reply.error(str(exc))
        return False
    if _keyword(args, "yes") is None and not await session.confirm(
            _run_summary(job) + "OK to run? (yes/no): ", reply):
        reply.send("Job not run.\n")
        return False
    await director.jobs.submit(job)
    reply.send(f"Job queued. JobId={job.jobid}\n")
    reply.result("run", {"jobid": job.jobid})
    return True


def _run_summary(job):
    return (f"Run {job.type_name} job\nJobName:  {job.name}\nLevel:    {job.level_name}\n"
            f"Client:   {job.client.name}\nFileSet:  {job.fileset.name if job.fileset else ''}\n"
            f"Pool:     {job.pool.name if job.pool else ''}\n"
            f"Storage:  {job.storage.name if job.storage else ''}\nPriority: {job.priority}\n")


@command("wait", "Wait until jobs have finished", "[jobid=<id>]")
async def wait(session, reply, args):
    director = session.director
    jobid = parse_number(_keyword(args, "jobid"), "jobid")
    if jobid is not None:
        job = director.jobs.find(jobid=jobid)
        if job is None:
            reply.error(f"JobId {jobid} not found.")
            return False
        await job.finished()
        reply.send(f"JobId={job.jobid}\nJobStatus={job.status.text} ({job.status})\n")
        reply.result("wait", {"jobid": job.jobid, "jobstatus": job.status})
        return True
    await director.jobs.wait_all()
    return True


async def status_of_daemon(session, reply, kind, name):
    director = session.director
    resource = _resource(session, reply, kind, name, f"{kind}_acl")
    if resource is None:
        return False
    try:
        if kind == "client":
            link, _how = await client_link(director, resource, 15, retry_interval=1)
        else:
            link = await connect_storage(director, resource, timeout=15, retry_interval=1)
    except DaemonUnreachable as exc:
        reply.error(f"Failed to connect to {kind.capitalize()} {name}: {exc}")
        return False
    try:
        text = await query_status(link)
    except (ConnectionClosed, ReceiveTimeout) as exc:
        reply.error(f"{kind.capitalize()} {name} did not answer: {exc}")
        return False
    finally:
        link.close()
    reply.send(text.lstrip("\n"))
    reply.result("status", text)
    return True


@command("status", "Report the status of the director, a client or a storage",
         "[director | client=<name> | storage=<name>]")
async def status(session, reply, args):
    target = args[0][0].lower() if args else "director"
    if target in ("client", "storage") and args[0][1]:
        return await status_of_daemon(session, reply, target, args[0][1])
    if target in ("director", "dir", "all"):
        report = status_report.director_status(session.director)
        reply.send(status_report.render_text(report))
        for key in ("header", "scheduled", "running", "terminated", "client-connection"):
            reply.result(key, report[key])
        return True
    reply.error(f"status: unknown or not yet supported target {target!r}")
    return False
