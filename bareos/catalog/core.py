"""What both backends share: the catalog operations as statement generators.

Every operation is a generator that *yields* :class:`Stmt` objects and receives
their results; it knows nothing about threads or Deferreds.  A backend *drives*
the generator inside one transaction: the SQLite backend synchronously in its
single database thread, the PostgreSQL backend asynchronously on a txpostgres
cursor.  So the SQL and the record handling live once, and each backend only
decides how a statement is executed (ARCHITECTURE principle 1 and 8).

SQL here is written with ``?`` placeholders and the portable subset both
SQLite (>= 3.25: upsert, window functions) and PostgreSQL (>= 10) understand.
"""

from __future__ import annotations

import os
import re
from datetime import datetime

from zope.interface import implementer

from bareos.catalog import api
from bareos.catalog.api import (
    JOB_COLUMNS, MEDIA_COLUMNS, POOL_COLUMNS, VOLUME_STATUSES,
    CatalogError, CatalogIntegrityError, CatalogSchemaError, ICatalog,
)
from bareos.protocol.jobstatus import SUCCESSFUL

SQL_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sql")


# --- statements -------------------------------------------------------------

class Stmt:
    """One statement to execute; ``mode`` says what the generator gets back:
    ``all`` (list of rows), ``one`` (a row or None), ``count`` (rowcount),
    ``id`` (the generated key of an INSERT; ``id_column`` names it),
    ``table`` (the column names and the rows; no columns for a statement without rows),
    ``script`` (several statements, no parameters, result None)."""

    __slots__ = ("sql", "params", "mode", "id_column")

    def __init__(self, sql, params=(), mode="all", id_column=None):
        self.sql = sql
        self.params = tuple(adapt(p) for p in params)
        self.mode = mode
        self.id_column = id_column

    def __repr__(self):
        return f"Stmt({self.mode}: {self.sql!r} {self.params!r})"


def q_all(sql, *params):
    return Stmt(sql, params, "all")


def q_one(sql, *params):
    return Stmt(sql, params, "one")


def q_count(sql, *params):
    return Stmt(sql, params, "count")


def q_insert(sql, params, id_column):
    return Stmt(sql, params, "id", id_column)


def q_script(text):
    return Stmt(text, (), "script")


def adapt(value):
    """Python value -> parameter both drivers accept (bool -> int, datetime -> naive local, seconds)."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, datetime):
        return db_time(value)
    return value


def db_time(value):
    if value is None:
        return None
    if not isinstance(value, datetime):
        raise TypeError(f"expected a datetime, got {value!r}")
    if value.tzinfo is not None:
        value = value.astimezone().replace(tzinfo=None)
    return value.replace(microsecond=0)


def py_time(value):
    """A timestamp column as read (datetime from psycopg2, text from SQLite) -> datetime."""
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(value)


def drive_sync(gen, execute):
    """Run an operation generator to completion; ``execute(stmt)`` returns each result.

    A statement's exception is thrown into the generator, so an operation may
    catch it (and e.g. name the upgrade script that failed)."""
    result, error = None, None
    while True:
        try:
            if error is None:
                stmt = gen.send(result)
            else:
                stmt, error = gen.throw(error), None
        except StopIteration as stop:
            return stop.value
        try:
            result = execute(stmt)
        except Exception as e:
            result, error = None, e


# --- schema scripts ---------------------------------------------------------

_SCRIPT_NAME = re.compile(r"^(\d{4})_[A-Za-z0-9_.-]+\.sql$")


def discover_scripts(directory):
    """[(number, path)] of the ``NNNN_<what>.sql`` files, numbered 1..N without gaps."""
    try:
        names = os.listdir(directory)
    except OSError as e:
        raise CatalogSchemaError(f"catalog schema scripts directory {directory}: {e.strerror}") from e
    found = []
    for name in names:
        m = _SCRIPT_NAME.match(name)
        if m:
            found.append((int(m.group(1)), os.path.join(directory, name)))
    found.sort()
    numbers = [n for n, _ in found]
    if numbers != list(range(1, len(numbers) + 1)):
        raise CatalogSchemaError(
            f"catalog schema scripts in {directory} must be numbered 0001, 0002, ... without gaps "
            f"or duplicates; found {', '.join(f'{n:04d}' for n in numbers) or 'none'}")
    return found


def op_upgrade(scripts, version_table_exists_sql, lock_sql=None):
    """Create or upgrade the schema in one transaction; returns (old version, new version)."""
    if lock_sql:
        yield q_all(lock_sql)
    exists = yield q_one(version_table_exists_sql)
    current = 0
    if exists:
        row = yield q_one("SELECT MAX(VersionId) FROM Version")
        current = (row[0] if row else 0) or 0
    known = len(scripts)
    if current > known:
        raise CatalogSchemaError(
            f"the catalog database has schema version {current}, newer than the newest this "
            f"program knows ({known}); it was written by a newer bareos-twisted. Upgrade this "
            f"program, or point the Catalog resource at another database.")
    for number, path in scripts[current:]:
        with open(path, encoding="utf-8") as f:
            text = f.read()
        try:
            yield q_script(text)
        except CatalogError:
            raise
        except Exception as e:
            raise CatalogSchemaError(
                f"catalog schema upgrade script {os.path.basename(path)} failed: {e}") from e
        yield q_count("DELETE FROM Version")
        yield q_count("INSERT INTO Version (VersionId) VALUES (?)", number)
    return current, known


def op_schema_version():
    row = yield q_one("SELECT MAX(VersionId) FROM Version")
    return row[0] if row else 0


# --- helpers -----------------------------------------------------------------

def _check_fields(fields, allowed, what):
    unknown = sorted(set(fields) - set(allowed))
    if unknown:
        raise TypeError(f"unknown {what} field(s) {', '.join(unknown)}; "
                        f"known: {', '.join(sorted(allowed))}")


def _placeholders(n):
    return ", ".join("?" * n)


def _client_id(client):
    if client is None or isinstance(client, int):
        return client
    row = yield q_one("SELECT ClientId FROM Client WHERE Name = ?", client)
    return row[0] if row else None


def _pool_id(pool):
    if pool is None or isinstance(pool, int):
        return pool
    row = yield q_one("SELECT PoolId FROM Pool WHERE Name = ?", pool)
    return row[0] if row else None


def _fileset_condition(fileset, alias="j"):
    """SQL condition and parameters selecting jobs of a fileset given by id or name."""
    if fileset is None:
        return "", ()
    if isinstance(fileset, int):
        return f" AND {alias}.FileSetId = ?", (fileset,)
    return f" AND {alias}.FileSetId IN (SELECT FileSetId FROM FileSet WHERE FileSet = ?)", (fileset,)


def _one_char(value, what):
    if not isinstance(value, str) or len(value) != 1:
        raise ValueError(f"{what} must be a one-character code, got {value!r}")


# --- clients, filesets, pools, storages -------------------------------------

_CLIENT_COLS = {"uname": "UName", "auto_prune": "AutoPrune", "file_retention": "FileRetention",
                "job_retention": "JobRetention"}


def op_ensure_client(name, **attrs):
    yield q_count("INSERT INTO Client (Name) VALUES (?) ON CONFLICT (Name) DO NOTHING", name)
    given = {k: v for k, v in attrs.items() if v is not None}
    if given:
        sets = ", ".join(f"{_CLIENT_COLS[k]} = ?" for k in given)
        yield q_count(f"UPDATE Client SET {sets} WHERE Name = ?", *given.values(), name)
    row = yield q_one("SELECT ClientId FROM Client WHERE Name = ?", name)
    return row[0]


def op_list_clients():
    rows = yield q_all("SELECT ClientId, Name, UName, AutoPrune, FileRetention, JobRetention "
                       "FROM Client ORDER BY Name")
    return [api.ClientRecord(*r) for r in rows]


def op_sql_query(sql):
    """A console's own SQL (``.sql``), run as written: (column names, rows).  The database's
    refusal becomes a CatalogQueryError with its message; a lost connection stays one."""
    try:
        return (yield Stmt(sql, (), "table"))
    except api.CatalogConnectionError:
        raise
    except Exception as error:
        message = str(error).strip() or error.__class__.__name__
        raise api.CatalogQueryError(message) from error


def op_ensure_fileset(name, text, md5, now):
    yield q_count("INSERT INTO FileSet (FileSet, FileSetText, MD5, CreateTime) VALUES (?, ?, ?, ?) "
                  "ON CONFLICT (FileSet, MD5) DO NOTHING", name, text or "", md5, now)
    row = yield q_one("SELECT FileSetId FROM FileSet WHERE FileSet = ? AND MD5 = ?", name, md5)
    return row[0]


_POOL_ALIASES = {
    "max_volume_bytes": "max_vol_bytes", "volume_use_duration": "vol_use_duration",
    "max_volume_jobs": "max_vol_jobs", "max_volume_files": "max_vol_files",
    "volume_retention": "vol_retention", "maximum_volumes": "max_vols",
}


def normalise_pool_fields(fields):
    out = {}
    for key, value in fields.items():
        key = _POOL_ALIASES.get(key, key)
        _check_fields([key], list(POOL_COLUMNS) + list(_POOL_ALIASES), "pool")
        out[key] = value
    if "pool_type" in out and out["pool_type"] not in api.POOL_TYPES:
        raise ValueError(f"unknown pool type {out['pool_type']!r}; known: {', '.join(api.POOL_TYPES)}")
    return out


def op_ensure_pool(name, fields):
    yield q_count("INSERT INTO Pool (Name) VALUES (?) ON CONFLICT (Name) DO NOTHING", name)
    if fields:
        sets = ", ".join(f"{POOL_COLUMNS[k]} = ?" for k in fields)
        yield q_count(f"UPDATE Pool SET {sets} WHERE Name = ?", *fields.values(), name)
    row = yield q_one("SELECT PoolId FROM Pool WHERE Name = ?", name)
    return row[0]


_POOL_SELECT = (
    "SELECT p.PoolId, p.Name, p.PoolType, p.LabelFormat, "
    "(SELECT COUNT(*) FROM Media m WHERE m.PoolId = p.PoolId), p.MaxVols, p.MaxVolBytes, "
    "p.VolUseDuration, p.MaxVolJobs, p.MaxVolFiles, p.VolRetention, p.Recycle, p.AutoPrune, "
    "p.Enabled, p.UseCatalog, p.LabelType, p.NextPoolId FROM Pool p")


def op_list_pools(name=None, pool_id=None):
    where, params = "", ()
    if name is not None:
        where, params = " WHERE p.Name = ?", (name,)
    elif pool_id is not None:
        where, params = " WHERE p.PoolId = ?", (pool_id,)
    rows = yield q_all(_POOL_SELECT + where + " ORDER BY p.Name", *params)
    return [api.PoolRecord(*r) for r in rows]


def op_list_filesets(fileset_id):
    where, params = ("", ()) if fileset_id is None else (" WHERE FileSetId = ?", (fileset_id,))
    rows = yield q_all("SELECT FileSetId, FileSet, MD5, CreateTime, FileSetText FROM FileSet"
                       + where + " ORDER BY FileSetId", *params)
    return [api.FileSetEntry(fid, name, md5, py_time(created), text)
            for fid, name, md5, created, text in rows]


def op_list_storages():
    rows = yield q_all("SELECT StorageId, Name, AutoChanger FROM Storage ORDER BY StorageId")
    return [api.StorageEntry(*r) for r in rows]


def op_delete_pool(name):
    """Delete a Pool row with its Media rows (Bareos' ``delete pool``); True if it existed."""
    pool_id = yield from _pool_id(name)
    if pool_id is None:
        return False
    yield q_count("DELETE FROM JobMedia WHERE MediaId IN (SELECT MediaId FROM Media "
                  "WHERE PoolId = ?)", pool_id)
    yield q_count("DELETE FROM Media WHERE PoolId = ?", pool_id)
    yield q_count("DELETE FROM Pool WHERE PoolId = ?", pool_id)
    return True


def op_ensure_storage(name, auto_changer):
    yield q_count("INSERT INTO Storage (Name, AutoChanger) VALUES (?, ?) ON CONFLICT (Name) DO NOTHING",
                  name, auto_changer)
    yield q_count("UPDATE Storage SET AutoChanger = ? WHERE Name = ?", auto_changer, name)
    row = yield q_one("SELECT StorageId FROM Storage WHERE Name = ?", name)
    return row[0]


# --- jobs --------------------------------------------------------------------

_JOB_FIELDS = ["job_id"] + list(JOB_COLUMNS)
_JOB_TIMES = ("sched_time", "start_time", "end_time", "real_end_time")
_JOB_JOINS = {"c": " LEFT JOIN Client c ON c.ClientId = j.ClientId",
              "fs": " LEFT JOIN FileSet fs ON fs.FileSetId = j.FileSetId",
              "p": " LEFT JOIN Pool p ON p.PoolId = j.PoolId"}
_JOB_FROM = " FROM Job j" + "".join(_JOB_JOINS.values())
_TABLE_ALIAS = re.compile(r"\b(c|fs|p)\.")


def _job_from(clause):
    """FROM Job j with only the joins ``clause`` uses: SQLite joins even a LEFT JOIN whose
    columns nobody reads, which makes ``last`` over many jobs 20 times slower."""
    used = set(_TABLE_ALIAS.findall(clause))
    return " FROM Job j" + "".join(join for alias, join in _JOB_JOINS.items() if alias in used)
_JOB_SELECT = (
    "SELECT j.JobId, " + ", ".join(f"j.{c}" for c in JOB_COLUMNS.values())
    + ", c.Name, fs.FileSet, p.Name" + _JOB_FROM)
# LIMIT for an OFFSET without a limit (SQLite needs a LIMIT before OFFSET).
_NO_LIMIT = 2**63 - 1


def _job_from_row(row):
    values = dict(zip(_JOB_FIELDS + ["client", "fileset", "pool"], row))
    for k in _JOB_TIMES:
        values[k] = py_time(values[k])
    return api.JobRecord(**values)


def _check_job_codes(fields):
    for key, what in (("type", "Job Type"), ("level", "Job Level"), ("job_status", "JobStatus")):
        if key in fields:
            _one_char(fields[key], what)


def op_create_job(job):
    values = {k: getattr(job, k) for k in JOB_COLUMNS}
    _check_job_codes(values)
    if not values["job"] or not values["name"]:
        raise ValueError("a job needs its unique Job name and its Name")
    cols = ", ".join(JOB_COLUMNS.values())
    job_id = yield q_insert(f"INSERT INTO Job ({cols}) VALUES ({_placeholders(len(values))})",
                            values.values(), "JobId")
    return job_id


def op_update_job(job_id, fields):
    _check_fields(fields, JOB_COLUMNS, "job")
    _check_job_codes(fields)
    if not fields:
        row = yield q_one("SELECT JobId FROM Job WHERE JobId = ?", job_id)
        return row is not None
    sets = ", ".join(f"{JOB_COLUMNS[k]} = ?" for k in fields)
    n = yield q_count(f"UPDATE Job SET {sets} WHERE JobId = ?", *fields.values(), job_id)
    return n > 0


def op_get_job(job_id):
    row = yield q_one(_JOB_SELECT + " WHERE j.JobId = ?", job_id)
    return _job_from_row(row) if row else None


def op_list_jobs(client=None, name=None, status=None, job_id=None, type=None, level=None,
                 limit=None):
    def codes(value):
        return () if value is None else (value,) if isinstance(value, str) else tuple(value)
    # The newest ``limit`` jobs, handed back oldest first.
    jobs = yield from op_query_jobs(api.JobQuery(
        job_id=job_id, name=name, client=client, statuses=codes(status), types=codes(type),
        levels=codes(level), descending=limit is not None, limit=limit))
    if limit is not None:
        jobs.reverse()
    return jobs


def _job_query_where(query):
    """The WHERE clause (with its parameters) of an api.JobQuery over _JOB_FROM."""
    where, params = [], []
    client_column = "j.ClientId" if isinstance(query.client, int) else "c.Name"
    for condition, value in (("j.JobId = ?", query.job_id), ("j.Job = ?", query.job),
                             ("j.Name = ?", query.name), (f"{client_column} = ?", query.client),
                             ("p.Name = ?", query.pool), ("j.SchedTime > ?", query.since)):
        if value is not None:
            where.append(condition)
            params.append(value)
    for column, codes in (("j.JobStatus", query.statuses), ("j.Level", query.levels),
                          ("j.Type", query.types)):
        if codes:
            where.append(f"{column} IN ({_placeholders(len(codes))})")
            params.extend(codes)
    if query.volume is not None:
        where.append("j.JobId IN (SELECT jm.JobId FROM JobMedia jm JOIN Media m"
                     " ON m.MediaId = jm.MediaId WHERE m.VolumeName = ?)")
        params.append(query.volume)
    if query.filesets is not None:
        where.append(f"fs.FileSet IN ({_placeholders(len(query.filesets))})"
                     if query.filesets else "1 = 0")
        params.extend(query.filesets)
    clause = " WHERE " + " AND ".join(where) if where else ""
    if query.last:
        # The newest job of each name among the selected ones.
        clause = (f" WHERE j.JobId IN (SELECT MAX(j.JobId){_job_from(clause)}{clause}"
                  " GROUP BY j.Name)")
    return clause, params


def op_query_jobs(query):
    where, params = _job_query_where(query)
    sql = _JOB_SELECT + where + " ORDER BY j.JobId" + (" DESC" if query.descending else "")
    if query.limit is not None or query.offset is not None:
        sql += " LIMIT ? OFFSET ?"
        params += [_NO_LIMIT if query.limit is None else query.limit, query.offset or 0]
    rows = yield q_all(sql, *params)
    return [_job_from_row(r) for r in rows]


def op_count_jobs(query):
    where, params = _job_query_where(query)
    row = yield q_one("SELECT COUNT(*)" + _job_from(where) + where, *params)
    return row[0]


#: jobstatus.SUCCESSFUL as an SQL list (the letters are constants, not input).
_SUCCESSFUL = "(" + ", ".join(f"'{status}'" for status in sorted(SUCCESSFUL)) + ")"

#: The job types ``list jobtotals`` adds up: backups, archives and copies.
_TOTALLED_TYPES = "j.Type IN ('B', 'A', 'a', 'C')"


def op_job_totals():
    sums = "COUNT(*), COALESCE(SUM(j.JobFiles), 0), COALESCE(SUM(j.JobBytes), 0)"
    rows = yield q_all(f"SELECT j.Name, {sums} FROM Job j WHERE {_TOTALLED_TYPES} "
                       "GROUP BY j.Name ORDER BY j.Name")
    total = yield q_one(f"SELECT NULL, {sums} FROM Job j WHERE {_TOTALLED_TYPES}")
    per_name = [api.JobTotal(name, int(jobs), int(files), int(size))
                for name, jobs, files, size in rows]
    return per_name, api.JobTotal(None, *(int(v) for v in total[1:]))


def op_subscription_backups():
    newest_full_per_client_and_fileset = (
        "SELECT MAX(j.JobId) FROM Job j JOIN FileSet f ON f.FileSetId = j.FileSetId "
        f"WHERE j.Type = 'B' AND j.Level = 'F' AND j.JobStatus IN {_SUCCESSFUL} AND j.JobBytes > 0 "
        "GROUP BY j.ClientId, f.FileSet")
    rows = yield q_all(
        "SELECT c.ClientId, c.Name, f.FileSet, f.FileSetText, j.ReadBytes, j.JobBytes "
        "FROM Job j JOIN Client c ON c.ClientId = j.ClientId "
        "JOIN FileSet f ON f.FileSetId = j.FileSetId "
        f"WHERE j.JobId IN ({newest_full_per_client_and_fileset}) ORDER BY c.Name, f.FileSet")
    return [api.SubscriptionBackup(int(cid), name, fileset, text or "", int(read), int(written))
            for cid, name, fileset, text, read, written in rows]


def op_list_copies(job_ids):
    sql = ("SELECT DISTINCT j.PriorJobId, j.Job, j.JobId, m.MediaType FROM Job j "
           "JOIN JobMedia jm ON jm.JobId = j.JobId JOIN Media m ON m.MediaId = jm.MediaId "
           "WHERE j.Type = 'C'")
    params = []
    if job_ids:
        marks = _placeholders(len(job_ids))
        sql += f" AND (j.PriorJobId IN ({marks}) OR j.JobId IN ({marks}))"
        params = [int(j) for j in job_ids] * 2
    rows = yield q_all(sql + " ORDER BY j.PriorJobId DESC, j.JobId", *params)
    return [api.CopyEntry(*r) for r in rows]


def _success_condition(type_="B"):
    return (f" j.Type = ? AND j.JobStatus IN {_SUCCESSFUL} AND j.StartTime IS NOT NULL",
            (type_,))


def op_last_successful_job(job_name, client, fileset, levels, type_, before):
    client_id = yield from _client_id(client)
    if client_id is None:
        return None
    levels = [levels] if isinstance(levels, str) else list(levels)
    cond, params = _success_condition(type_)
    fs_cond, fs_params = _fileset_condition(fileset)
    sql = (_JOB_SELECT + " WHERE" + cond + fs_cond + " AND j.ClientId = ?"
           + f" AND j.Level IN ({_placeholders(len(levels))})")
    params = params + fs_params + (client_id,) + tuple(levels)
    if job_name is not None:
        sql += " AND j.Name = ?"
        params += (job_name,)
    if before is not None:
        sql += " AND j.StartTime < ?"
        params += (before,)
    row = yield q_one(sql + " ORDER BY j.StartTime DESC, j.JobId DESC LIMIT 1", *params)
    return _job_from_row(row) if row else None


def op_delete_job(job_id):
    # Bareos' rule: once the original is gone, its oldest successful copy becomes the backup.
    yield q_count(
        "UPDATE Job SET Type = 'B' WHERE JobId = (SELECT MIN(JobId) FROM Job WHERE "
        f"PriorJobId = ? AND Type = 'C' AND JobStatus IN {_SUCCESSFUL})", job_id)
    yield q_count("DELETE FROM File WHERE JobId = ?", job_id)
    yield q_count("DELETE FROM PathVisibility WHERE JobId = ?", job_id)
    yield q_count("DELETE FROM JobMedia WHERE JobId = ?", job_id)
    yield q_count("DELETE FROM Log WHERE JobId = ?", job_id)
    n = yield q_count("DELETE FROM Job WHERE JobId = ?", job_id)
    return n > 0


def op_require_job(job_id):
    row = yield q_one("SELECT JobId FROM Job WHERE JobId = ?", job_id)
    if row is None:
        raise CatalogIntegrityError(f"no job with JobId {job_id} in the catalog")


# --- copy and migrate ---------------------------------------------------------

def op_copy_candidates(pool):
    """Successful backups and copies (Type B or C) in ``pool`` (the Job's pool or one of its
    volumes' pool), one row per volume part: see ``api.CopyCandidate``."""
    rows = yield q_all(
        "SELECT j.JobId, j.Name, j.Type, c.Name, j.JobBytes, jp.Name, m.VolumeName, "
        "m.VolStatus, mp.Name, m.LastWritten, m.VolBytes, m.Enabled, j.RealEndTime, "
        "EXISTS (SELECT 1 FROM Job k WHERE k.PriorJobId = j.JobId AND k.Type IN ('B', 'C') "
        f"AND k.JobStatus IN {_SUCCESSFUL}) FROM Job j "
        "LEFT JOIN Client c ON c.ClientId = j.ClientId "
        "LEFT JOIN Pool jp ON jp.PoolId = j.PoolId "
        "LEFT JOIN JobMedia jm ON jm.JobId = j.JobId "
        "LEFT JOIN Media m ON m.MediaId = jm.MediaId "
        "LEFT JOIN Pool mp ON mp.PoolId = m.PoolId "
        f"WHERE j.Type IN ('B', 'C') AND j.JobStatus IN {_SUCCESSFUL} AND (jp.Name = ? OR mp.Name = ?) "
        "ORDER BY j.StartTime, j.JobId, jm.JobMediaId", pool, pool)
    return [api.CopyCandidate(*row[:9], py_time(row[9]), row[10] or 0, row[11] == 1,
                              py_time(row[12]), bool(row[13])) for row in rows]


def op_job_ids_from_query(sql):
    """The JobIds in the first column of an administrator's ``Selection Pattern`` query."""
    rows = yield q_all(sql)
    return [int(row[0]) for row in rows if row and row[0] is not None]


def op_copied_to_pool(job_ids, pool):
    """Of ``job_ids``, those a successful copy or migration already wrote into ``pool``."""
    job_ids = [int(j) for j in job_ids]
    if not job_ids:
        return set()
    rows = yield q_all(
        "SELECT DISTINCT j.PriorJobId FROM Job j JOIN Pool p ON p.PoolId = j.PoolId "
        f"WHERE p.Name = ? AND j.Type IN ('B', 'C') AND j.JobStatus IN {_SUCCESSFUL} "
        f"AND j.PriorJobId IN ({_placeholders(len(job_ids))})", pool, *job_ids)
    return {row[0] for row in rows}


def op_finish_copy(prior_job_id, new_job_id, migrated):
    """The new job of a copy or migration takes the original's place in time (schedule,
    start and end times), as Bareos does, so a restore of a point in time finds it; a
    migrated original becomes Type M, which restores never pick, and its File records are
    purged (they are the new job's now)."""
    row = yield q_one("SELECT SchedTime, StartTime, EndTime, RealEndTime, JobTDate FROM Job "
                      "WHERE JobId = ?", prior_job_id)
    if row is None:
        raise CatalogIntegrityError(f"no job with JobId {prior_job_id} in the catalog")
    yield q_count("UPDATE Job SET SchedTime = ?, StartTime = ?, EndTime = ?, RealEndTime = ?, "
                  "JobTDate = ? WHERE JobId = ?", *row, new_job_id)
    if migrated:
        yield q_count("DELETE FROM File WHERE JobId = ?", prior_job_id)
        yield q_count("UPDATE Job SET Type = 'M', PurgedFiles = 1 WHERE JobId = ?", prior_job_id)


# --- files -------------------------------------------------------------------

def prepare_file_records(records):
    """Validate a batch; returns a list of 6-tuples (FileIndex, Path, Name, LStat, MD5, DeltaSeq)
    with Path and Name as bytes (``api.name_bytes``), what both backends store."""
    out = []
    for rec in records:
        if len(rec) == 6:
            fi, path, name, lstat, md5, delta = rec
        elif len(rec) == 5:
            (fi, path, name, lstat, md5), delta = rec, 0
        else:
            raise ValueError(f"a file record has 6 fields "
                             f"(file_index, path, name, lstat, md5, delta_seq), got {rec!r}")
        if type(path) is not bytes:      # the director's names are bytes already: no call
            path = api.name_bytes(path)
        if type(name) is not bytes:
            name = api.name_bytes(name)
        if b"\0" in path or b"\0" in name:
            raise ValueError(f"file names cannot contain NUL: {path + name!r}")
        out.append((int(fi), path, name, lstat or "", md5 or "0", int(delta or 0)))
    return out


def _filename(path, name):
    """Path and Name columns as read -> the file's name as text (``api.name_text``).

    They are concatenated in Python, not with SQL ``||``: SQLite's ``||`` makes
    text of two BLOBs, which its driver could not decode when not UTF-8."""
    return api.name_text(bytes(path) + bytes(name))


def op_list_files(job_id):
    rows = yield q_all(
        "SELECT p.Path, f.Name, f.FileIndex, f.LStat, f.MD5 FROM File f "
        "JOIN Path p ON p.PathId = f.PathId WHERE f.JobId = ? ORDER BY f.FileIndex, f.FileId",
        job_id)
    return [api.FileEntry(_filename(path, name), *rest) for path, name, *rest in rows]


def _after(start_time, job_id):
    return " AND (j.StartTime > ? OR (j.StartTime = ? AND j.JobId > ?))", (start_time, start_time, job_id)


def _chain_job_ids(client_id, fileset, bound, bound_params):
    """The jobs a restore of a point in time reads: the newest successful Full of the
    client (and fileset) within ``bound`` (an SQL condition on ``j``), the newest
    Differential after it and the Incrementals after those, oldest first."""
    cond, params = _success_condition("B")
    fs_cond, fs_params = _fileset_condition(fileset)
    base = ("SELECT j.JobId, j.StartTime, j.FileSetId FROM Job j WHERE" + cond
            + " AND j.ClientId = ?" + bound)
    params = params + (client_id,) + tuple(bound_params)
    newest = " ORDER BY j.StartTime DESC, j.JobId DESC LIMIT 1"
    full = yield q_one(base + fs_cond + " AND j.Level = 'F'" + newest, *(params + fs_params))
    if full is None:
        return []
    full_id, full_start, fileset_id = full
    # The Differential and Incrementals must belong to the Full's fileset.
    same_fs = " AND j.FileSetId = ?"
    params += (fileset_id,)
    after, after_params = _after(full_start, full_id)
    diff = yield q_one(base + same_fs + " AND j.Level = 'D'" + after + newest, *(params + after_params))
    job_ids = [full_id]
    if diff is not None:
        job_ids.append(diff[0])
        after, after_params = _after(diff[1], diff[0])
    incs = yield q_all(base + same_fs + " AND j.Level = 'I'" + after
                       + " ORDER BY j.StartTime, j.JobId", *(params + after_params))
    job_ids.extend(r[0] for r in incs)
    return job_ids


def op_restore_job_ids(client, fileset, before):
    """``_chain_job_ids`` of the jobs started before ``before`` (None: all)."""
    client_id = yield from _client_id(client)
    if client_id is None:
        return []
    bound, params = (" AND j.StartTime < ?", (before,)) if before is not None else ("", ())
    job_ids = yield from _chain_job_ids(client_id, fileset, bound, params)
    return job_ids


def op_job_chain(job_id, all_filesets):
    """The jobs a restore of the state at backup ``job_id`` reads (Bareos'
    ``.bvfs_get_jobids``): its Full, Differential and Incrementals up to it, oldest
    first; ``all_filesets``: the same for every fileset of its client, one after the
    other.  Empty when there is no such backup."""
    row = yield q_one("SELECT ClientId, FileSetId, StartTime, Level FROM Job WHERE JobId = ? "
                      "AND Type = 'B'", job_id)
    if row is None or row[0] is None:
        return []
    client_id, fileset_id, start, level = row
    if level == "B":                    # a Base job stands alone
        return [job_id]
    if all_filesets:
        rows = yield q_all("SELECT DISTINCT FileSetId FROM Job WHERE ClientId = ? AND Type = 'B' "
                           "AND FileSetId IS NOT NULL ORDER BY FileSetId", client_id)
        filesets = [r[0] for r in rows]
    else:
        filesets = [fileset_id]
    not_after = " AND (j.StartTime < ? OR (j.StartTime = ? AND j.JobId <= ?))"
    job_ids = []
    for fileset in filesets:
        job_ids += yield from _chain_job_ids(client_id, fileset, not_after, (start, start, job_id))
    return job_ids


def op_restore_selection(client, fileset, before):
    job_ids = yield from op_restore_job_ids(client, fileset, before)
    if not job_ids:
        return api.RestoreSelection([], [])
    ranks = ", ".join("(?, ?)" for _ in job_ids)
    rank_params = [v for rank, jid in enumerate(job_ids) for v in (jid, rank)]
    rows = yield q_all(
        "SELECT t.JobId, t.FileIndex, t.Path, t.Name, t.LStat, t.MD5 FROM ("
        " SELECT f.JobId AS JobId, f.FileIndex AS FileIndex, p.Path AS Path, f.Name AS Name,"
        " f.LStat AS LStat, f.MD5 AS MD5, ROW_NUMBER() OVER ("
        "  PARTITION BY f.PathId, f.Name ORDER BY r.column2 DESC, f.FileIndex DESC) AS rn"
        " FROM File f JOIN Path p ON p.PathId = f.PathId"
        f" JOIN (VALUES {ranks}) AS r ON r.column1 = f.JobId"
        ") AS t WHERE t.rn = 1 AND t.FileIndex > 0 ORDER BY t.JobId, t.FileIndex",
        *rank_params)
    return api.RestoreSelection(job_ids, [api.SelectedFile(job_id, file_index, _filename(path, name),
                                                           lstat, md5)
                                          for job_id, file_index, path, name, lstat, md5 in rows])


# --- media -------------------------------------------------------------------

_MEDIA_FIELDS = ["media_id"] + list(MEDIA_COLUMNS)
_MEDIA_TIMES = ("first_written", "last_written", "label_date")
_MEDIA_SELECT = (
    "SELECT m.MediaId, " + ", ".join(f"m.{c}" for c in MEDIA_COLUMNS.values())
    + ", p.Name, s.Name FROM Media m LEFT JOIN Pool p ON p.PoolId = m.PoolId "
    "LEFT JOIN Storage s ON s.StorageId = m.StorageId")


def _volume_from_row(row):
    values = dict(zip(_MEDIA_FIELDS + ["pool", "storage"], row))
    for k in _MEDIA_TIMES:
        values[k] = py_time(values[k])
    return api.VolumeRecord(**values)


def _check_vol_status(fields):
    status = fields.get("vol_status")
    if status is not None and status not in VOLUME_STATUSES:
        raise ValueError(f"unknown VolStatus {status!r}; known: {', '.join(VOLUME_STATUSES)}")


_POOL_DEFAULTS_FOR_MEDIA = ("vol_retention", "vol_use_duration", "max_vol_jobs", "max_vol_files",
                            "max_vol_bytes", "recycle", "label_type")


def op_create_volume(name, pool, media_type, storage_id, fields):
    _check_fields(fields, set(MEDIA_COLUMNS) - {"volume_name", "pool_id", "media_type"}, "volume")
    _check_vol_status(fields)
    pool_id = yield from _pool_id(pool)
    if pool_id is None:
        raise CatalogIntegrityError(f"cannot create volume {name!r}: no pool {pool!r} in the catalog")
    defaults = yield q_one(
        "SELECT " + ", ".join(POOL_COLUMNS[k] for k in _POOL_DEFAULTS_FOR_MEDIA)
        + " FROM Pool WHERE PoolId = ?", pool_id)
    if defaults is None:
        raise CatalogIntegrityError(f"cannot create volume {name!r}: no pool with PoolId {pool_id}")
    values = dict(zip(_POOL_DEFAULTS_FOR_MEDIA, defaults))
    values.update(volume_name=name, pool_id=pool_id, media_type=media_type, storage_id=storage_id)
    values.setdefault("vol_status", "Append")
    values.update(fields)
    cols = ", ".join(MEDIA_COLUMNS[k] for k in values)
    media_id = yield q_insert(f"INSERT INTO Media ({cols}) VALUES ({_placeholders(len(values))})",
                              values.values(), "MediaId")
    yield q_count("UPDATE Pool SET NumVols = (SELECT COUNT(*) FROM Media WHERE PoolId = ?) "
                  "WHERE PoolId = ?", pool_id, pool_id)
    return media_id


def op_get_volume(name):
    if isinstance(name, int):
        row = yield q_one(_MEDIA_SELECT + " WHERE m.MediaId = ?", name)
    else:
        row = yield q_one(_MEDIA_SELECT + " WHERE m.VolumeName = ?", name)
    return _volume_from_row(row) if row else None


def op_update_volume(name, fields):
    _check_fields(fields, set(MEDIA_COLUMNS) - {"volume_name"}, "volume")
    _check_vol_status(fields)
    key = "MediaId" if isinstance(name, int) else "VolumeName"
    if fields:
        sets = ", ".join(f"{MEDIA_COLUMNS[k]} = ?" for k in fields)
        yield q_count(f"UPDATE Media SET {sets} WHERE {key} = ?", *fields.values(), name)
    volume = yield from op_get_volume(name)
    return volume


def op_list_volumes(pool):
    if pool is None:
        rows = yield q_all(_MEDIA_SELECT + " ORDER BY m.MediaId")
    else:
        pool_id = yield from _pool_id(pool)
        rows = yield q_all(_MEDIA_SELECT + " WHERE m.PoolId = ? ORDER BY m.MediaId", pool_id)
    return [_volume_from_row(r) for r in rows]


def op_delete_volume(name):
    """Delete a Media row and, unless the volume was purged, the jobs stored on it; returns
    (deleted?, [JobId of each deleted job]) as Bareos' ``delete volume`` does."""
    volume = yield from op_get_volume(name)
    if volume is None:
        return False, []
    job_ids = []
    if volume.vol_status != "Purged":
        rows = yield q_all("SELECT DISTINCT JobId FROM JobMedia WHERE MediaId = ? ORDER BY JobId",
                           volume.media_id)
        job_ids = [r[0] for r in rows]
        for job_id in job_ids:
            yield from op_delete_job(job_id)
    yield q_count("DELETE FROM JobMedia WHERE MediaId = ?", volume.media_id)
    yield q_count("DELETE FROM Media WHERE MediaId = ?", volume.media_id)
    if volume.pool_id is not None:
        yield q_count("UPDATE Pool SET NumVols = (SELECT COUNT(*) FROM Media WHERE PoolId = ?) "
                      "WHERE PoolId = ?", volume.pool_id, volume.pool_id)
    return True, job_ids


def op_update_volumes_from_pool(pool, media_id):
    """Copy the pool's volume defaults (retention, use duration, max jobs/files/bytes,
    recycle) to every volume of the pool, or only to volume ``media_id`` of it; returns the
    number of volumes updated, None if there is no such pool."""
    pool_id = yield from _pool_id(pool)
    if pool_id is None:
        return None
    copied = [k for k in _POOL_DEFAULTS_FOR_MEDIA if k != "label_type"]
    sets = ", ".join(f"{MEDIA_COLUMNS[k]} = (SELECT {POOL_COLUMNS[k]} FROM Pool WHERE PoolId = ?)"
                     for k in copied)
    which, params = ("", ()) if media_id is None else (" AND MediaId = ?", (media_id,))
    count = yield q_count(f"UPDATE Media SET {sets} WHERE PoolId = ?{which}",
                          *([pool_id] * len(copied)), pool_id, *params)
    return count


def op_find_appendable_volume(pool, media_type, exclude):
    pool_id = yield from _pool_id(pool)
    if pool_id is None:
        return None
    exclude = [exclude] if isinstance(exclude, str) else list(exclude or ())
    sql = (_MEDIA_SELECT + " WHERE m.PoolId = ? AND m.MediaType = ? AND m.VolStatus = 'Append'"
           " AND m.Enabled = 1")
    if exclude:
        sql += f" AND m.VolumeName NOT IN ({_placeholders(len(exclude))})"
    sql += (" ORDER BY CASE WHEN m.LastWritten IS NULL THEN 1 ELSE 0 END, m.LastWritten DESC,"
            " m.MediaId LIMIT 1")
    row = yield q_one(sql, pool_id, media_type, *exclude)
    return _volume_from_row(row) if row else None


def op_count_volumes(pool):
    pool_id = yield from _pool_id(pool)
    row = yield q_one("SELECT COUNT(*) FROM Media WHERE PoolId = ?", pool_id)
    return row[0]


def op_next_volume_name(pool):
    pool_id = yield from _pool_id(pool)
    row = yield q_one("SELECT LabelFormat FROM Pool WHERE PoolId = ?", pool_id)
    if row is None:
        raise CatalogIntegrityError(f"no pool {pool!r} in the catalog")
    fmt = row[0]
    if not fmt:
        return None
    if "$" in fmt or "%" in fmt:
        raise CatalogError(f"Label Format {fmt!r}: variable expansion is not supported yet; "
                           f"use a plain prefix such as 'Full-'")
    count = yield from op_count_volumes(pool_id)
    n = count + 1
    while True:
        name = f"{fmt}{n:04d}"
        taken = yield q_one("SELECT 1 FROM Media WHERE VolumeName = ?", name)
        if not taken:
            return name
        n += 1


def op_create_jobmedia(job_id, media_id, first_index, last_index, start_file, end_file,
                       start_block, end_block, vol_index, job_bytes):
    if vol_index is None:
        row = yield q_one("SELECT COALESCE(MAX(VolIndex), 0) + 1 FROM JobMedia WHERE JobId = ?", job_id)
        vol_index = row[0]
    jm_id = yield q_insert(
        "INSERT INTO JobMedia (JobId, MediaId, FirstIndex, LastIndex, StartFile, EndFile, "
        "StartBlock, EndBlock, VolIndex, JobBytes) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (job_id, media_id, first_index, last_index, start_file, end_file, start_block, end_block,
         vol_index, job_bytes), "JobMediaId")
    return jm_id


_JOBMEDIA_SELECT = (
    "SELECT jm.JobId, j.Job, m.VolumeName, m.MediaType, m.MediaId, j.VolSessionId, "
    "j.VolSessionTime, jm.FirstIndex, jm.LastIndex, jm.StartFile, jm.EndFile, jm.StartBlock, "
    "jm.EndBlock, jm.VolIndex, jm.JobMediaId FROM JobMedia jm "
    "JOIN Job j ON j.JobId = jm.JobId JOIN Media m ON m.MediaId = jm.MediaId")
_JOBMEDIA_ORDER = " ORDER BY jm.JobId, jm.JobMediaId"


def op_jobmedia_for_jobs(job_ids):
    job_ids = [int(j) for j in job_ids]
    if not job_ids:
        return []
    rows = yield q_all(_JOBMEDIA_SELECT + f" WHERE jm.JobId IN ({_placeholders(len(job_ids))})"
                       + _JOBMEDIA_ORDER, *job_ids)
    return [api.JobMediaEntry(*r) for r in rows]


def op_list_jobmedia(job_id):
    if job_id is None:
        rows = yield q_all(_JOBMEDIA_SELECT + _JOBMEDIA_ORDER)
    else:
        rows = yield q_all(_JOBMEDIA_SELECT + " WHERE jm.JobId = ?" + _JOBMEDIA_ORDER, job_id)
    return [api.JobMediaEntry(*r) for r in rows]


# --- retention: prune, purge, recycle ----------------------------------------------
#
# Bareos' rules (ua_prune, ua_purge, recycle, next_vol).  A retention is measured from a
# job's JobTDate; ``cutoff`` is "now - retention" in epoch seconds (the caller's clock).
# Running jobs (``running``: JobIds) are never pruned or purged.

#: Volume states whose jobs expire by Volume Retention (prune volume, AutoPrune).
PRUNABLE_STATES = ("Full", "Used")
#: Volume states a purge may empty and mark Purged.
PURGEABLE_STATES = ("Append", "Full", "Used", "Error")
#: Media.Enabled of an archived volume (Bareos' VOL_ARCHIVED): never pruned nor recycled.
ARCHIVED = 2
_ID_CHUNK = 500


def _chunks(ids):
    ids = list(ids)
    for start in range(0, len(ids), _ID_CHUNK):
        yield ids[start:start + _ID_CHUNK]


def _job_scope(client, pool):
    """SQL condition on Job ``j`` and its parameters: only ``client``'s and ``pool``'s jobs."""
    cond, params = "", ()
    if client is not None:
        cond += " AND j.ClientId IN (SELECT ClientId FROM Client WHERE Name = ?)"
        params += (client,)
    if pool is not None:
        cond += " AND j.PoolId IN (SELECT PoolId FROM Pool WHERE Name = ?)"
        params += (pool,)
    return cond, params


def _purge_files_of(job_ids):
    """Delete the File rows of ``job_ids`` and mark those jobs PurgedFiles."""
    for chunk in _chunks(job_ids):
        marks = _placeholders(len(chunk))
        yield q_count(f"DELETE FROM File WHERE JobId IN ({marks})", *chunk)
        yield q_count(f"UPDATE Job SET PurgedFiles = 1 WHERE JobId IN ({marks})", *chunk)


def _purge_jobs(job_ids):
    for job_id in job_ids:
        yield from op_delete_job(job_id)


def op_prune_files(client, pool, cutoff, running):
    """File rows of the jobs (of ``client``, in ``pool``) whose JobTDate is before ``cutoff``;
    fires with the JobIds whose files were pruned."""
    scope, params = _job_scope(client, pool)
    rows = yield q_all("SELECT j.JobId FROM Job j WHERE j.PurgedFiles = 0 AND j.JobTDate < ?"
                       + scope + " ORDER BY j.JobId", cutoff, *params)
    job_ids = [r[0] for r in rows if r[0] not in running]
    yield from _purge_files_of(job_ids)
    return job_ids


def op_purge_files(client, job_ids, running):
    """File rows of the given jobs, or of every job of ``client``, whatever their age."""
    if client is not None:
        scope, params = _job_scope(client, None)
        rows = yield q_all("SELECT j.JobId FROM Job j WHERE j.PurgedFiles = 0" + scope
                           + " ORDER BY j.JobId", *params)
        job_ids = [r[0] for r in rows]
    job_ids = [j for j in job_ids if j not in running]
    yield from _purge_files_of(job_ids)
    return job_ids


def op_prune_jobs(client, pool, cutoff, running):
    """Delete the jobs (of ``client``, in ``pool``; not Archive) whose JobTDate is before
    ``cutoff``, except what a restore of the newest point in time still needs -- the
    current Full, Differential and Incrementals of each client and fileset (when they
    saved files) -- and the newest Verify InitCatalog.  Fires with the deleted JobIds."""
    scope, params = _job_scope(client, pool)
    rows = yield q_all(
        "SELECT j.JobId, j.Type, j.Level, j.JobStatus, j.ClientId, j.FileSetId, j.JobFiles, "
        "j.JobTDate FROM Job j WHERE j.Type <> 'A' AND j.JobTDate < ?" + scope
        + " ORDER BY j.JobId", cutoff, *params)
    keep = set(running)
    job_files = {r[0]: r[6] for r in rows}
    chains = {(r[4], r[5]) for r in rows
              if r[1] == "B" and r[3] in SUCCESSFUL and r[4] is not None and r[5] is not None}
    for client_id, fileset_id in sorted(chains):
        chain = yield from _chain_job_ids(client_id, fileset_id, "", ())
        keep.update(j for j in chain if job_files.get(j, 1) != 0)
    init_verifies = [r for r in rows if r[1] == "V" and r[2] == "V"]
    if init_verifies:
        keep.add(max(init_verifies, key=lambda r: (r[7], r[0]))[0])
    job_ids = [r[0] for r in rows if r[0] not in keep]
    yield from _purge_jobs(job_ids)
    return job_ids


def op_purge_jobs(client, pool, running):
    """Delete every job of ``client``, or every job with data on a volume of ``pool`` (then
    each emptied, written volume of the pool is marked Purged); fires with the JobIds."""
    if pool is not None:
        pool_id = yield from _pool_id(pool)
        rows = yield q_all("SELECT DISTINCT jm.JobId FROM JobMedia jm JOIN Media m ON "
                           "m.MediaId = jm.MediaId WHERE m.PoolId = ? ORDER BY jm.JobId", pool_id)
    else:
        scope, params = _job_scope(client, None)
        rows = yield q_all("SELECT j.JobId FROM Job j WHERE 1 = 1" + scope + " ORDER BY j.JobId",
                           *params)
    job_ids = [r[0] for r in rows if r[0] not in running]
    yield from _purge_jobs(job_ids)
    if pool is not None:
        volumes = yield from op_list_volumes(pool)
        for volume in volumes:
            yield from _mark_purged_if_empty(volume, force=False)
    return job_ids


def _mark_purged_if_empty(volume, force):
    """Bareos' IsVolumePurged: a volume no job has data on any more becomes Purged (if its
    state allows); a never-written one only when ``force``.  True when it is Purged."""
    if volume.vol_status == "Purged":
        return True
    if not force and (volume.first_written is None or volume.last_written is None):
        return False
    row = yield q_one("SELECT 1 FROM JobMedia WHERE MediaId = ? LIMIT 1", volume.media_id)
    if row is not None or volume.vol_status not in PURGEABLE_STATES:
        return False
    yield q_count("UPDATE Media SET VolStatus = 'Purged' WHERE MediaId = ?", volume.media_id)
    volume.vol_status = "Purged"
    return True


def op_expire_volume(name, now):
    """Bareos' HasVolumeExpired: an Append volume that has been written and reached one of
    its limits becomes Full (Maximum Volume Bytes) or Used (Maximum Volume Jobs / Files,
    Volume Use Duration, counted from FirstWritten).  Fires with the new VolStatus, or None
    when nothing changed."""
    volume = yield from op_get_volume(name)
    if volume is None or volume.vol_status != "Append" or volume.vol_jobs <= 0:
        return None
    status = volume_limit_status(volume, now)
    if status is not None:
        yield q_count("UPDATE Media SET VolStatus = ? WHERE MediaId = ?", status, volume.media_id)
    return status


def volume_limit_status(volume, now):
    """The state a written Append volume's limits put it in ("Full", "Used") or None."""
    if volume.max_vol_bytes and volume.vol_bytes >= volume.max_vol_bytes:
        return "Full"
    if volume.max_vol_jobs and volume.vol_jobs >= volume.max_vol_jobs:
        return "Used"
    if volume.max_vol_files and volume.vol_files >= volume.max_vol_files:
        return "Used"
    if volume.vol_use_duration and volume.first_written is not None:
        if now - volume.first_written.timestamp() >= volume.vol_use_duration:
            return "Used"
    return None


def op_prune_volume(name, now, running):
    """Delete the jobs on a Full or Used volume (an Append one is first checked against its
    limits) whose JobTDate is older than the volume's retention, with the copy and migrate
    jobs of them; an emptied volume becomes Purged.  Fires with a VolumePrune (None for an
    unknown volume)."""
    volume = yield from op_get_volume(name)
    if volume is None:
        return None
    if volume.enabled == ARCHIVED or volume.vol_status == "Archive":
        return api.VolumePrune(volume, [], False, "archived")
    if volume.vol_status == "Append":
        status = yield from op_expire_volume(volume.media_id, now)
        volume.vol_status = status or volume.vol_status
    if volume.vol_status not in PRUNABLE_STATES:
        return api.VolumePrune(volume, [], volume.vol_status == "Purged", "state")
    if volume.first_written is None and volume.last_written is None:
        return api.VolumePrune(volume, [], False, "empty")
    rows = yield q_all("SELECT DISTINCT jm.JobId FROM JobMedia jm JOIN Job j ON j.JobId = jm.JobId "
                       "WHERE jm.MediaId = ? AND j.JobTDate < ? ORDER BY jm.JobId",
                       volume.media_id, now - volume.vol_retention)
    job_ids = [r[0] for r in rows]
    for chunk in _chunks(list(job_ids)):
        copies = yield q_all("SELECT JobId FROM Job WHERE Type IN ('c', 'g') AND PriorJobId IN "
                             f"({_placeholders(len(chunk))}) ORDER BY JobId", *chunk)
        job_ids += [r[0] for r in copies if r[0] not in job_ids]
    job_ids = [j for j in job_ids if j not in running]
    yield from _purge_jobs(job_ids)
    purged = yield from _mark_purged_if_empty(volume, force=False)
    return api.VolumePrune(volume, job_ids, purged, None)


def op_purge_volume(name, running):
    """Delete every job on a volume whatever its retention and mark it Purged; only an
    Append, Full, Used or Error volume.  Fires with a VolumePrune (None if unknown)."""
    volume = yield from op_get_volume(name)
    if volume is None:
        return None
    if volume.vol_status not in PURGEABLE_STATES and volume.vol_status != "Purged":
        return api.VolumePrune(volume, [], False, "state")
    rows = yield q_all("SELECT DISTINCT JobId FROM JobMedia WHERE MediaId = ? ORDER BY JobId",
                       volume.media_id)
    job_ids = [r[0] for r in rows if r[0] not in running]
    yield from _purge_jobs(job_ids)
    purged = yield from _mark_purged_if_empty(volume, force=True)
    return api.VolumePrune(volume, job_ids, purged, None)


def op_recycle_volume(name):
    """Bareos' RecycleVolume: a Purged volume becomes Recycle with its counters and write
    times reset (VolBytes 1: only the label to come); fires with the VolumeRecord."""
    volume = yield from op_get_volume(name)
    if volume is None:
        return None
    yield q_count("UPDATE Media SET VolStatus = 'Recycle', VolJobs = 0, VolFiles = 0, "
                  "VolBlocks = 0, VolErrors = 0, VolBytes = 1, FirstWritten = NULL, "
                  "LastWritten = NULL WHERE MediaId = ?", volume.media_id)
    volume = yield from op_get_volume(volume.media_id)
    return volume


def op_reusable_volumes(pool, media_type, states, exclude):
    """The enabled, recyclable volumes of ``pool`` and ``media_type`` in one of ``states``,
    least recently written first (never written ones before), skipping ``exclude``."""
    pool_id = yield from _pool_id(pool)
    if pool_id is None:
        return []
    sql = (_MEDIA_SELECT + " WHERE m.PoolId = ? AND m.MediaType = ? AND m.Enabled = 1"
           f" AND m.Recycle = 1 AND m.VolStatus IN ({_placeholders(len(states))})")
    params = [pool_id, media_type, *states]
    if exclude:
        sql += f" AND m.VolumeName NOT IN ({_placeholders(len(exclude))})"
        params += list(exclude)
    sql += " ORDER BY CASE WHEN m.LastWritten IS NULL THEN 0 ELSE 1 END, m.LastWritten, m.MediaId"
    rows = yield q_all(sql, *params)
    return [_volume_from_row(r) for r in rows]


# --- log ---------------------------------------------------------------------

def op_add_log(job_id, time, text):
    log_id = yield q_insert("INSERT INTO Log (JobId, Time, LogText) VALUES (?, ?, ?)",
                            (job_id, time, text), "LogId")
    return log_id


def op_job_log(job_id):
    rows = yield q_all("SELECT JobId, Time, LogText FROM Log WHERE JobId = ? ORDER BY LogId", job_id)
    return [api.LogEntry(r[0], py_time(r[1]), r[2]) for r in rows]


def op_recent_log(client, limit, offset):
    sql = ("SELECT l.LogId, j.Name, c.Name, l.Time, l.LogText FROM Log l "
           "JOIN Job j ON j.JobId = l.JobId LEFT JOIN Client c ON c.ClientId = j.ClientId "
           "WHERE j.Type <> 'C'")
    params = []
    if client is not None:
        sql += " AND c.Name = ?"
        params.append(client)
    sql += " ORDER BY l.LogId DESC LIMIT ? OFFSET ?"
    params += [_NO_LIMIT if limit is None else limit, offset or 0]
    rows = yield q_all(sql, *params)
    return [api.ConsoleLogEntry(log_id, job, client_name, py_time(time), text)
            for log_id, job, client_name, time, text in rows]


# --- the shared half of a backend ----------------------------------------------

@implementer(ICatalog)
class SQLCatalog:
    """ICatalog on top of ``self._run(op, *args)`` (run one operation in one
    transaction, return a Deferred) and ``self._store_files(job_id, rows)``."""

    driver = None
    schema_dir = None          # sql/<schema_dir>/NNNN_*.sql

    def __init__(self, reactor, scripts_dir=None, clock=None):
        if reactor is None:
            from twisted.internet import reactor
        self._reactor = reactor
        self._clock = clock or reactor
        self._scripts_dir = scripts_dir or os.path.join(SQL_DIR, self.schema_dir)

    def _now(self):
        return datetime.fromtimestamp(self._clock.seconds()).replace(microsecond=0)

    def _stop_worker(self):
        """Let the backend's database thread (``self._worker``) end; safe to call twice."""
        worker, self._worker = getattr(self, "_worker", None), None
        if worker is not None:
            worker.stop()

    def _run(self, op, *args, **kwargs):
        raise NotImplementedError

    def _store_files(self, job_id, rows):
        raise NotImplementedError

    def _call(self, op, *args, **kwargs):
        """Run an operation; argument errors become a failed Deferred too."""
        from twisted.internet import defer
        try:
            return self._run(op, *args, **kwargs)
        except Exception:
            return defer.fail()

    def schema_version(self):
        return self._call(op_schema_version)

    def ensure_client(self, name, uname=None, auto_prune=None, file_retention=None,
                      job_retention=None):
        return self._call(op_ensure_client, name, uname=uname, auto_prune=auto_prune,
                          file_retention=file_retention, job_retention=job_retention)

    def list_clients(self):
        return self._call(op_list_clients)

    def ensure_fileset(self, name, text, md5):
        return self._call(op_ensure_fileset, name, text, md5, self._now())

    def ensure_pool(self, name, pool_type="Backup", label_format=None, max_volume_bytes=0,
                    volume_use_duration=0, max_volume_jobs=0, **more):
        from twisted.internet import defer
        try:
            fields = normalise_pool_fields(dict(
                pool_type=pool_type, label_format=label_format, max_vol_bytes=max_volume_bytes,
                vol_use_duration=volume_use_duration, max_vol_jobs=max_volume_jobs, **more))
        except Exception:
            return defer.fail()
        return self._call(op_ensure_pool, name, fields)

    def list_pools(self, name=None, pool_id=None):
        return self._call(op_list_pools, name, pool_id)

    def list_filesets(self, fileset_id=None):
        return self._call(op_list_filesets, fileset_id)

    def list_storages(self):
        return self._call(op_list_storages)

    def delete_pool(self, name):
        return self._call(op_delete_pool, name)

    def ensure_storage(self, name, auto_changer=False):
        return self._call(op_ensure_storage, name, auto_changer)

    def create_job(self, job):
        return self._call(op_create_job, job)

    def update_job(self, job_id, **fields):
        return self._call(op_update_job, job_id, fields)

    def get_job(self, job_id):
        return self._call(op_get_job, job_id)

    def list_jobs(self, client=None, name=None, status=None, job_id=None, type=None, level=None,
                  limit=None):
        return self._call(op_list_jobs, client=client, name=name, status=status, job_id=job_id,
                          type=type, level=level, limit=limit)

    def query_jobs(self, query):
        return self._call(op_query_jobs, query)

    def count_jobs(self, query):
        return self._call(op_count_jobs, query)

    def job_totals(self):
        return self._call(op_job_totals)

    def subscription_backups(self):
        return self._call(op_subscription_backups)

    def list_copies(self, job_ids=None):
        return self._call(op_list_copies, list(job_ids or ()))

    def last_successful_job(self, job_name, client, fileset, levels=("F",), type="B", before=None):
        return self._call(op_last_successful_job, job_name, client, fileset, levels, type, before)

    def delete_job(self, job_id):
        return self._call(op_delete_job, job_id)

    def copy_candidates(self, pool):
        return self._call(op_copy_candidates, pool)

    def job_ids_from_query(self, sql):
        return self._call(op_job_ids_from_query, sql)

    def copied_to_pool(self, job_ids, pool):
        return self._call(op_copied_to_pool, job_ids, pool)

    def finish_copy(self, prior_job_id, new_job_id, migrated=False):
        return self._call(op_finish_copy, prior_job_id, new_job_id, migrated)

    def add_file_records(self, job_id, records):
        from twisted.internet import defer
        try:
            rows = prepare_file_records(records)
        except Exception:
            return defer.fail()
        if not rows:
            return defer.succeed(0)
        return self._store_files(int(job_id), rows)

    def list_files(self, job_id):
        return self._call(op_list_files, job_id)

    def restore_selection(self, client, fileset=None, before=None):
        return self._call(op_restore_selection, client, fileset, before)

    def restore_job_ids(self, client, fileset=None, before=None):
        return self._call(op_restore_job_ids, client, fileset, before)

    def job_chain(self, job_id, all_filesets=False):
        return self._call(op_job_chain, job_id, all_filesets)

    def run_operation(self, op, *args, **kwargs):
        """Run an operation generator of another module (``bareos.catalog.bvfs``) in one
        transaction, as the methods above run those of this one."""
        return self._call(op, *args, **kwargs)

    def create_volume(self, name, pool, media_type, storage_id=None, **fields):
        return self._call(op_create_volume, name, pool, media_type, storage_id, fields)

    def get_volume(self, name):
        return self._call(op_get_volume, name)

    def update_volume(self, name, **fields):
        return self._call(op_update_volume, name, fields)

    def list_volumes(self, pool=None):
        return self._call(op_list_volumes, pool)

    def delete_volume(self, name):
        return self._call(op_delete_volume, name)

    def update_volumes_from_pool(self, pool, media_id=None):
        return self._call(op_update_volumes_from_pool, pool, media_id)

    def find_appendable_volume(self, pool, media_type, exclude=()):
        return self._call(op_find_appendable_volume, pool, media_type, exclude)

    def count_volumes(self, pool):
        return self._call(op_count_volumes, pool)

    def next_volume_name(self, pool):
        return self._call(op_next_volume_name, pool)

    # retention: ``now`` defaults to the catalog's clock (epoch seconds)
    def _seconds(self, now):
        return int(self._clock.seconds() if now is None else now)

    def prune_files(self, client, pool, retention, now=None, running=()):
        return self._call(op_prune_files, client, pool, self._seconds(now) - int(retention),
                          set(running))

    def purge_files(self, client=None, job_ids=(), running=()):
        return self._call(op_purge_files, client, [int(j) for j in job_ids], set(running))

    def prune_jobs(self, client, pool, retention, now=None, running=()):
        return self._call(op_prune_jobs, client, pool, self._seconds(now) - int(retention),
                          set(running))

    def purge_jobs(self, client=None, pool=None, running=()):
        return self._call(op_purge_jobs, client, pool, set(running))

    def prune_volume(self, name, now=None, running=()):
        return self._call(op_prune_volume, name, self._seconds(now), set(running))

    def purge_volume(self, name, running=()):
        return self._call(op_purge_volume, name, set(running))

    def expire_volume(self, name, now=None):
        return self._call(op_expire_volume, name, self._seconds(now))

    def recycle_volume(self, name):
        return self._call(op_recycle_volume, name)

    def reusable_volumes(self, pool, media_type, states, exclude=()):
        return self._call(op_reusable_volumes, pool, media_type, tuple(states), list(exclude))

    def create_jobmedia(self, job_id, media_id, first_index, last_index, start_file, end_file,
                        start_block, end_block, vol_index=None, job_bytes=0):
        return self._call(op_create_jobmedia, job_id, media_id, first_index, last_index,
                          start_file, end_file, start_block, end_block, vol_index, job_bytes)

    def jobmedia_for_jobs(self, job_ids):
        return self._call(op_jobmedia_for_jobs, list(job_ids))

    def list_jobmedia(self, job_id=None):
        return self._call(op_list_jobmedia, job_id)

    def add_log(self, job_id, time, text):
        return self._call(op_add_log, job_id, time if time is not None else self._now(), text)

    def job_log(self, job_id):
        return self._call(op_job_log, job_id)

    def recent_log(self, client=None, limit=None, offset=0):
        return self._call(op_recent_log, client, limit, offset)
