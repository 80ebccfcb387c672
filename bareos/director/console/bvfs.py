"""The bvfs console commands: browse backups by directory and make restore lists, as the
Bareos WebUI's restore page does (Bareos ``ua_dotcmds`` / ``cats/bvfs``).

    .bvfs_update [jobid=1,2]                    build the directory cache of jobs
    .bvfs_get_jobids jobid=N [all]              the jobs a restore of N's state reads
    .bvfs_lsdirs jobid=1,2 path=/etc/ | pathid=N [limit= offset=]
    .bvfs_lsfiles jobid=1,2 path=... | pathid=N [pattern=<regex>] [limit= offset=]
    .bvfs_versions jobid=0 client=X path=... | pathid=N fname=<name> [copies] [versions]
    .bvfs_restore path=b2<n> jobid=1,2 [fileid=...] [dirid=...] [hardlink=jobid,fileindex,...]
    .bvfs_cleanup path=b2<n>
    .bvfs_clear_cache yes

Text output (api 0 and 1) is Bareos' tab-separated rows; api 2 the same rows as objects
with Bareos' lower-case keys and a decoded ``stat``.  A restore list ``b2<n>`` is then
restored with ``restore file=?b2<n> ...`` (restore.py).
"""

from __future__ import annotations

import re

from bareos.catalog import bvfs as catalog_bvfs
from bareos.director.console.arguments import BadArgument, parse_number, parse_number_list
from bareos.director.console.commands import _keyword, command
from bareos.director.console.jobcommands import _catalog
from bareos.director.restoretree import group_name, user_name
from bareos.filedaemon.attributes import decode_lstat

DEFAULT_LIMIT = 2000
EMPTY_LSTAT = "A A A A A A A A A A A A A A"
_LISTING_KEYWORDS = {"jobid", "path", "pathid", "limit", "offset"}


def _check_keywords(args, allowed):
    for key, _value in args:
        if key.lower() not in allowed:
            raise BadArgument(f"Unknown keyword: {key}")


def _listing_args(args, allowed):
    """jobid, path, pathid, limit and offset; ``limit 10`` and ``offset 5`` (the value as the
    next word) work as ``limit=10``, as clients write them both ways."""
    values, rest = {}, []
    words = list(args)
    index = 0
    while index < len(words):
        key, value = words[index]
        key = key.lower()
        if key in ("limit", "offset") and value is None and index + 1 < len(words):
            value = words[index + 1][0]
            index += 1
        if key in ("limit", "offset"):
            values[key] = parse_number(value, key, minimum=0)
        else:
            rest.append((key, value))
        index += 1
    _check_keywords(rest, allowed)
    return (values.get("limit", DEFAULT_LIMIT), values.get("offset", 0), rest)


async def _permitted_job_ids(session, reply, catalog, text):
    """The JobIds of ``text`` this console may see (Job and Client ACLs); None after an
    error was replied."""
    try:
        ids = parse_number_list(text, "jobid") if text else None
    except BadArgument:
        ids = None
    if not ids:
        reply.error("Can't find jobid, pathid or path argument")
        return None
    allowed = []
    for job_id in ids:
        record = await catalog.get_job(job_id)
        if record is None or not session.acl_allows("job_acl", record.name):
            continue
        if record.client and not session.acl_allows("client_acl", record.client):
            continue
        allowed.append(job_id)
    if not allowed:
        reply.error("Unauthorized command from this console.")
        return None
    return allowed


async def _directory_id(catalog, args):
    """The PathId of ``pathid=`` or ``path=`` (None: neither; 0: no such path)."""
    path_id = parse_number(_keyword(args, "pathid"), "pathid", minimum=0)
    if path_id:
        return path_id
    path = _keyword(args, "path")
    if path is None:
        return None
    return await catalog.run_operation(catalog_bvfs.op_path_id, path) or 0


# --- output ----------------------------------------------------------------------------

def _stat(lstat):
    st = decode_lstat(lstat)
    return st.link_fi, {
        "dev": st.dev, "ino": st.ino, "mode": st.mode, "nlink": st.nlink, "uid": st.uid,
        "gid": st.gid, "user": user_name(st.uid), "group": group_name(st.gid), "rdev": st.rdev,
        "size": st.size, "atime": st.atime, "mtime": st.mtime, "ctime": st.ctime}


def basename_dir(path):
    """A directory's last component with its slash: ``/etc/ssh/`` -> ``ssh/``, ``/`` and
    the special ``.``/``..`` stay (Bareos ``bvfs_basename_dir``)."""
    if path in ("", "/", ".", ".."):
        return path
    trimmed = path[:-1] if path.endswith("/") else path
    return trimmed[trimmed.rfind("/") + 1:] + path[len(trimmed):]


def _render(reply, key, entries):
    """Send bvfs rows: tab-separated text, and the objects of api 2 under ``key``."""
    objects = []
    for entry in entries:
        lstat = entry.lstat if entry.file_id else EMPTY_LSTAT
        job_id = entry.job_id if entry.file_id else 0
        link_fi, stat = _stat(lstat)
        item = {"type": entry.type, "pathid": entry.path_id, "fileid": entry.file_id or 0,
                "jobid": job_id, "lstat": lstat}
        if entry.type == "D":
            item.update(name=basename_dir(entry.name), fullpath=entry.name, stat=stat,
                        linkfileindex=link_fi)
            text = item["name"]
        elif entry.type == "V":
            item.update(md5=entry.md5, volumename=entry.volume,
                        volumeinchanger=entry.in_changer, stat=stat)
            text = f"{entry.md5}\t{entry.volume}\t{entry.in_changer}"
        else:
            item.update(name=entry.name, stat=stat, linkfileindex=link_fi)
            text = entry.name
        reply.send(f"{entry.path_id}\t{item['fileid']}\t{job_id}\t{lstat}\t{text}\n")
        objects.append(item)
    reply.result(key, objects)


# --- the commands ----------------------------------------------------------------------

@command(".bvfs_update", "Build the bvfs directory cache", "[jobid=<id>,...]")
async def bvfs_update(session, reply, args):
    _check_keywords(args, {"jobid"})
    catalog = await _catalog(session)
    text = _keyword(args, "jobid")
    if text:
        job_ids = parse_number_list(text, "jobid")
        failed = [j for j in job_ids
                  if not await catalog.run_operation(catalog_bvfs.op_bvfs_update, j)]
        if failed:
            reply.error(f"ERROR: BVFS reported a problem for {text}")
            return False
        return True
    for job_id in await catalog.run_operation(catalog_bvfs.op_jobs_without_cache):
        await catalog.run_operation(catalog_bvfs.op_bvfs_update, job_id)
    await catalog.run_operation(catalog_bvfs.op_bvfs_forget_deleted_jobs)
    return True


@command(".bvfs_clear_cache", "Empty the bvfs directory cache", "yes")
async def bvfs_clear_cache(session, reply, args):
    _check_keywords(args, {"yes"})
    if _keyword(args, "yes") is None:
        reply.error("Can't find 'yes' argument")
        return False
    catalog = await _catalog(session)
    await catalog.run_operation(catalog_bvfs.op_bvfs_clear_cache)
    reply.info("OK")
    return True


@command(".bvfs_get_jobids", "The jobs a restore of a job's state reads", "jobid=<id> [all]")
async def bvfs_get_jobids(session, reply, args):
    _check_keywords(args, {"jobid", "ujobid", "all"})
    catalog = await _catalog(session)
    job_id = parse_number(_keyword(args, "jobid"), "jobid")
    unique = _keyword(args, "ujobid")
    if unique:
        matches = [r for r in await catalog.list_jobs() if r.job == unique]
        job_id = matches[0].job_id if matches else None
        if job_id is None:
            reply.error(f"Unable to get Job record for JobId={unique}")
            return False
    if job_id is None:
        reply.error("Can't find ujobid or jobid argument")
        return False
    record = await catalog.get_job(job_id)
    if record is None:
        reply.error(f"Unable to get Job record for JobId={job_id}")
        return False
    chain = await catalog.job_chain(job_id, all_filesets=_keyword(args, "all") is not None)
    allowed = []
    for jid in chain:
        job = await catalog.get_job(jid)
        if (session.acl_allows("job_acl", job.name)
                and (not job.client or session.acl_allows("client_acl", job.client))
                and (not job.fileset or session.acl_allows("fileset_acl", job.fileset))):
            allowed.append(str(jid))
    reply.send(",".join(allowed) + "\n")
    reply.result("jobids", [{"id": jid} for jid in allowed])
    return True


@command(".bvfs_lsdirs", "List the subdirectories of a directory of backups",
         "jobid=<id>,... path=<dir> | pathid=<id> [limit=<n>] [offset=<n>]")
async def bvfs_lsdirs(session, reply, args):
    limit, offset, args = _listing_args(args, _LISTING_KEYWORDS)
    catalog = await _catalog(session)
    job_ids = await _permitted_job_ids(session, reply, catalog, _keyword(args, "jobid"))
    if job_ids is None:
        return False
    # The cache holds what lsdirs reads: build it for jobs that lack it (the WebUI runs
    # .bvfs_update first; bconsole users need not).
    for job_id in job_ids:
        await catalog.run_operation(catalog_bvfs.op_bvfs_update, job_id)
    path_id = await _directory_id(catalog, args)
    if path_id is None:
        reply.error("Can't find jobid, pathid or path argument")
        return False
    entries = (await catalog.run_operation(catalog_bvfs.op_bvfs_lsdirs, job_ids, path_id, limit,
                                           offset) if path_id else [])
    _render(reply, "directories", entries)
    return True


@command(".bvfs_lsfiles", "List the files of a directory of backups",
         "jobid=<id>,... path=<dir> | pathid=<id> [pattern=<regex>] [limit=<n>] [offset=<n>]")
async def bvfs_lsfiles(session, reply, args):
    limit, offset, args = _listing_args(args, _LISTING_KEYWORDS | {"pattern"})
    catalog = await _catalog(session)
    job_ids = await _permitted_job_ids(session, reply, catalog, _keyword(args, "jobid"))
    if job_ids is None:
        return False
    path_id = await _directory_id(catalog, args)
    if path_id is None:
        reply.error("Can't find jobid, pathid or path argument")
        return False
    pattern = _keyword(args, "pattern")
    try:
        regex = re.compile(pattern) if pattern else None
    except re.error as exc:
        reply.error(f"pattern={pattern}: not a regular expression ({exc})")
        return False
    entries = (await catalog.run_operation(catalog_bvfs.op_bvfs_lsfiles, job_ids, path_id, limit,
                                           offset, regex) if path_id else [])
    _render(reply, "files", entries)
    return True


@command(".bvfs_versions", "List every saved version of a file",
         "jobid=0 client=<name> path=<dir> | pathid=<id> fname=<name> [copies] [versions]")
async def bvfs_versions(session, reply, args):
    limit, offset, args = _listing_args(
        args, _LISTING_KEYWORDS | {"client", "fname", "name", "filename", "copies", "versions"})
    catalog = await _catalog(session)
    client = _keyword(args, "client")
    fname = _keyword(args, "fname", "name", "filename")
    if _keyword(args, "jobid") is None or (_keyword(args, "path") is None
                                           and _keyword(args, "pathid") is None):
        reply.error("Can't find jobid, pathid or path argument")
        return False
    if not client or fname is None:
        reply.error("Can't find client or fname argument")
        return False
    if not session.acl_allows("client_acl", client):
        reply.error("Unauthorized command from this console.")
        return False
    path_id = await _directory_id(catalog, args)
    entries = (await catalog.run_operation(
        catalog_bvfs.op_bvfs_versions, client, path_id, fname,
        _keyword(args, "copies") is not None, limit, offset) if path_id else [])
    _render(reply, "versions", entries)
    return True


@command(".bvfs_restore", "Make a restore list of files and directories of backups",
         "path=b2<n> jobid=<id>,... [fileid=<id>,...] [dirid=<id>,...] "
         "[hardlink=<jobid>,<fileindex>,...]")
async def bvfs_restore(session, reply, args):
    _check_keywords(args, {"path", "jobid", "fileid", "dirid", "hardlink", "pathid",
                           "limit", "offset"})
    catalog = await _catalog(session)
    table = _keyword(args, "path")
    job_ids = await _permitted_job_ids(session, reply, catalog, _keyword(args, "jobid"))
    if job_ids is None:
        return False
    file_ids = parse_number_list(_keyword(args, "fileid"), "fileid") or []
    dir_ids = parse_number_list(_keyword(args, "dirid"), "dirid") or []
    pairs = parse_number_list(_keyword(args, "hardlink"), "hardlink") or []
    if not catalog_bvfs.is_restore_table(table) or len(pairs) % 2 or not (
            file_ids or dir_ids or pairs):
        reply.error("Can't create restore list")
        return False
    await catalog.run_operation(catalog_bvfs.op_bvfs_restore, table, job_ids, file_ids,
                                dir_ids, list(zip(pairs[::2], pairs[1::2])))
    reply.send("OK\n")
    return True


@command(".bvfs_cleanup", "Drop a restore list made by .bvfs_restore", "path=b2<n>")
async def bvfs_cleanup(session, reply, args):
    _check_keywords(args, {"path"})
    table = _keyword(args, "path")
    if not table:
        reply.error("Can't find path argument")
        return False
    catalog = await _catalog(session)
    await catalog.run_operation(catalog_bvfs.op_bvfs_drop_restore_list, table)
    return True
