"""The catalog side of restores by directory: the restore tree's rows and Bareos' bvfs.

Operation generators as in ``core`` (one transaction each, run by either backend).  The
bvfs cache tables are those of schema step 0003: ``PathHierarchy`` (a directory's parent)
and ``PathVisibility`` (the directories each job holds something below), built per job by
``op_bvfs_update`` and read by ``op_bvfs_lsdirs``.  Listing the files of one directory
needs no cache: File is indexed by (JobId, PathId, Name).

Which version of a name counts, everywhere here: the one of the newest job (StartTime,
then JobId), and a newest version that is a deletion marker (FileIndex <= 0) hides the
name, as in Bareos.
"""

from __future__ import annotations

import re

from bareos.catalog import api
from bareos.catalog.core import _placeholders, q_all, q_count, q_one, q_script
from bareos.protocol.jobstatus import JobStatus

#: Job types and statuses whose files bvfs shows (Bareos' choice: backups and archives that
#: ended OK or with warnings, or were stopped by a fatal error or a cancel).
BVFS_JOB_TYPES = ("B", "A", "a")
BVFS_JOB_STATUSES = (JobStatus.TERMINATED, JobStatus.WARNINGS, JobStatus.FATAL,
                     JobStatus.CANCELED)

#: A restore list's table name: ``b2`` and digits (Bareos' rule), so it is safe in SQL.
_RESTORE_TABLE = re.compile(r"b2[0-9]{1,18}")

_NEWEST_FIRST = "j.StartTime DESC, f.JobId DESC, f.FileIndex DESC"


def is_restore_table(name):
    return bool(name) and _RESTORE_TABLE.fullmatch(name) is not None


def parent_path(path: bytes) -> bytes:
    """The parent directory of a Path value: ``/etc/ssh/`` -> ``/etc/``, ``/`` -> ``""``,
    ``C:/`` -> ``""``, ``@bpipe@/`` -> ``""`` (Bareos ``bvfs_parent_dir``)."""
    trimmed = path[:-1] if path.endswith(b"/") else path
    cut = trimmed.rfind(b"/")
    return trimmed[:cut + 1] if cut >= 0 else b""


def _chunks(items, size=500):
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _rows_of(width, count):
    """``(?, ?), (?, ?)`` ...: ``count`` rows of ``width`` parameters for VALUES."""
    row = "(" + ", ".join("?" * width) + ")"
    return ", ".join([row] * count)


def _ids(job_ids):
    return [int(j) for j in job_ids]


# --- the restore tree ----------------------------------------------------------------

#: Where a job's first page of tree rows starts: before every (PathId, Name).
TREE_START = (0, b"")


def op_tree_rows(job_id, after=TREE_START, limit=50_000):
    """One page of a job's File rows for the restore tree: (Path, Name, FileIndex, LStat,
    PathId), names as bytes, in the order of the (JobId, PathId, Name) index (neither
    backend sorts) after the key ``after`` (PathId, Name of the last row of the previous
    page).  Pages bound the rows held at a time while a tree of millions of files is
    built; the rows of a directory come together, with one Path object for all of them.
    A job holds a name once (were it twice, a page boundary between the two would keep
    one of them)."""
    rows = yield q_all(
        "SELECT f.PathId, f.Name, f.FileIndex, f.LStat FROM File f "
        "WHERE f.JobId = ? AND (f.PathId, f.Name) > (?, ?) "
        "ORDER BY f.PathId, f.Name LIMIT ?", job_id, *after, limit)
    paths = {}
    for chunk in _chunks(sorted({row[0] for row in rows})):
        found = yield q_all(f"SELECT PathId, Path FROM Path WHERE PathId IN "
                            f"({_placeholders(len(chunk))})", *chunk)
        paths.update((path_id, bytes(path)) for path_id, path in found)
    return [(paths[path_id], name, file_index, lstat, path_id)
            for path_id, name, file_index, lstat in rows]


def op_jobs_with_file(client, name, limit=20):
    """The newest backups of ``client`` that saved a file called ``name`` (any directory):
    (JobId, full name as bytes, StartTime, Type, JobStatus, JobFiles, JobBytes)."""
    rows = yield q_all(
        "SELECT j.JobId, p.Path, f.Name, j.StartTime, j.Type, j.JobStatus, j.JobFiles, "
        "j.JobBytes FROM Job j JOIN Client c ON c.ClientId = j.ClientId "
        "JOIN File f ON f.JobId = j.JobId JOIN Path p ON p.PathId = f.PathId "
        "WHERE c.Name = ? AND f.FileIndex > 0 AND f.Name = ? "
        "ORDER BY j.StartTime DESC, j.JobId DESC LIMIT ?", client, api.name_bytes(name), limit)
    return [(job_id, bytes(path) + bytes(file_name), *rest)
            for job_id, path, file_name, *rest in rows]


# --- the cache -------------------------------------------------------------------------

def op_path_id(path):
    """The PathId of a directory's Path value, or None."""
    row = yield q_one("SELECT PathId FROM Path WHERE Path = ?", api.name_bytes(path))
    return row[0] if row else None


def op_jobs_without_cache():
    rows = yield q_all(
        f"SELECT JobId FROM Job WHERE HasCache = 0 AND Type IN ({_placeholders(3)}) "
        f"AND JobStatus IN ({_placeholders(4)}) ORDER BY JobId",
        *BVFS_JOB_TYPES, *BVFS_JOB_STATUSES)
    return [r[0] for r in rows]


def op_bvfs_update(job_id):
    """Put one job's directories into the cache; True when it is (or already was) there."""
    claimed = yield q_count("UPDATE Job SET HasCache = -1 WHERE JobId = ? AND HasCache = 0", job_id)
    if not claimed:
        row = yield q_one("SELECT HasCache FROM Job WHERE JobId = ?", job_id)
        return bool(row) and row[0] == 1
    yield q_count("INSERT INTO PathVisibility (PathId, JobId) "
                  "SELECT DISTINCT PathId, JobId FROM File WHERE JobId = ?", job_id)
    # Directories new to the hierarchy, with their parents up to the root, in a few
    # statements of many rows each (a statement per directory is slow on a server).
    rows = yield q_all(
        "SELECT p.Path FROM PathVisibility pv JOIN Path p ON p.PathId = pv.PathId "
        "LEFT JOIN PathHierarchy ph ON ph.PathId = pv.PathId "
        "WHERE pv.JobId = ? AND ph.PathId IS NULL", job_id)
    parents = {}                                # Path -> its parent's Path
    for (path,) in rows:
        path = bytes(path)
        while path and path not in parents:
            parents[path] = path = parent_path(path)
    if parents:
        for chunk in _chunks(sorted(set(parents.values()))):
            yield q_count("INSERT INTO Path (Path) SELECT column1 FROM "
                          f"(VALUES {_rows_of(1, len(chunk))}) AS v WHERE true "
                          "ON CONFLICT (Path) DO NOTHING", *chunk)
        ids = {}
        for chunk in _chunks(sorted(set(parents) | set(parents.values()))):
            found = yield q_all(f"SELECT Path, PathId FROM Path WHERE Path IN "
                                f"({_placeholders(len(chunk))})", *chunk)
            ids.update((bytes(path), path_id) for path, path_id in found)
        pairs = [(ids[path], ids[parent]) for path, parent in parents.items()]
        for chunk in _chunks(pairs):
            yield q_count("INSERT INTO PathHierarchy (PathId, PPathId) SELECT column1, column2 "
                          f"FROM (VALUES {_rows_of(2, len(chunk))}) AS v WHERE true "
                          "ON CONFLICT (PathId) DO NOTHING",
                          *(value for pair in chunk for value in pair))
    # A job sees every ancestor of a directory it holds: add them level by level.
    while (yield q_count(
            "INSERT INTO PathVisibility (PathId, JobId) SELECT DISTINCT h.PPathId, ? "
            "FROM PathHierarchy h JOIN PathVisibility p ON p.PathId = h.PathId AND p.JobId = ? "
            "WHERE NOT EXISTS (SELECT 1 FROM PathVisibility b "
            "WHERE b.JobId = ? AND b.PathId = h.PPathId)", job_id, job_id, job_id)) > 0:
        pass
    yield q_count("UPDATE Job SET HasCache = 1 WHERE JobId = ?", job_id)
    return True


def op_bvfs_forget_deleted_jobs():
    n = yield q_count("DELETE FROM PathVisibility WHERE NOT EXISTS "
                      "(SELECT 1 FROM Job WHERE Job.JobId = PathVisibility.JobId)")
    return n


def op_bvfs_clear_cache():
    yield q_count("UPDATE Job SET HasCache = 0")
    yield q_count("DELETE FROM PathHierarchy")
    yield q_count("DELETE FROM PathVisibility")


# --- listing -----------------------------------------------------------------------------

class BvfsEntry(tuple):
    """(type, PathId, name, JobId, LStat, FileId) as Bareos' bvfs rows; ``name`` is the
    Path for a directory ('.'/'..' for the special ones), the Name for a file."""
    __slots__ = ()

    def __new__(cls, type_, path_id, name, job_id, lstat, file_id, md5="", volume="",
                in_changer=0):
        return super().__new__(cls, (type_, path_id, name, job_id, lstat, file_id, md5, volume,
                                     in_changer))

    type = property(lambda self: self[0])
    path_id = property(lambda self: self[1])
    name = property(lambda self: self[2])
    job_id = property(lambda self: self[3])
    lstat = property(lambda self: self[4])
    file_id = property(lambda self: self[5])
    md5 = property(lambda self: self[6])
    volume = property(lambda self: self[7])
    in_changer = property(lambda self: self[8])


def _directory_records(path_ids, job_ids):
    """{PathId: (JobId, LStat, FileId, FileIndex)} of each directory's own record in the
    newest of the jobs that has one."""
    if not path_ids:
        return {}
    records = {}
    for chunk in _chunks(path_ids):
        rows = yield q_all(
            "SELECT f.PathId, f.JobId, f.LStat, f.FileId, f.FileIndex FROM File f "
            "JOIN Job j ON j.JobId = f.JobId "
            f"WHERE f.Name = ? AND f.JobId IN ({_placeholders(len(job_ids))}) "
            f"AND f.PathId IN ({_placeholders(len(chunk))}) ORDER BY {_NEWEST_FIRST}",
            b"", *job_ids, *chunk)
        for path_id, job_id, lstat, file_id, file_index in rows:
            records.setdefault(path_id, (job_id, lstat, file_id, file_index))
    return records


def op_bvfs_lsdirs(job_ids, path_id, limit, offset):
    """``.`` and ``..`` of directory ``path_id`` and its subdirectories that the jobs
    hold (not deleted by the newest), ordered as Bareos orders them (by path)."""
    job_ids = _ids(job_ids)
    parent = yield q_one("SELECT PPathId FROM PathHierarchy WHERE PathId = ?", path_id)
    special = [(b".", path_id)] + ([(b"..", parent[0])] if parent else [])
    rows = yield q_all(
        "SELECT ph.PathId, p.Path FROM PathHierarchy ph JOIN Path p ON p.PathId = ph.PathId "
        "WHERE ph.PPathId = ? AND EXISTS (SELECT 1 FROM PathVisibility pv "
        f"WHERE pv.PathId = ph.PathId AND pv.JobId IN ({_placeholders(len(job_ids))}))",
        path_id, *job_ids)
    subdirs = [(bytes(path), sub_id) for sub_id, path in rows]
    records = yield from _directory_records([i for _, i in special + subdirs], job_ids)
    entries = []
    for name, dir_id in sorted(special + subdirs):
        job_id, lstat, file_id, file_index = records.get(dir_id, (0, None, 0, 1))
        if file_index <= 0 and (name, dir_id) not in special:
            continue                          # deleted by the newest job that saw it
        entries.append(BvfsEntry("D", dir_id, api.name_text(name), job_id, lstat, file_id))
    return entries[offset:offset + limit]


def op_bvfs_lsfiles(job_ids, path_id, limit, offset, pattern=None):
    """The files (not subdirectories) of directory ``path_id`` in the newest version the
    jobs hold, by name; ``pattern`` a regular expression on the name, as Bareos'."""
    job_ids = _ids(job_ids)
    sql = ("SELECT PathId, Name, JobId, LStat, FileId FROM ("
           " SELECT f.PathId AS PathId, f.Name AS Name, f.JobId AS JobId, f.LStat AS LStat,"
           " f.FileId AS FileId, f.FileIndex AS FileIndex,"
           f" ROW_NUMBER() OVER (PARTITION BY f.Name ORDER BY {_NEWEST_FIRST}) AS rn"
           " FROM File f JOIN Job j ON j.JobId = f.JobId"
           f" WHERE f.JobId IN ({_placeholders(len(job_ids))}) AND f.PathId = ? AND f.Name <> ?"
           ") AS t WHERE t.rn = 1 AND t.FileIndex > 0 ORDER BY Name")
    params = [*job_ids, path_id, b""]
    if pattern is None:
        sql += " LIMIT ? OFFSET ?"
        params += [limit, offset]
    rows = yield q_all(sql, *params)
    entries = [BvfsEntry("F", p, api.name_text(name), j, lstat, f) for p, name, j, lstat, f in rows]
    if pattern is not None:
        entries = [e for e in entries if pattern.search(e.name)][offset:offset + limit]
    return entries


def op_bvfs_versions(client, path_id, name, copies, limit, offset):
    """Every saved version of one file of a client, with the volume holding it."""
    types = ("C",) + BVFS_JOB_TYPES if copies else BVFS_JOB_TYPES
    rows = yield q_all(
        "SELECT f.PathId, f.Name, f.JobId, f.LStat, f.FileId, f.MD5, m.VolumeName, m.InChanger "
        "FROM File f JOIN Job j ON j.JobId = f.JobId JOIN Client c ON c.ClientId = j.ClientId "
        "JOIN JobMedia jm ON jm.JobId = j.JobId AND f.FileIndex >= jm.FirstIndex "
        "AND f.FileIndex <= jm.LastIndex JOIN Media m ON m.MediaId = jm.MediaId "
        f"WHERE c.Name = ? AND j.Type IN ({_placeholders(len(types))}) "
        "AND f.JobId IN (SELECT j2.JobId FROM Job j2 WHERE j2.ClientId = c.ClientId) "
        "AND f.PathId = ? AND f.Name = ? ORDER BY f.FileId LIMIT ? OFFSET ?",
        client, *types, path_id, api.name_bytes(name), limit, offset)
    return [BvfsEntry("V", p, api.name_text(n), j, lstat, f, md5, volume, in_changer)
            for p, n, j, lstat, f, md5, volume, in_changer in rows]


# --- restore lists ---------------------------------------------------------------------

def op_bvfs_restore(table, job_ids, file_ids, dir_ids, hardlinks):
    """Make restore list ``table`` (b2<n>): the newest version of the files given by
    FileId, of everything below the directories given by PathId (in the jobs), and of the
    (JobId, FileIndex) pairs of ``hardlinks``.  Returns how many files it holds."""
    if not is_restore_table(table):
        raise ValueError(f"restore list name {table!r} is not b2<number>")
    job_ids = _ids(job_ids)
    staging = "btemp" + table               # the candidates, then the newest of each name
    select = ("SELECT f.JobId AS JobId, f.FileIndex AS FileIndex, f.FileId AS FileId, "
              "f.PathId AS PathId, f.Name AS Name, j.StartTime AS StartTime "
              "FROM File f JOIN Job j ON j.JobId = f.JobId")
    for name in (staging, table):
        yield q_script(f"DROP TABLE IF EXISTS {name}")
    yield q_script(f"CREATE TABLE {staging} AS {select} WHERE 1 = 0")
    # In chunks: the WebUI sends a FileId for every file chosen one by one.
    for chunk in _chunks(list(file_ids)):
        yield q_count(f"INSERT INTO {staging} {select} "
                      f"WHERE f.FileId IN ({_placeholders(len(chunk))})", *chunk)
    for dir_id in dir_ids:
        row = yield q_one("SELECT Path FROM Path WHERE PathId = ?", dir_id)
        if row is None:
            continue
        low = bytes(row[0])
        # Everything whose path starts with the directory's: a byte range, exact for any
        # name (no LIKE, whose wildcards and case rules differ between the backends).
        high = low[:-1] + bytes([low[-1] + 1]) if low else None
        yield q_count(f"INSERT INTO {staging} {select} JOIN Path p ON p.PathId = f.PathId "
                      "WHERE p.Path >= ?" + (" AND p.Path < ?" if high else "")
                      + f" AND f.JobId IN ({_placeholders(len(job_ids))})",
                      low, *([high] if high else []), *job_ids)
    for chunk in _chunks(list(hardlinks)):
        yield q_count(f"INSERT INTO {staging} {select} WHERE "
                      + " OR ".join(["(f.JobId = ? AND f.FileIndex = ?)"] * len(chunk)),
                      *(value for pair in chunk for value in pair))
    yield q_script(f"CREATE TABLE {table} (JobId integer NOT NULL, FileIndex integer NOT NULL, "
                   f"FileId bigint NOT NULL)")
    stored = yield q_count(
        f"INSERT INTO {table} (JobId, FileIndex, FileId) SELECT JobId, FileIndex, FileId FROM ("
        " SELECT JobId, FileIndex, FileId, ROW_NUMBER() OVER (PARTITION BY PathId, Name"
        "  ORDER BY StartTime DESC, JobId DESC, FileIndex DESC) AS rn"
        f" FROM (SELECT DISTINCT * FROM {staging}) AS u) AS t WHERE t.rn = 1 AND t.FileIndex > 0")
    yield q_script(f"DROP TABLE {staging}")
    return stored


def op_bvfs_restore_list(table):
    """{JobId: set of FileIndexes} of restore list ``table``; None when there is none."""
    if not is_restore_table(table):
        return None
    exists = yield from _table_exists(table)
    if not exists:
        return None
    rows = yield q_all(f"SELECT JobId, FileIndex FROM {table}")
    chosen = {}
    for job_id, file_index in rows:
        chosen.setdefault(job_id, set()).add(file_index)
    return chosen


def op_bvfs_drop_restore_list(table):
    if not is_restore_table(table):
        return False
    yield q_script(f"DROP TABLE IF EXISTS {table}")
    return True


def _table_exists(table):
    # information_schema is PostgreSQL's; sqlite_master SQLite's.  Try the standard first.
    try:
        row = yield q_one("SELECT 1 FROM information_schema.tables WHERE table_name = ?", table)
    except Exception:
        row = yield q_one("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", table)
    return row is not None
