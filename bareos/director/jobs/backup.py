"""A backup job: the director's conversation with the storage and the file daemon.

Sequence (PROTOCOL.md §5.1): SD job + device reservation; FD job, level,
fileset and where the SD is (a passive client: the SD is told where the FD is
and dials it, §5.4); SD ``run``; FD ``backup``; then the FD streams to
the SD while the SD forwards attributes and catalog requests to us, until the
FD reports ``2800 End Job`` and the SD ``3099 Job ... end``.
"""

import time

from twisted.internet import defer

from bareos.catalog.api import name_bytes
from bareos.director.jobs.common import (
    epoch, final_status, is_passive, open_storage_job, outlived, start_client_job,
    tell_client_where_storage_is, tell_storage_to_dial_client, wait_for_both_daemons,
    wait_for_end_job)
from bareos.director.jobs.job import JobFailed
from bareos.director.jobs.storage import FileAttributes, StorageJobSession
from bareos.protocol.cram import bash_spaces
from bareos.protocol.framing import Signal

LEVEL_WORDS = {"F": "full", "I": "incremental", "D": "differential"}


async def decide_level(director, job, announce=True):
    """Set ``job.since`` for Incremental/Differential, or upgrade the job to Full.

    ``announce`` puts the decision into the job log (not for estimates).
    """
    if job.level == "F":
        return
    levels = ("F",) if job.level == "D" else ("F", "D", "I")
    prior_full = await director.catalog.last_successful_job(
        job.name, job.client.name, job.fileset.name, levels=("F",))
    if prior_full is None:
        job.level = "F"
        job.pool = director.pool_for_level(job.resource, "F", job.pool)
        if announce:
            director.messages.job_message(
                job, "info", "No prior Full backup Job record found.\nNo prior or suitable Full "
                             "backup found in catalog for the current FileSet. Doing FULL backup.")
            await director.catalog.update_job(job.jobid, level="F")
        return
    prior = await director.catalog.last_successful_job(
        job.name, job.client.name, job.fileset.name, levels=levels)
    job.since, job.prev_job = epoch(prior.start_time), prior.job
    if announce:
        director.messages.job_message(
            job, "info", f"Prior job {prior.job} (JobId {prior.job_id}) gives the since time "
                         f"{time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(job.since))}")


def is_accurate(job):
    return bool(job.resource.accurate) and job.level != "F"


async def send_level(fd, job):
    if job.level == "F":
        await fd.command("level = full  mtime_only=0 \n", "2000 OK level")
        return
    accurate = "accurate_" if is_accurate(job) else ""
    fd.send(f"level = {accurate}{LEVEL_WORDS[job.level]}  mtime_only=0 \n")
    fd.send(f"level = since_utime {int(job.since)} mtime_only=0 prev_job={bash_spaces(job.prev_job)}\n")
    while True:
        packet = await fd.receive()
        if packet == Signal.BTIME:
            fd.send(f"btime {int(job.clock.seconds() * 1_000_000)}\n")
        elif isinstance(packet, bytes):
            reply = packet.decode("utf-8", "replace")
            if reply.startswith("2000 OK level"):
                return
            raise JobFailed(f"File daemon refused the level: {reply.strip()}")


async def send_fileset(fd, lines):
    fd.send("fileset\n")
    for line in lines:
        fd.send(line)
    fd.conn.send_signal(Signal.EOD)
    reply = await fd.receive_line()
    if not reply.startswith("2000 OK include"):
        raise JobFailed(f"File daemon refused the FileSet: {reply.strip()}")


async def send_accurate_list(director, job, fd):
    """Accurate mode: tell the FD every file the backup chain so far holds.

    The FD then saves what is new or changed and reports what was deleted, so
    a restore of this point in time leaves deleted files out.  The base is the
    whole chain for an Incremental and the Full alone for a Differential.
    """
    catalog = director.catalog
    if job.level == "D":
        full = await catalog.last_successful_job(job.name, job.client.name, job.fileset.name,
                                                 levels=("F",))
        entries = [(f.filename, f.lstat, f.md5) for f in await catalog.list_files(full.job_id)
                   if f.file_index > 0]
    else:
        selection = await catalog.restore_selection(job.client.name, job.fileset.name)
        entries = [(f.filename, f.lstat, f.md5) for f in selection.files]
    fd.send(f"accurate files={len(entries)}\n")
    for filename, lstat, md5 in entries:
        digest = "" if md5 in ("0", None) else md5
        fd.send(name_bytes(filename) + b"\x00" + lstat.encode() + b"\x00"
                + digest.encode() + b"\x000")
    fd.conn.send_signal(Signal.EOD)


async def run_backup(director, job):
    await decide_level(director, job)
    messages = director.messages
    messages.job_message(job, "info", f"Start Backup JobId {job.jobid}, Job={job.job}")

    sd, key = await open_storage_job(director, job, append=True)
    fd = await start_client_job(director, job, "backup", key)
    await director.catalog.ensure_client(job.client.name, uname=job.client_uname)
    await send_level(fd, job)
    await send_fileset(fd, job.options["fileset_lines"])
    if is_accurate(job):
        await send_accurate_list(director, job, fd)

    if is_passive(job):
        await tell_storage_to_dial_client(director, job, sd)
    else:
        await tell_client_where_storage_is(director, job, fd, sd)

    attributes = FileAttributes(director.catalog, job.jobid)
    session = StorageJobSession(director, job, sd, attributes)
    sd.send("run")
    serving = defer.ensureDeferred(session.serve())
    try:
        await fd.command("backup FileIndex=0\n", "2000 OK backup")
        fd_report = defer.ensureDeferred(wait_for_end_job(job, fd))
        await wait_for_both_daemons(director, job, fd, fd_report, sd, serving)
    except BaseException:
        outlived(serving, job, "storage daemon session")
        raise
    finally:
        fd.conn.send_signal(Signal.TERMINATE)
        fd.close()
    sd.close()
    await attributes.finish()
    return final_status(job)
