"""A restore job: bootstrap to the storage daemon, records from it to the file daemon.

Sequence (PROTOCOL.md §5.2): SD job, read reservation and the bootstrap (which
volumes, sessions, addresses and FileIndexes to read); FD job; SD ``run``; FD
``storage ...`` (a passive client: FD ``setauthorization``, SD ``passive client``,
then SD ``run``) and ``restore ...``; the FD reads from the SD and writes files,
says ``2000 OK storage end``; after the SD's ``3099`` we send ``endrestore`` and
the FD reports ``2800 End Job``.
"""

from twisted.internet import defer

from bareos.director.jobs.common import (
    final_status, is_passive, open_storage_job, outlived, send_bootstrap, start_client_job,
    tell_client_where_storage_is, tell_storage_to_dial_client, wait_for_both_daemons,
    wait_for_end_job)
from bareos.director.jobs.job import JobFailed
from bareos.director.jobs.storage import StorageJobSession
from bareos.protocol.cram import bash_spaces
from bareos.protocol.framing import Signal

REPLACE_CODES = {"always": "a", "ifnewer": "w", "ifolder": "o", "never": "n"}


def index_ranges(indexes):
    """Sorted FileIndexes as ``[(first, last), ...]`` runs."""
    runs = []
    for index in sorted(set(indexes)):
        if runs and runs[-1][1] == index - 1:
            runs[-1][1] = index
        else:
            runs.append([index, index])
    return [tuple(run) for run in runs]


def bootstrap_lines(jobmedia, selected):
    """The bootstrap for the storage daemon: one block per volume part that holds selected files.

    ``selected``: {JobId: set of FileIndexes}.
    """
    lines = []
    for entry in jobmedia:
        wanted = [i for i in selected.get(entry.job_id, ())
                  if entry.first_index <= i <= entry.last_index]
        if not wanted:
            continue
        start = (entry.start_file << 32) | entry.start_block
        end = (entry.end_file << 32) | entry.end_block
        lines += [f'Volume="{entry.volume_name}"', f'MediaType="{entry.media_type}"',
                  f"VolSessionId={entry.vol_session_id}",
                  f"VolSessionTime={entry.vol_session_time}", f"VolAddr={start}-{end}"]
        lines += [f"FileIndex={a}" if a == b else f"FileIndex={a}-{b}" for a, b in index_ranges(wanted)]
        lines.append(f"Count={len(set(wanted))}")
    return lines


async def run_restore(director, job):
    selected = job.options["selection"]            # {JobId: set of FileIndexes}
    messages = director.messages
    jobmedia = await director.catalog.jobmedia_for_jobs(sorted(selected))
    lines = bootstrap_lines(jobmedia, selected)
    if not lines:
        raise JobFailed("Nothing to restore: the selected jobs have no data on any volume.")
    job.options["expected_files"] = sum(len(v) for v in selected.values())
    messages.job_message(job, "info", f"Start Restore Job {job.job}")

    sd, key = await open_storage_job(director, job, append=False)
    await send_bootstrap(sd, lines)
    fd = await start_client_job(director, job, "restore", key)
    where = job.options.get("where") or ""
    replace = REPLACE_CODES[job.options.get("replace", "always").lower()]
    await read_to_client(director, job, fd, sd, key,
                         f"restore replace={replace} prelinks=0 where={bash_spaces(where)}\n",
                         "2000 OK restore", lambda: wait_for_end_job(job, fd))
    if job.options.get("storage_end"):
        fd.send("endrestore")
        await wait_for_end_job(job, fd)     # the SD ended OK: bounded by the FD's connection
    fd.conn.send_signal(Signal.TERMINATE)
    fd.close()
    return final_status(job)


async def read_to_client(director, job, fd, sd, key, command, expected, fd_report):
    """Run a read job (bootstrap sent, FD job started with the SD session ``key``): connect
    the FD with the SD, start the SD, send the FD ``command`` (answered ``expected``), and
    wait for both daemons' reports, the FD's by the coroutine ``fd_report()``."""
    session = StorageJobSession(director, job, sd)
    if is_passive(job):
        # §5.4: the FD gets the key, the SD dials it, then the SD job runs
        await fd.command(f"setauthorization Authorization={key}\n", "2000 OK Authorization")
        await tell_storage_to_dial_client(director, job, sd)
    sd.send("run")
    serving = defer.ensureDeferred(session.serve())
    try:
        if not is_passive(job):
            await tell_client_where_storage_is(director, job, fd, sd, authorization=key)
        await fd.command(command, expected)
        await wait_for_both_daemons(director, job, fd, defer.ensureDeferred(fd_report()), sd,
                                    serving)
    except BaseException:
        outlived(serving, job, "storage daemon session")
        raise
    sd.close()
