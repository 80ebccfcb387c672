"""A verify job: the file daemon reports files, the director compares them with the catalog.

Levels (Bareos' ``Level =`` of a ``Type = Verify`` job; catalog level codes as Bareos'):

- ``InitCatalog`` (V): the FD walks the FileSet; its attributes are stored as this job's
  files, the base of a later ``Catalog`` verify.
- ``Catalog`` (C): the FD walks the FileSet; compared with the last InitCatalog job's files.
- ``DiskToCatalog`` (d): the FD walks the FileSet; compared with the last backup's files.
- ``VolumeToCatalog`` (O): the SD reads the last backup's volumes (as for a restore), the
  FD recomputes each file's digest from the data it reads; compared with that backup's files.
- ``Data`` (A): read as VolumeToCatalog; the FD checks each recomputed digest against the
  one stored on the volume and reports a mismatch itself; no catalog comparison.

The FD sends each file's attribute record and digest on the director connection, framed
as the storage daemon forwards them (``FileAttributes`` parses both), then
``2800 End Job``.  Each difference is a job message naming the file; the job then ends
``Verify Differences`` (status D), as Bareos' (or worse, when a daemon failed it).
"""

from bareos.catalog.api import name_text
from bareos.director.jobs.backup import send_fileset
from bareos.director.jobs.common import (
    final_status, open_storage_job, send_bootstrap, start_client_job, wait_for_end_job)
from bareos.director.jobs.job import JobFailed
from bareos.director.jobs.restore import bootstrap_lines, read_to_client
from bareos.director.jobs.storage import FileAttributes
from bareos.filedaemon.attributes import decode_lstat
from bareos.protocol.framing import Signal
from bareos.protocol.jobstatus import SUCCESSFUL, JobStatus, prevailing

#: The level word of the FD's ``verify level=`` command, per catalog level code.
FD_LEVELS = {"V": "init", "C": "catalog", "d": "disk_to_catalog", "O": "volume", "A": "data"}
VOLUME_LEVELS = ("O", "A")                 # the SD reads the base backup's volumes
COMPARED_LEVELS = ("C", "d", "O")          # the director compares with the catalog
#: Compared when the FileSet's Options give no ``Verify =``.
DEFAULT_VERIFY_OPTIONS = "pins5"
#: ``Verify =`` letters: which LStat field each compares, and its name in the report.
LSTAT_CHECKS = {"i": ("ino", "inode"), "p": ("mode", "mode"), "n": ("nlink", "links"),
                "u": ("uid", "user"), "g": ("gid", "group"), "s": ("size", "size"),
                "a": ("atime", "atime"), "m": ("mtime", "mtime"), "c": ("ctime", "ctime")}
DIGEST_LETTERS = "15"          # SHA1 / MD5: compare the digest the backup stored
SIZE_DECREASE = "d"
KNOWN_LETTERS = set(LSTAT_CHECKS) | set(DIGEST_LETTERS) | {SIZE_DECREASE}


def verify_options(fileset):
    """The ``Verify =`` letters of the FileSet (its first Options block that has them)."""
    for block in getattr(fileset, "include", None) or []:
        for options in getattr(block, "options", None) or []:
            letters = getattr(options, "verify", None)
            if letters:
                return letters
    return DEFAULT_VERIFY_OPTIONS


async def run_verify(director, job):
    level = job.level
    if level not in FD_LEVELS:
        raise JobFailed(f"Verify level {job.level_name} is not supported by this director.")
    if job.client is None or job.fileset is None:
        raise JobFailed("A verify job needs a Client and a FileSet.")
    messages, catalog = director.messages, director.catalog
    letters = verify_options(job.fileset)
    for letter in sorted(set(letters) - KNOWN_LETTERS):
        messages.job_message(job, "warning", f"Verify option {letter!r} is not compared by this "
                                             f"director; it is ignored.")
    base = await base_files(director, job)
    messages.job_message(job, "info", f"Start Verify JobId={job.jobid} Level={job.level_name} "
                                      f"Job={job.job}")

    reported = []
    attributes = FileAttributes(catalog, job.jobid,
                                store=None if level == "V" else reported.extend)
    if level in VOLUME_LEVELS:
        await read_volumes_on_client(director, job, base, attributes, FD_LEVELS[level])
    else:
        fd = await start_client_job(director, job, "verify", "dummy")   # no SD session
        await send_fileset(fd, job.options["fileset_lines"])
        await fd.command(f"verify level={FD_LEVELS[level]}\n", "2000 OK verify")
        await receive_until_end(job, fd, attributes)
        fd.conn.send_signal(Signal.TERMINATE)
        fd.close()
        job.sd_status = JobStatus.TERMINATED          # no storage daemon took part
    await attributes.finish()
    outcome = final_status(job)
    # Also after a failed read: what was read is compared, what was not is named.
    if level in COMPARED_LEVELS and report_differences(director, job, base, reported, letters):
        outcome = prevailing(outcome, JobStatus.DIFFERENCES)
    return outcome


async def base_files(director, job):
    """What the files are compared with: ``(jobid, {filename: FileEntry})`` (InitCatalog:
    nothing).  As Bareos: Catalog takes this job's last InitCatalog run; the other levels
    the last successful backup of the ``Verify Job`` if one is named, else any backup of
    the client (and, here, of the FileSet)."""
    if job.level == "V":
        return None, {}
    catalog = director.catalog
    verify_job = getattr(job.resource, "verify_job", None)
    if job.level == "C":
        prior = await catalog.last_successful_job(job.name, job.client.name, job.fileset.name,
                                                  levels=("V",), type="V")
        missing = "No InitCatalog verify job of this client and FileSet to compare with."
    else:
        name = getattr(verify_job, "name", verify_job)
        prior = await catalog.last_successful_job(name, job.client.name, job.fileset.name,
                                                  levels=("F", "D", "I"))
        missing = (f"No successful backup of Job {name or '(any)'} for client "
                   f"{job.client.name} and FileSet {job.fileset.name} to verify.")
    if prior is None:
        raise JobFailed(missing)
    job.options["verify_jobid"] = prior.job_id
    director.messages.job_message(job, "info", f"Verifying against JobId={prior.job_id} "
                                               f"Job={prior.job}")
    files = {entry.filename: entry for entry in await catalog.list_files(prior.job_id)
             if entry.file_index > 0}
    return prior.job_id, files


async def receive_until_end(job, fd, attributes):
    """The FD's file reports (into ``attributes``) up to its ``2800 End Job``."""
    await wait_for_end_job(job, fd, on_attributes=attributes.add)


async def read_volumes_on_client(director, job, base, attributes, fd_level):
    """VolumeToCatalog, Data: the SD reads the base backup's volumes to the FD (a
    restore's sessions), which reports each file with the digest of the data it read
    (VolumeToCatalog) or checks that digest itself (Data)."""
    jobid, files = base
    selection = {jobid: {entry.file_index for entry in files.values()}}
    lines = bootstrap_lines(await director.catalog.jobmedia_for_jobs([jobid]), selection)
    if not lines:
        raise JobFailed(f"JobId {jobid} has no data on any volume to verify.")
    sd, key = await open_storage_job(director, job, append=False)
    await send_bootstrap(sd, lines)
    fd = await start_client_job(director, job, "verify", key)
    await read_to_client(director, job, fd, sd, key, f"verify level={fd_level}\n",
                         "2000 OK verify", lambda: receive_until_end(job, fd, attributes))
    fd.conn.send_signal(Signal.TERMINATE)
    fd.close()


def report_differences(director, job, base, reported, letters):
    """One job message per differing, new or missing file (info, as Bareos'); whether
    there was any."""
    _jobid, expected = base
    error = lambda text: director.messages.job_message(job, "info", text)  # noqa: E731
    differences = 0
    seen = set()
    for record in reported:
        filename = name_text(record.path) + name_text(record.name)
        seen.add(filename)
        entry = expected.get(filename)
        if entry is None:
            if job.level != "O":
                error(f"New file: {filename}")
                differences += 1
            continue
        changes = changed_fields(entry, record, letters)
        if changes:
            error(f"{filename}: " + "; ".join(changes))
            differences += 1
    if job.level != "O":
        missing = "File not found"
    elif job.sd_status in SUCCESSFUL:
        missing = "File not found on volume"
    else:
        missing = "File not read back from the volume"       # the read stopped before it
    for filename in sorted(set(expected) - seen):
        error(f"{missing}: {filename}")
        differences += 1
    return differences > 0


def changed_fields(entry, record, letters):
    """What ``Verify =`` compares and differs between the catalog's ``entry`` and ``record``."""
    was, now = decode_lstat(entry.lstat), decode_lstat(record.lstat)
    changes = []
    for letter in letters:
        if letter in LSTAT_CHECKS:
            field, label = LSTAT_CHECKS[letter]
            before, after = getattr(was, field), getattr(now, field)
            if before != after:
                shown = (oct(before), oct(after)) if field == "mode" else (before, after)
                changes.append(f"{label} differs: catalog {shown[0]}, now {shown[1]}")
        elif letter == SIZE_DECREASE and now.size < was.size:
            changes.append(f"size decreased: catalog {was.size}, now {now.size}")
        elif letter in DIGEST_LETTERS and entry.md5 not in ("0", "", None) \
                and record.md5 != entry.md5:
            changes.append("no digest: its data was not read whole" if record.md5 == "0"
                           else f"digest differs: catalog {entry.md5}, now {record.md5}")
    return changes
