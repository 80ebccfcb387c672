"""Console commands about jobs and the catalog: run, wait, cancel, ...

(list and llist are in ``listing``, restore in ``restore``.)

Registered into the command table of ``commands``.
"""

from datetime import datetime

from bareos.director.console import status as status_report
from bareos.director.console import subscription
from bareos.director.console.arguments import BadArgument, parse_number
from bareos.director.console.commands import _keyword, command, refuse_unknown
from bareos.director.jobs.backup import decide_level, send_fileset, send_level
from bareos.director.jobs.common import client_link
from bareos.director.jobs.job import LEVEL_CODES, VERIFY_LEVEL_CODES, JobFailed
from bareos.director.jobs.manager import new_job
from bareos.director.links import (
    DaemonUnreachable, ProtocolViolation, connect_storage, query_status)
from bareos.filedaemon.fileset import fileset_to_lines
from bareos.protocol.connection import ConnectionClosed, ReceiveTimeout
from bareos.protocol.cram import bash_spaces
from bareos.protocol.framing import Signal
from bareos.protocol.jobstatus import STOPPING, SUCCESSFUL, JobStatus

def _resource(session, reply, kind, name, acl):
    resource = session.director.config.get(kind, name)
    if resource is None or not session.acl_allows(acl, name):
        reply.error(f'{kind.capitalize()} "{name}" not found.')
        return None
    return resource


#: The resources a job uses and the ACL each must pass, as Bareos checks them before a job
#: is run (the job's own defaults included, not only what the command line names).
_JOB_RESOURCE_ACLS = (("client", "client_acl", "Client"), ("fileset", "fileset_acl", "FileSet"),
                      ("pool", "pool_acl", "Pool"), ("storage", "storage_acl", "Storage"))


def _authorized(session, reply, job, uses=("client", "fileset", "pool", "storage")):
    """True when the console's ACLs allow every resource of ``job`` it ``uses``."""
    for attribute, acl, label in _JOB_RESOURCE_ACLS:
        resource = getattr(job, attribute, None) if attribute in uses else None
        if resource is not None and not session.acl_allows(acl, resource.name):
            reply.error(f'No authorization. {label} "{resource.name}".')
            return False
    return True


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
    if not _authorized(session, reply, job, uses=("client", "fileset")):   # no volumes read
        return False
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
    """The resource a ``kind=<name>`` argument names, None when not given; a name that is
    not defined or that the console's ACL hides is refused (BadArgument), never ignored."""
    name = _keyword(args, kind)
    if not name:
        return None
    resource = session.director.config.get(kind, name)
    if resource is None or not session.acl_allows(f"{kind}_acl", name):
        raise BadArgument(f'{resource.type if resource else kind.capitalize()} "{name}" '
                          f'not found.')
    return resource


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
    levels = VERIFY_LEVEL_CODES if resource.job_type.lower() == "verify" else LEVEL_CODES
    if level and level.lower() not in levels:
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
    if not _authorized(session, reply, job):
        return False
    if _keyword(args, "yes") is None and not await session.confirm(
            _run_summary(job) + "OK to run? (yes/no): ", reply):
        reply.send("Job not run.\n")
        return False
    await director.jobs.submit(job)
    reply.send(f"Job queued. JobId={job.jobid}\n")
    reply.result("run", {"jobid": str(job.jobid)})      # a string in Bareos' JSON
    return True


def _run_summary(job):
    return (f"Run {job.type_name} job\nJobName:  {job.name}\nLevel:    {job.level_name}\n"
            f"Client:   {job.client.name}\nFileSet:  {job.fileset.name if job.fileset else ''}\n"
            f"Pool:     {job.pool.name if job.pool else ''}\n"
            f"Storage:  {job.storage.name if job.storage else ''}\nPriority: {job.priority}\n")


@command("wait", "Wait until jobs have finished",
         "[jobid=<id> | job=<name> | jobname=<name> | ujobid=<unique name>]")
async def wait(session, reply, args):
    """Without arguments: until no job runs.  With a job: until it has ended, then its
    status (a job this director no longer holds in memory: as the catalog has it)."""
    director = session.director
    if refuse_unknown(reply, "wait", args, ("jobid", "job", "jobname", "ujobid")):
        return False
    if not args:
        await director.jobs.wait_all()
        return True
    jobid = parse_number(_keyword(args, "jobid"), "jobid")
    name = _keyword(args, "job", "jobname", "ujobid")
    job = director.jobs.find(jobid=jobid, job=name)
    record = None
    if job is None and jobid is not None:
        record = await (await _catalog(session)).get_job(jobid)
    found = job or record
    if found is None or not session.acl_allows("job_acl", found.name):
        reply.error("ERR: Job was not found")
        return False
    if job is not None:
        await job.finished()
        jobid, status = job.jobid, job.status
    else:
        status = JobStatus(record.job_status)
    reply.send(f"JobId={jobid}\nJobStatus={status.text} ({status})\n")
    reply.result("job", {"jobid": jobid, "jobstatuslong": status.text, "jobstatus": status,
                         "exitstatus": _exit_status(status)})
    return True


def _exit_status(status):
    """``wait``'s exit status, as a monitoring plugin reads it: 0 OK, 1 warning,
    2 critical, 3 unknown."""
    if status in SUCCESSFUL:
        return 0
    if status == JobStatus.ERROR:
        return 1
    if status in STOPPING:                  # a fatal error or a cancel
        return 2
    return 3


async def status_of_daemon(session, reply, kind, name):
    director = session.director
    resource = _resource(session, reply, kind, name, f"{kind}_acl")
    if resource is None:
        return False
    if kind == "client" and resource.enabled is False:
        reply.send(f'Client "{name}" is disabled; skipping status call\n')
        return True
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


def _visible_rows(session, report):
    """The director's status with only the jobs the console's Job ACL shows.  As in Bareos,
    the Client ACL does not hide jobs here: a tray monitor's console (Command ACL status,
    .status; Job ACL *all*) sees every job without being allowed to ask any client."""
    if session.is_default:
        return report
    jobs = session.director.jobs
    hidden = {job.jobid for job in list(jobs.running.values()) + jobs.waiting + list(jobs.terminated)
              if not session.acl_allows("job_acl", job.name)}
    report = dict(report)
    report["scheduled"] = [row for row in report["scheduled"]
                           if session.acl_allows("job_acl", row["name"])]
    for section in ("running", "terminated"):
        report[section] = [row for row in report[section] if row["jobid"] not in hidden]
    return report


@command("status", "Report the status of the director, a client or a storage",
         "[director | client=<name> | storage=<name> | subscriptions [all | clients | plugins"
         " | anonymize | client=<name>]]")
async def status(session, reply, args):
    target = args[0][0].lower() if args else "director"
    if target in ("client", "storage") and args[0][1]:
        return await status_of_daemon(session, reply, target, args[0][1])
    if target.startswith("sub"):
        return await subscription.status_subscription(session, reply, args)
    if target in ("director", "dir", "all"):
        report = _visible_rows(session, status_report.director_status(session.director))
        reply.send(status_report.render_text(report))
        for key in ("header", "scheduled", "running", "terminated", "client-connection"):
            reply.result(key, status_report.json_part(report, key))
        return True
    reply.error(f"status: unknown or not yet supported target {target!r}")
    return False
