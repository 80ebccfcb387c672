"""The catalog test suite: every test runs against SQLite and against PostgreSQL."""

import os
import shutil
import types
from datetime import datetime, timedelta, timezone

import pytest
import pytest_twisted
from twisted.internet import defer, task
from zope.interface.verify import verifyObject

from bareos.catalog import (
    CatalogConfigError, CatalogConnectionError, CatalogIntegrityError, CatalogSchemaError,
    FileEntry, FileRecord, ICatalog, JobRecord, make_catalog, open_catalog, open_catalog_retrying,
)
from bareos.catalog import core
from bareos.catalog.api import CatalogQueryError, JobQuery, name_bytes
from bareos.catalog.sqlite import sqlite_path
from bareos.network.retry import backoff

T0 = datetime(2024, 3, 1, 22, 0, 0)


def scripts_of(backend):
    return os.path.join(core.SQL_DIR, {"sqlite": "sqlite", "postgresql": "postgresql"}[backend])


def latest(backend):
    """The schema version this program creates: the number of its NNNN_*.sql steps."""
    return len(core.discover_scripts(scripts_of(backend)))


def raw(cat, sql, *params):
    """Run one SQL statement through the backend (test-only access to the tables)."""
    def op():
        rows = yield core.q_all(sql, *params)
        return rows
    return cat._run(op)


def raw_write(cat, sql, *params):
    """Run one INSERT/UPDATE through the backend; fires with the row count."""
    def op():
        count = yield core.q_count(sql, *params)
        return count
    return cat._run(op)


def job(name="backup-fd1", n=1, level="F", status="T", start=T0, **kw):
    return JobRecord(job=f"{name}.{start:%Y-%m-%d_%H.%M.%S}_{n:02d}", name=name, level=level,
                     job_status=status, sched_time=start, start_time=start,
                     end_time=start + timedelta(minutes=5), job_tdate=int(start.timestamp()), **kw)


@defer.inlineCallbacks
def setup_client(cat, client="fd1-fd", fileset_md5="md5-a"):
    client_id = yield cat.ensure_client(client, uname="Linux x86_64")
    fileset_id = yield cat.ensure_fileset("LinuxAll", "Include { File = / }", fileset_md5)
    pool_id = yield cat.ensure_pool("Full", label_format="Full-", max_volume_bytes=10 ** 9)
    return client_id, fileset_id, pool_id


# --- schema ---------------------------------------------------------------------

def test_provides_the_interface(catalog, backend):
    assert verifyObject(ICatalog, catalog)
    assert catalog.driver == {"sqlite": "sqlite3", "postgresql": "postgresql"}[backend]


@pytest_twisted.inlineCallbacks
def test_schema_created_on_first_open_and_kept_on_reopen(catalog, open_cat, backend):
    assert (yield catalog.schema_version()) == latest(backend)
    client_id = yield catalog.ensure_client("fd1-fd")
    yield catalog.close()
    again = yield open_cat()
    assert (yield again.schema_version()) == latest(backend)
    assert [c.client_id for c in (yield again.list_clients())] == [client_id]
    tables = {"job", "file", "path", "media", "pool", "client", "fileset", "jobmedia",
              "storage", "log", "version"}
    for table in sorted(tables):
        rows = yield raw(again, f"SELECT COUNT(*) FROM {table}")
        assert rows[0][0] >= 0


def _scripts_with(tmp_path, backend, extra):
    dst = tmp_path / "scripts"
    shutil.copytree(scripts_of(backend), dst)
    for name, text in extra.items():
        (dst / name).write_text(text)
    return str(dst)


@pytest_twisted.inlineCallbacks
def test_upgrade_through_a_numbered_script(catalog, open_cat, backend, tmp_path):
    yield catalog.ensure_client("fd1-fd")
    yield catalog.close()
    step = latest(backend) + 1
    scripts = _scripts_with(tmp_path, backend, {
        f"{step:04d}_client_notes.sql": "-- test-only step\n"
                                 "ALTER TABLE Client ADD COLUMN Notes text;\n"
                                 "UPDATE Client SET Notes = 'upgraded';\n"
                                 "CREATE TABLE Extra (ExtraId integer);\n"})
    upgraded = yield open_cat(scripts_dir=scripts)
    assert (yield upgraded.schema_version()) == step
    assert (yield raw(upgraded, "SELECT Name, Notes FROM Client")) == [("fd1-fd", "upgraded")]
    yield upgraded.close()
    # Opening it again with the same scripts changes nothing.
    same = yield open_cat(scripts_dir=scripts)
    assert (yield same.schema_version()) == step
    yield same.close()
    # This program (not knowing that step) refuses the newer schema, clearly.
    with pytest.raises(CatalogSchemaError,
                       match=rf"schema version {step}, newer than .* knows \({step - 1}\)"):
        yield open_cat()


@pytest_twisted.inlineCallbacks
def test_failing_upgrade_script_changes_nothing(catalog, open_cat, backend, tmp_path):
    yield catalog.close()
    step = latest(backend) + 1
    scripts = _scripts_with(tmp_path, backend, {
        f"{step:04d}_broken.sql": "ALTER TABLE Client ADD COLUMN Notes text;\n"
                                  "ALTER TABLE NoSuchTable ADD COLUMN X text;\n"})
    with pytest.raises(CatalogSchemaError, match=f"{step:04d}_broken.sql failed"):
        yield open_cat(scripts_dir=scripts)
    again = yield open_cat()
    assert (yield again.schema_version()) == step - 1
    yield again.ensure_client("still-works")


@pytest_twisted.inlineCallbacks
def test_script_numbering_must_have_no_gaps(open_cat, backend, tmp_path):
    scripts = _scripts_with(tmp_path, backend, {f"{latest(backend) + 2:04d}_skip.sql": "SELECT 1;"})
    with pytest.raises(CatalogSchemaError, match="without gaps"):
        yield open_cat(scripts_dir=scripts)


# --- clients, filesets, pools, storages ---------------------------------------------

@pytest_twisted.inlineCallbacks
def test_ensure_client(catalog):
    a = yield catalog.ensure_client("fd1-fd")
    assert (yield catalog.ensure_client("fd1-fd")) == a
    b = yield catalog.ensure_client("fd2-fd", uname="FreeBSD")
    assert b != a
    yield catalog.ensure_client("fd1-fd", uname="Linux", file_retention=60, job_retention=180)
    clients = yield catalog.list_clients()
    assert [(c.client_id, c.name, c.uname) for c in clients] == [
        (a, "fd1-fd", "Linux"), (b, "fd2-fd", "FreeBSD")]
    assert (clients[0].file_retention, clients[0].job_retention) == (60, 180)


@pytest_twisted.inlineCallbacks
def test_ensure_fileset_new_id_when_definition_changes(catalog):
    a = yield catalog.ensure_fileset("LinuxAll", "Include { File = /etc }", "md5-a")
    assert (yield catalog.ensure_fileset("LinuxAll", "Include { File = /etc }", "md5-a")) == a
    b = yield catalog.ensure_fileset("LinuxAll", "Include { File = /home }", "md5-b")
    assert b != a
    assert (yield catalog.ensure_fileset("Other", "x", "md5-a")) not in (a, b)


@pytest_twisted.inlineCallbacks
def test_a_consoles_own_sql_gives_columns_and_rows_or_the_databases_refusal(catalog):
    client_id = yield catalog.ensure_client("fd1-fd")
    assert (yield catalog.run_operation(
        core.op_sql_query, f"UPDATE Client SET Uname = 'x' WHERE ClientId = {client_id}")) == \
        ([], [])
    assert (yield catalog.run_operation(
        core.op_sql_query, "SELECT Name AS name, UName AS uname, NULL AS missing FROM Client")) == \
        (["name", "uname", "missing"], [("fd1-fd", "x", None)])
    with pytest.raises(CatalogQueryError, match="syntax error"):
        yield catalog.run_operation(core.op_sql_query, "SELEC name FROM Client")
    # the refused statement's transaction is over: the catalog goes on
    assert (yield catalog.ensure_client("fd1-fd")) == client_id


@pytest_twisted.inlineCallbacks
def test_ensure_pool_follows_configuration(catalog):
    full = yield catalog.ensure_pool("Full", pool_type="Backup", label_format="Full-",
                                     max_volume_bytes=50 * 2 ** 30, volume_use_duration=86400,
                                     max_volume_jobs=10, volume_retention=365 * 86400,
                                     max_vols=100)
    assert (yield catalog.ensure_pool("Full", label_format="Full-")) == full
    yield catalog.ensure_pool("Full", label_format="F-", max_volume_bytes=1000)
    inc = yield catalog.ensure_pool("Incremental", label_format="Inc-")
    pools = yield catalog.list_pools()
    assert [p.name for p in pools] == ["Full", "Incremental"]
    p = pools[0]
    assert (p.pool_id, p.pool_type, p.label_format, p.max_vol_bytes, p.vol_use_duration,
            p.max_vol_jobs, p.vol_retention, p.max_vols, p.num_vols) == (
        full, "Backup", "F-", 1000, 0, 0, 365 * 86400, 100, 0)
    assert pools[1].pool_id == inc
    with pytest.raises(ValueError, match="pool type"):
        yield catalog.ensure_pool("Bad", pool_type="Nonsense")
    with pytest.raises(TypeError, match="unknown pool field"):
        yield catalog.ensure_pool("Bad", colour="blue")


@pytest_twisted.inlineCallbacks
def test_ensure_storage(catalog):
    a = yield catalog.ensure_storage("File")
    assert (yield catalog.ensure_storage("File")) == a
    assert (yield catalog.ensure_storage("Tape", auto_changer=True)) != a
    assert (yield raw(catalog, "SELECT Name, AutoChanger FROM Storage ORDER BY StorageId")) == [
        ("File", 0), ("Tape", 1)]


# --- jobs -----------------------------------------------------------------------

@pytest_twisted.inlineCallbacks
def test_create_and_get_job_round_trip(catalog):
    client_id, fileset_id, pool_id = yield setup_client(catalog)
    record = job(client_id=client_id, fileset_id=fileset_id, pool_id=pool_id, status="R",
                 comment="first", vol_session_id=7, vol_session_time=1700000000)
    job_id = yield catalog.create_job(record)
    got = yield catalog.get_job(job_id)
    assert got.job_id == job_id
    for field in ("job", "name", "type", "level", "job_status", "client_id", "fileset_id",
                  "pool_id", "sched_time", "start_time", "end_time", "job_tdate",
                  "vol_session_id", "vol_session_time", "comment"):
        assert getattr(got, field) == getattr(record, field), field
    assert (got.client, got.fileset, got.pool) == ("fd1-fd", "LinuxAll", "Full")
    assert isinstance(got.start_time, datetime)
    assert (yield catalog.get_job(job_id + 1000)) is None


@pytest_twisted.inlineCallbacks
def test_job_times_are_whole_seconds_local(catalog):
    aware = datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=timezone.utc)
    job_id = yield catalog.create_job(JobRecord(job="j.1", name="j", start_time=aware))
    got = yield catalog.get_job(job_id)
    assert got.start_time == aware.astimezone().replace(tzinfo=None, microsecond=0)


@pytest_twisted.inlineCallbacks
def test_create_job_rejects_duplicates_and_bad_codes(catalog):
    yield catalog.create_job(JobRecord(job="same.1", name="same"))
    with pytest.raises(CatalogIntegrityError):
        yield catalog.create_job(JobRecord(job="same.1", name="same"))
    with pytest.raises(ValueError, match="Job Level"):
        yield catalog.create_job(JobRecord(job="x.1", name="x", level="Full"))
    # the catalog is still usable after the failed transactions
    assert len((yield catalog.list_jobs())) == 1


@pytest_twisted.inlineCallbacks
def test_update_job(catalog):
    client_id, _, _ = yield setup_client(catalog)
    job_id = yield catalog.create_job(job(client_id=client_id, status="R"))
    prior = yield catalog.create_job(job(n=2, client_id=client_id))
    end = T0 + timedelta(hours=1)
    ok = yield catalog.update_job(job_id, job_status="T", end_time=end, real_end_time=end,
                                  job_files=10000, job_bytes=2 ** 40, read_bytes=2 ** 40 + 5,
                                  job_errors=1, vol_session_id=3, vol_session_time=1700000001,
                                  prior_job_id=prior)
    assert ok is True
    got = yield catalog.get_job(job_id)
    assert (got.job_status, got.end_time, got.real_end_time, got.job_files, got.job_bytes,
            got.read_bytes, got.job_errors, got.vol_session_id, got.vol_session_time,
            got.prior_job_id) == ("T", end, end, 10000, 2 ** 40, 2 ** 40 + 5, 1, 3, 1700000001,
                                  prior)
    assert (yield catalog.update_job(job_id + 1000, job_status="E")) is False
    assert (yield catalog.update_job(job_id)) is True
    with pytest.raises(TypeError, match="unknown job field.*bogus"):
        yield catalog.update_job(job_id, bogus=1)
    with pytest.raises(ValueError, match="JobStatus"):
        yield catalog.update_job(job_id, job_status="")


@pytest_twisted.inlineCallbacks
def test_list_jobs_filters(catalog):
    c1, fs, pool = yield setup_client(catalog, "fd1-fd")
    c2 = yield catalog.ensure_client("fd2-fd")
    ids = []
    for i, (client, name, status, level) in enumerate([
            (c1, "backup-fd1", "T", "F"), (c1, "backup-fd1", "E", "I"), (c2, "backup-fd2", "T", "F"),
            (c1, "backup-fd1", "T", "I"), (c2, "backup-fd2", "f", "I")]):
        ids.append((yield catalog.create_job(job(name, n=i, level=level, status=status,
                                                 start=T0 + timedelta(days=i), client_id=client))))
    all_jobs = yield catalog.list_jobs()
    assert [j.job_id for j in all_jobs] == ids
    assert [j.job_id for j in (yield catalog.list_jobs(client="fd1-fd"))] == [ids[0], ids[1], ids[3]]
    assert [j.job_id for j in (yield catalog.list_jobs(client=c2))] == [ids[2], ids[4]]
    assert [j.job_id for j in (yield catalog.list_jobs(name="backup-fd2"))] == [ids[2], ids[4]]
    assert [j.job_id for j in (yield catalog.list_jobs(status="T"))] == [ids[0], ids[2], ids[3]]
    assert [j.job_id for j in (yield catalog.list_jobs(status=("E", "f")))] == [ids[1], ids[4]]
    assert [j.job_id for j in (yield catalog.list_jobs(level="I", client="fd1-fd"))] == [ids[1], ids[3]]
    assert [j.job_id for j in (yield catalog.list_jobs(job_id=ids[2]))] == [ids[2]]
    assert [j.job_id for j in (yield catalog.list_jobs(limit=2))] == ids[3:]
    assert (yield catalog.list_jobs(client="nobody")) == []


@pytest_twisted.inlineCallbacks
def test_job_queries_of_the_console_list(catalog):
    """What ``list jobs`` / ``jobtotals`` / ``copies`` / ``jobmedia`` ask, on both backends."""
    client_id, fileset_id, pool_id = yield setup_client(catalog)
    incr_pool = yield catalog.ensure_pool("Incremental")
    storage_id = yield catalog.ensure_storage("File")
    full_vol = yield catalog.create_volume("Full-0001", "Full", "File", storage_id=storage_id)
    incr_vol = yield catalog.create_volume("Incr-0001", "Incremental", "File")
    ids = []
    for i, (name, level, status, pool, volume, type_) in enumerate([
            ("backup-fd1", "F", "T", pool_id, full_vol, "B"),
            ("backup-fd1", "I", "T", incr_pool, incr_vol, "B"),
            ("backup-fd2", "F", "E", pool_id, full_vol, "B"),
            ("backup-fd1", "I", "W", incr_pool, incr_vol, "B"),
            ("copy-fd1", "F", "T", pool_id, incr_vol, "C")]):
        ids.append((yield catalog.create_job(job(
            name, n=i, level=level, status=status, start=T0 + timedelta(days=i),
            client_id=client_id, fileset_id=fileset_id, pool_id=pool, type=type_,
            job_files=i, job_bytes=100 * i, prior_job_id=ids[0] if type_ == "C" else None))))
        yield catalog.create_jobmedia(ids[-1], volume, 1, i, 0, 0, 0, 10)

    def selected(**fields):
        return catalog.query_jobs(JobQuery(**fields)).addCallback(
            lambda jobs: [ids.index(j.job_id) for j in jobs])

    assert (yield selected(volume="Incr-0001")) == [1, 3, 4]
    assert (yield selected(volume="Incr-0001", types=("B",))) == [1, 3]
    assert (yield selected(pool="Incremental", statuses=("T", "W"))) == [1, 3]
    assert (yield selected(pool="nosuch")) == []
    assert (yield selected(last=True)) == [2, 3, 4]
    assert (yield selected(last=True, statuses=("T",))) == [1, 4]
    assert (yield selected(since=T0 + timedelta(days=2, hours=1))) == [3, 4]
    assert (yield selected(levels=("I",), client="fd1-fd", descending=True)) == [3, 1]
    assert (yield selected(limit=2, offset=1)) == [1, 2]
    assert (yield selected(offset=3)) == [3, 4]
    assert (yield selected(job=f"backup-fd2.{T0 + timedelta(days=2):%Y-%m-%d_%H.%M.%S}_02")) == [2]
    assert (yield selected(filesets=("LinuxAll",))) == [0, 1, 2, 3, 4]
    assert (yield selected(filesets=())) == []
    assert (yield catalog.count_jobs(JobQuery(types=("B",), limit=1))) == 4
    assert (yield catalog.count_jobs(JobQuery(last=True))) == 3
    per_name, total = yield catalog.job_totals()
    assert [tuple(t) for t in per_name] == [("backup-fd1", 3, 4, 400), ("backup-fd2", 1, 2, 200),
                                            ("copy-fd1", 1, 4, 400)]
    assert tuple(total) == (None, 5, 10, 1000)
    assert (yield catalog.list_copies()) == [(ids[0], f"copy-fd1.{T0 + timedelta(days=4):%Y-%m-%d_%H.%M.%S}_04",
                                              ids[4], "File")]
    assert (yield catalog.list_copies([ids[2]])) == []
    assert [e.job_id for e in (yield catalog.list_jobmedia())] == ids
    assert [e.volume_name for e in (yield catalog.list_jobmedia(ids[1]))] == ["Incr-0001"]
    assert [(f.fileset, f.md5) for f in (yield catalog.list_filesets())] == [("LinuxAll", "md5-a")]
    assert [s.name for s in (yield catalog.list_storages())] == ["File"]
    assert [p.name for p in (yield catalog.list_pools(name="Incremental"))] == ["Incremental"]
    assert [p.name for p in (yield catalog.list_pools(pool_id=pool_id))] == ["Full"]
    for job_id in ids:
        yield catalog.add_log(job_id, T0, f"job {job_id}\n")
    newest = yield catalog.recent_log(limit=2, offset=1)           # the copy job's is left out
    assert [(e.job_name, e.client, e.text) for e in newest] == [
        ("backup-fd2", "fd1-fd", f"job {ids[2]}\n"), ("backup-fd1", "fd1-fd", f"job {ids[1]}\n")]
    assert (yield catalog.recent_log(client="nobody")) == []


@pytest_twisted.inlineCallbacks
def test_last_successful_job(catalog):
    c1, fs_a, pool = yield setup_client(catalog)
    fs_b = yield catalog.ensure_fileset("LinuxAll", "changed", "md5-b")
    c2 = yield catalog.ensure_client("fd2-fd")
    day = timedelta(days=1)

    def make(n, level, status="T", fileset=fs_a, client=c1, name="backup-fd1"):
        return catalog.create_job(job(name, n=n, level=level, status=status, start=T0 + n * day,
                                      client_id=client, fileset_id=fileset))

    full = yield make(1, "F")
    inc = yield make(2, "I")
    diff = yield make(3, "D", status="W")          # OK with warnings counts
    yield make(4, "F", status="E")                 # failed: ignored
    yield make(5, "I", status="A")                 # canceled: ignored
    yield make(6, "F", client=c2)                  # another client
    yield make(7, "F", fileset=fs_b)               # another fileset definition
    yield make(8, "F", name="other-job")           # another job

    last = lambda *a, **kw: catalog.last_successful_job("backup-fd1", *a, **kw)  # noqa: E731
    got = yield last("fd1-fd", fs_a)
    assert got.job_id == full and got.start_time == T0 + day and got.job_tdate == int((T0 + day).timestamp())
    assert (yield last(c1, fs_a, levels=("F", "D"))).job_id == diff
    assert (yield last(c1, fs_a, levels=("F", "D", "I"))).job_id == diff
    assert (yield last(c1, fs_a, levels=("F", "D", "I"), before=T0 + 3 * day)).job_id == inc
    assert (yield last(c1, fs_b)).level == "F"
    assert (yield last(c1, "LinuxAll")).job_id != full   # by name: any definition, newest first
    assert (yield last(c1, fs_a, before=T0 + day)) is None
    assert (yield last("nobody", fs_a)) is None
    assert (yield catalog.last_successful_job("backup-fd2", c1, fs_a)) is None


@pytest_twisted.inlineCallbacks
def test_concurrent_operations(catalog):
    client_id = yield catalog.ensure_client("fd1-fd")
    ids = yield defer.gatherResults([
        catalog.create_job(JobRecord(job=f"c.{i}", name="c", client_id=client_id)) for i in range(40)])
    assert len(set(ids)) == 40
    clients = yield defer.gatherResults([catalog.ensure_client(f"fd-{i % 5}") for i in range(20)])
    assert len(set(clients)) == 5


# --- file records ----------------------------------------------------------------

NASTY = ["plain", "with space", "tab\there", "new\nline", "cr\rreturn", "back\\slash",
         "trailing\\", "\\N", "\\.", "quote'single", 'quote"double', "ümlaut é ß",
         "日本語", "emoji 🎉", "percent %s %% ?", "semi;colon,comma", "bell\x07 esc\x1b",
         "form\ffeed vt\vab\bspace", "del\x7f", "  leading and trailing  "]


def nasty_records(count, seed=""):
    records, index = [], 0
    per_dir = 25
    while len(records) < count:
        d = len(records) // per_dir
        directory = f"/data{seed}/{NASTY[d % len(NASTY)]}/sub {d}/"
        index += 1
        records.append(FileRecord(index, directory, "", f"A B C {d}", "0", 0))   # the directory
        for k in range(per_dir - 1):
            if len(records) >= count:
                break
            index += 1
            name = f"{NASTY[(d + k) % len(NASTY)]}-{k}"
            records.append((index, directory, name, f"gg AB IGk B A A A {index}",
                            f"1B2M2Y8AsgTpgAmY7PhCfg{k}", k % 3))
    return records


@pytest_twisted.inlineCallbacks
def test_ten_thousand_file_batch_with_awkward_names(catalog):
    job_id = yield catalog.create_job(JobRecord(job="files.1", name="files"))
    records = nasty_records(10000)
    stored = yield catalog.add_file_records(job_id, records)
    assert stored == 10000
    files = yield catalog.list_files(job_id)
    assert files == [FileEntry(r[1] + r[2], r[0], r[3], r[4]) for r in records]
    # directories are stored as Name '' with the trailing-slash Path
    rows = yield raw(catalog, "SELECT COUNT(*) FROM File WHERE JobId = ? AND length(Name) = 0",
                     job_id)
    assert rows[0][0] == 400
    paths = yield raw(catalog, "SELECT COUNT(*) FROM Path")
    assert paths[0][0] == 400


@pytest_twisted.inlineCallbacks
def test_batches_append_and_share_paths(catalog):
    a = yield catalog.create_job(JobRecord(job="a.1", name="a"))
    b = yield catalog.create_job(JobRecord(job="b.1", name="b"))
    first = nasty_records(300)
    yield catalog.add_file_records(a, first[:100])
    yield catalog.add_file_records(a, first[100:])
    yield catalog.add_file_records(b, first[:50])
    assert len((yield catalog.list_files(a))) == 300
    assert [f.filename for f in (yield catalog.list_files(b))] == [r[1] + r[2] for r in first[:50]]
    paths = yield raw(catalog, "SELECT COUNT(*) FROM Path")
    assert paths[0][0] == 12          # 300 records, 25 per directory, paths shared by both jobs
    assert (yield catalog.add_file_records(a, [])) == 0


@pytest_twisted.inlineCallbacks
def test_delta_seq_and_missing_md5(catalog):
    job_id = yield catalog.create_job(JobRecord(job="d.1", name="d"))
    yield catalog.add_file_records(job_id, [(1, "/x/", "f", "lstat", None, 2),
                                           (2, "/x/", "g", "lstat", "abc")])
    assert (yield catalog.list_files(job_id)) == [FileEntry("/x/f", 1, "lstat", "0"),
                                                  FileEntry("/x/g", 2, "lstat", "abc")]
    rows = yield raw(catalog, "SELECT DeltaSeq FROM File WHERE JobId = ? ORDER BY FileIndex", job_id)
    assert [r[0] for r in rows] == [2, 0]


@pytest_twisted.inlineCallbacks
def test_file_records_refused_cleanly(catalog):
    with pytest.raises(CatalogIntegrityError, match="no job with JobId 999"):
        yield catalog.add_file_records(999, [(1, "/x/", "f", "l", "0", 0)])
    job_id = yield catalog.create_job(JobRecord(job="n.1", name="n"))
    with pytest.raises(ValueError, match="NUL"):
        yield catalog.add_file_records(job_id, [(1, "/x/", "bad\0name", "l", "0", 0)])
    with pytest.raises(ValueError, match="6 fields"):
        yield catalog.add_file_records(job_id, [(1, "/x/")])
    assert (yield catalog.list_files(job_id)) == []
    assert (yield catalog.add_file_records(job_id, [(1, "/x/", "ok", "l", "0", 0)])) == 1


# Names as Bareos keeps them: bytes.  Latin-1 (not UTF-8), broken and overlong UTF-8
# sequences, an encoded surrogate, and names that are fine UTF-8 next to them.
BYTE_NAMES = [b"caf\xe9", b"\xff\xfe lead", b"cut \xc3", b"bad \xc3( seq", b"overlong \xc0\xaf",
              b"surrogate \xed\xa0\x80", b"caf\xc3\xa9", b"caf\\xe9", b"tab\t\xe9\nnl\\"]
BYTE_DIRS = [b"/data/latin1 \xe9t\xe9/", b"/data/ok \xc3\xa9t\xc3\xa9/", b"/data/\x80\x81/"]


def byte_records():
    records, index = [], 0
    for directory in BYTE_DIRS:
        index += 1
        records.append((index, directory, b"", "A B C", "0", 0))
        for name in BYTE_NAMES:
            index += 1
            records.append((index, directory, name, f"lstat {index}", "0", 0))
    return records


@pytest_twisted.inlineCallbacks
def test_names_that_are_not_utf8_are_stored_and_read_back_byte_for_byte(catalog):
    c1, fs, _ = yield setup_client(catalog)
    job_id = yield catalog.create_job(job(n=1, client_id=c1, fileset_id=fs))
    records = byte_records()
    assert (yield catalog.add_file_records(job_id, records)) == len(records)
    files = yield catalog.list_files(job_id)
    assert [name_bytes(f.filename) for f in files] == [r[1] + r[2] for r in records]
    # valid UTF-8 stays plain text; other bytes are surrogateescape code points
    assert files[0].filename == "/data/latin1 \udce9t\udce9/"
    assert files[1].filename == "/data/latin1 \udce9t\udce9/caf\udce9"
    assert f"{BYTE_DIRS[1].decode()}café" in [f.filename for f in files]
    # the columns hold the bytes themselves
    rows = yield raw(catalog, "SELECT p.Path, f.Name FROM File f JOIN Path p ON p.PathId = f.PathId"
                              " WHERE f.JobId = ? ORDER BY f.FileIndex", job_id)
    assert [bytes(p) + bytes(n) for p, n in rows] == [r[1] + r[2] for r in records]
    selection = yield catalog.restore_selection(c1)
    assert [(f.file_index, name_bytes(f.filename)) for f in selection.files] == \
        [(r[0], r[1] + r[2]) for r in records]


@pytest_twisted.inlineCallbacks
def test_a_name_given_as_text_or_as_bytes_is_the_same_name(catalog):
    a = yield catalog.create_job(JobRecord(job="a.1", name="a"))
    b = yield catalog.create_job(JobRecord(job="b.1", name="b"))
    yield catalog.add_file_records(a, [(1, b"/d\xe9/", b"caf\xe9", "l", "0", 0),
                                       (2, "/d/", "ümlaut", "l", "0", 0)])
    yield catalog.add_file_records(b, [(1, "/d\udce9/", "caf\udce9", "l", "0", 0),
                                       (2, "/d/".encode(), "ümlaut".encode(), "l", "0", 0)])
    assert (yield catalog.list_files(a)) == (yield catalog.list_files(b))
    paths = yield raw(catalog, "SELECT COUNT(*) FROM Path")
    assert paths[0][0] == 2
    with pytest.raises(ValueError, match="NUL"):
        yield catalog.add_file_records(a, [(3, b"/d/", b"nul\0\xe9", "l", "0", 0)])
    with pytest.raises(TypeError, match="str or bytes"):
        yield catalog.add_file_records(a, [(3, b"/d/", 17, "l", "0", 0)])


def _scripts_up_to(tmp_path, backend, last):
    """A copy of the backend's schema scripts without the steps after ``last``."""
    dst = tmp_path / f"scripts-{last:04d}"
    shutil.copytree(scripts_of(backend), dst)
    for number, path in core.discover_scripts(str(dst)):
        if number > last:
            os.remove(path)
    return str(dst)


@pytest_twisted.inlineCallbacks
def test_upgrade_of_a_catalog_with_text_names_keeps_them(open_cat, backend, tmp_path):
    old = yield open_cat(scripts_dir=_scripts_up_to(tmp_path, backend, 1))
    assert (yield old.schema_version()) == 1
    c1, fs, _ = yield setup_client(old)
    full = yield old.create_job(job(n=1, client_id=c1, fileset_id=fs))
    # What the code of schema 0001 wrote: text columns, names decoded as UTF-8 (and
    # undecodable bytes spelled with backslash escapes, which stay as they are).
    names = [("/d/", ""), ("/d/", "plain"), ("/d/", "ümlaut é"), ("/e f/", "日本語"),
             ("/e f/", "caf\\xe9"), ("/e f/", "tab\tnl\n")]
    for path in sorted({p for p, _ in names}):
        yield raw_write(old, "INSERT INTO Path (Path) VALUES (?)", path)
    for index, (path, name) in enumerate(names, 1):
        yield raw_write(old, "INSERT INTO File (FileIndex, JobId, PathId, LStat, MD5, Name) "
                       "SELECT ?, ?, PathId, 'lstat', '0', ? FROM Path WHERE Path = ?",
                  index, full, name, path)
    yield old.close()

    upgraded = yield open_cat()
    assert (yield upgraded.schema_version()) == latest(backend)
    assert [f.filename for f in (yield upgraded.list_files(full))] == [p + n for p, n in names]
    selection = yield upgraded.restore_selection(c1)
    assert [f.filename for f in selection.files] == [p + n for p, n in names]
    # New rows find the upgraded paths (same bytes, same PathId) and may be any bytes.
    inc = yield upgraded.create_job(job(n=2, level="I", start=T0 + timedelta(days=1),
                                        client_id=c1, fileset_id=fs))
    yield upgraded.add_file_records(inc, [(1, "/d/", "ümlaut é", "new", "0", 0),
                                          (2, b"/e f/", b"caf\xe9", "new", "0", 0)])
    assert (yield raw(upgraded, "SELECT COUNT(*) FROM Path"))[0][0] == 2
    selection = yield upgraded.restore_selection(c1)
    got = {name_bytes(f.filename): (f.job_id, f.lstat) for f in selection.files}
    assert got["/d/ümlaut é".encode()] == (inc, "new")
    assert got[b"/e f/caf\xe9"] == (inc, "new")
    assert got[b"/e f/caf\\xe9"] == (full, "lstat")


# --- restore selection -----------------------------------------------------------

@pytest_twisted.inlineCallbacks
def test_restore_selection_select_current(catalog):
    c1, fs, pool = yield setup_client(catalog)
    c2 = yield catalog.ensure_client("fd2-fd")
    other_fs = yield catalog.ensure_fileset("Other", "x", "md5-o")
    day = timedelta(days=1)

    @defer.inlineCallbacks
    def backup(n, level, files, status="T", client=c1, fileset=fs):
        job_id = yield catalog.create_job(job(n=n, level=level, status=status, start=T0 + n * day,
                                              client_id=client, fileset_id=fileset))
        yield catalog.add_file_records(job_id, [(i + 1, p, nm, f"lstat-{n}", "0", 0)
                                                for i, (p, nm) in enumerate(files)])
        return job_id

    old_full = yield backup(0, "F", [("/d/", ""), ("/d/", "gone")])
    full = yield backup(1, "F", [("/d/", ""), ("/d/", "a"), ("/d/", "b"), ("/d/", "c")])
    inc1 = yield backup(2, "I", [("/d/", "a"), ("/d/", "new")])
    yield backup(3, "I", [("/d/", "b")], status="E")            # failed: not used
    diff = yield backup(4, "D", [("/d/", "a"), ("/d/", "b"), ("/d/", "new")])
    inc2 = yield backup(5, "I", [("/d/", "b"), ("/e f/", "x\ny")])
    yield backup(6, "I", [("/d/", "a")], client=c2)             # another client
    yield backup(7, "I", [("/d/", "c")], fileset=other_fs)      # another fileset

    sel = yield catalog.restore_selection("fd1-fd")
    assert sel.job_ids == [full, diff, inc2]
    got = {f.filename: (f.job_id, f.file_index, f.lstat) for f in sel.files}
    assert got == {
        "/d/": (full, 1, "lstat-1"), "/d/c": (full, 4, "lstat-1"),
        "/d/a": (diff, 1, "lstat-4"), "/d/new": (diff, 3, "lstat-4"),
        "/d/b": (inc2, 1, "lstat-5"), "/e f/x\ny": (inc2, 2, "lstat-5")}
    assert [(f.job_id, f.file_index) for f in sel.files] == sorted((f.job_id, f.file_index)
                                                                    for f in sel.files)

    # Point in time: before the Differential -> Full + first Incremental.
    sel = yield catalog.restore_selection(c1, before=T0 + 3 * day + timedelta(hours=1))
    assert sel.job_ids == [full, inc1]
    got = {f.filename: f.job_id for f in sel.files}
    assert got == {"/d/": full, "/d/a": inc1, "/d/b": full, "/d/c": full, "/d/new": inc1}

    sel = yield catalog.restore_selection(c1, before=T0 + timedelta(hours=1))
    assert sel.job_ids == [old_full]
    assert [f.filename for f in sel.files] == ["/d/", "/d/gone"]

    sel = yield catalog.restore_selection(c1, fileset="LinuxAll", before=T0 - day)
    assert (sel.job_ids, sel.files) == ([], [])
    assert (yield catalog.restore_selection("nobody")).job_ids == []
    # fd2 has only an Incremental: nothing to restore from
    assert (yield catalog.restore_selection(c2)).job_ids == []


@pytest_twisted.inlineCallbacks
def test_restore_selection_leaves_out_deletion_markers(catalog):
    c1, fs, _ = yield setup_client(catalog)
    full = yield catalog.create_job(job(n=1, level="F", client_id=c1, fileset_id=fs))
    yield catalog.add_file_records(full, [(1, "/d/", "keep", "l", "0", 0), (2, "/d/", "del", "l", "0", 0)])
    inc = yield catalog.create_job(job(n=2, level="I", start=T0 + timedelta(days=1),
                                       client_id=c1, fileset_id=fs))
    # FileIndex 0: an accurate-mode "this file was deleted" record
    yield catalog.add_file_records(inc, [(0, "/d/", "del", "", "0", 0)])
    sel = yield catalog.restore_selection(c1)
    assert sel.job_ids == [full, inc]
    assert [f.filename for f in sel.files] == ["/d/keep"]


# --- delete ----------------------------------------------------------------------

@pytest_twisted.inlineCallbacks
def test_delete_job_removes_its_rows(catalog):
    c1, fs, pool = yield setup_client(catalog)
    media_id = yield catalog.create_volume("Full-0001", pool, "File")
    keep = yield catalog.create_job(job(n=1, client_id=c1))
    drop = yield catalog.create_job(job(n=2, client_id=c1))
    for job_id in (keep, drop):
        yield catalog.add_file_records(job_id, nasty_records(100, seed=str(job_id)))
        yield catalog.create_jobmedia(job_id, media_id, 1, 100, 0, 0, 0, 10, 1)
        yield catalog.add_log(job_id, T0, f"log of {job_id}")
    assert (yield catalog.delete_job(drop)) is True
    assert (yield catalog.get_job(drop)) is None
    assert (yield catalog.list_files(drop)) == []
    assert (yield catalog.jobmedia_for_jobs([drop])) == []
    assert (yield catalog.job_log(drop)) == []
    assert len((yield catalog.list_files(keep))) == 100
    assert len((yield catalog.jobmedia_for_jobs([keep]))) == 1
    assert len((yield catalog.job_log(keep))) == 1
    assert (yield catalog.delete_job(drop)) is False
    assert (yield catalog.get_volume("Full-0001")).media_id == media_id


# --- media -------------------------------------------------------------------------

@pytest_twisted.inlineCallbacks
def test_volumes(catalog):
    _, _, pool = yield setup_client(catalog)
    yield catalog.ensure_pool("Full", label_format="Full-", max_volume_bytes=5000,
                              volume_use_duration=3600, max_volume_jobs=3, volume_retention=99)
    storage = yield catalog.ensure_storage("File")
    assert (yield catalog.next_volume_name("Full")) == "Full-0001"
    v1 = yield catalog.create_volume("Full-0001", "Full", "File", storage_id=storage,
                                     label_date=T0, vol_status="Append")
    vol = yield catalog.get_volume("Full-0001")
    assert (vol.media_id, vol.volume_name, vol.pool_id, vol.pool, vol.media_type, vol.storage_id,
            vol.storage, vol.vol_status, vol.label_date) == (
        v1, "Full-0001", pool, "Full", "File", storage, "File", "Append", T0)
    # defaults come from the pool
    assert (vol.max_vol_bytes, vol.vol_use_duration, vol.max_vol_jobs, vol.vol_retention) == (
        5000, 3600, 3, 99)
    assert (yield catalog.get_volume(v1)).volume_name == "Full-0001"
    assert (yield catalog.get_volume("nope")) is None
    assert (yield catalog.next_volume_name(pool)) == "Full-0002"
    assert (yield catalog.count_volumes("Full")) == 1

    updated = yield catalog.update_volume(
        "Full-0001", vol_jobs=1, vol_files=2, vol_blocks=300, vol_bytes=2 ** 35, vol_mounts=1,
        vol_writes=301, vol_errors=0, first_written=T0, last_written=T0 + timedelta(minutes=5),
        vol_status="Full", end_file=0, end_block=2 ** 35 - 1, in_changer=1, slot=0,
        vol_read_time=5, vol_write_time=123456)
    assert (updated.vol_jobs, updated.vol_files, updated.vol_blocks, updated.vol_bytes,
            updated.vol_mounts, updated.vol_writes, updated.first_written, updated.last_written,
            updated.vol_status, updated.end_block, updated.vol_write_time) == (
        1, 2, 300, 2 ** 35, 1, 301, T0, T0 + timedelta(minutes=5), "Full", 2 ** 35 - 1, 123456)
    assert (yield catalog.update_volume("nope", vol_jobs=1)) is None
    with pytest.raises(ValueError, match="VolStatus"):
        yield catalog.update_volume("Full-0001", vol_status="Broken")
    with pytest.raises(TypeError, match="unknown volume field"):
        yield catalog.update_volume("Full-0001", size=1)
    with pytest.raises(CatalogIntegrityError):
        yield catalog.create_volume("Full-0001", "Full", "File")
    with pytest.raises(CatalogIntegrityError, match="no pool"):
        yield catalog.create_volume("X-1", "NoPool", "File")

    inc = yield catalog.ensure_pool("Inc", label_format="Inc-")
    yield catalog.create_volume("Inc-0001", inc, "File")
    assert [v.volume_name for v in (yield catalog.list_volumes())] == ["Full-0001", "Inc-0001"]
    assert [v.volume_name for v in (yield catalog.list_volumes("Inc"))] == ["Inc-0001"]
    assert [v.volume_name for v in (yield catalog.list_volumes(pool))] == ["Full-0001"]
    assert {p.name: p.num_vols for p in (yield catalog.list_pools())} == {"Full": 1, "Inc": 1}


@pytest_twisted.inlineCallbacks
def test_next_volume_name_skips_names_in_use(catalog):
    pool = yield catalog.ensure_pool("Full", label_format="Full-")
    yield catalog.create_volume("Full-0002", pool, "File")
    # one volume in the pool -> 0002, which exists -> 0003
    assert (yield catalog.next_volume_name("Full")) == "Full-0003"
    plain = yield catalog.ensure_pool("Manual")
    assert (yield catalog.next_volume_name(plain)) is None


@pytest_twisted.inlineCallbacks
def test_find_appendable_volume(catalog):
    pool = yield catalog.ensure_pool("Full", label_format="Full-")
    other = yield catalog.ensure_pool("Other")
    assert (yield catalog.find_appendable_volume(pool, "File")) is None
    yield catalog.create_volume("Full-0001", pool, "File", vol_status="Full")
    yield catalog.create_volume("Full-0002", pool, "File")                    # never written
    yield catalog.create_volume("Full-0003", pool, "File", last_written=T0)
    yield catalog.create_volume("Full-0004", pool, "File", last_written=T0 + timedelta(hours=1))
    yield catalog.create_volume("Full-0005", pool, "Tape")
    yield catalog.create_volume("Full-0006", pool, "File", enabled=False,
                                last_written=T0 + timedelta(days=3))
    yield catalog.create_volume("Other-0001", other, "File", last_written=T0 + timedelta(days=9))
    found = yield catalog.find_appendable_volume("Full", "File")
    assert found.volume_name == "Full-0004"           # the one being filled
    found = yield catalog.find_appendable_volume(pool, "File", exclude=["Full-0004"])
    assert found.volume_name == "Full-0003"
    found = yield catalog.find_appendable_volume(pool, "File", exclude=["Full-0004", "Full-0003"])
    assert found.volume_name == "Full-0002"
    assert (yield catalog.find_appendable_volume(pool, "File",
                                                 exclude=["Full-0002", "Full-0003", "Full-0004"])) is None
    assert (yield catalog.find_appendable_volume(pool, "Tape")).volume_name == "Full-0005"
    assert (yield catalog.find_appendable_volume("NoPool", "File")) is None


@pytest_twisted.inlineCallbacks
def test_delete_volume_takes_the_jobs_on_it_unless_purged(catalog):
    c1, _, pool = yield setup_client(catalog)
    v1 = yield catalog.create_volume("Full-0001", pool, "File")
    v2 = yield catalog.create_volume("Full-0002", pool, "File")
    yield catalog.create_volume("Full-0003", pool, "File", vol_status="Purged")
    on_v1 = yield catalog.create_job(job(n=1, client_id=c1))
    spanning = yield catalog.create_job(job(n=2, client_id=c1))
    on_v2 = yield catalog.create_job(job(n=3, client_id=c1))
    yield catalog.create_jobmedia(on_v1, v1, 1, 5, 0, 0, 0, 10)
    yield catalog.create_jobmedia(spanning, v1, 1, 5, 0, 0, 11, 20)
    yield catalog.create_jobmedia(spanning, v2, 6, 9, 0, 0, 0, 10)
    yield catalog.create_jobmedia(on_v2, v2, 1, 5, 0, 0, 11, 20)

    assert (yield catalog.delete_volume("Full-0001")) == (True, [on_v1, spanning])
    assert (yield catalog.get_volume("Full-0001")) is None
    assert [j.job_id for j in (yield catalog.list_jobs())] == [on_v2]
    assert [e.job_id for e in (yield catalog.jobmedia_for_jobs([on_v2, spanning]))] == [on_v2]
    assert (yield catalog.delete_volume("Full-0003")) == (True, [])
    assert (yield catalog.delete_volume("nope")) == (False, [])
    assert {p.name: p.num_vols for p in (yield catalog.list_pools())} == {"Full": 1}


@pytest_twisted.inlineCallbacks
def test_delete_pool_takes_its_volumes(catalog):
    full = yield catalog.ensure_pool("Full")
    other = yield catalog.ensure_pool("Other")
    yield catalog.create_volume("Full-0001", full, "File")
    yield catalog.create_volume("Other-0001", other, "File")
    assert (yield catalog.delete_pool("Full")) is True
    assert (yield catalog.delete_pool("Full")) is False
    assert [p.name for p in (yield catalog.list_pools())] == ["Other"]
    assert [v.volume_name for v in (yield catalog.list_volumes())] == ["Other-0001"]


@pytest_twisted.inlineCallbacks
def test_update_volumes_from_pool_copies_the_pool_defaults(catalog):
    full = yield catalog.ensure_pool("Full", max_volume_bytes=1000, volume_retention=60)
    other = yield catalog.ensure_pool("Other", max_volume_bytes=7)
    yield catalog.create_volume("Full-0001", full, "File", max_vol_bytes=5, recycle=0)
    yield catalog.create_volume("Full-0002", full, "File")
    yield catalog.create_volume("Other-0001", other, "File", max_vol_bytes=9)
    yield catalog.ensure_pool("Full", max_volume_bytes=2000, volume_retention=86400,
                              volume_use_duration=3600, max_volume_jobs=4, recycle=1)
    assert (yield catalog.update_volumes_from_pool("Full")) == 2
    volumes = {v.volume_name: v for v in (yield catalog.list_volumes())}
    for name in ("Full-0001", "Full-0002"):
        assert (volumes[name].max_vol_bytes, volumes[name].vol_retention,
                volumes[name].vol_use_duration, volumes[name].max_vol_jobs,
                volumes[name].recycle) == (2000, 86400, 3600, 4, 1)
    assert volumes["Other-0001"].max_vol_bytes == 9
    assert (yield catalog.update_volumes_from_pool("Empty")) is None
    yield catalog.ensure_pool("Full", max_volume_bytes=3000)
    first = volumes["Full-0001"].media_id
    assert (yield catalog.update_volumes_from_pool(full, media_id=first)) == 1
    assert [v.max_vol_bytes for v in (yield catalog.list_volumes("Full"))] == [3000, 2000]


@pytest_twisted.inlineCallbacks
def test_jobmedia_for_bootstrap(catalog):
    c1, fs, pool = yield setup_client(catalog)
    v1 = yield catalog.create_volume("Full-0001", pool, "File")
    v2 = yield catalog.create_volume("Full-0002", pool, "File")
    j1 = yield catalog.create_job(job(n=1, client_id=c1, vol_session_id=1, vol_session_time=1700000000))
    j2 = yield catalog.create_job(job(n=2, client_id=c1, vol_session_id=2, vol_session_time=1700000000))
    a = yield catalog.create_jobmedia(j1, v1, 1, 500, 0, 0, 0, 6000, 1, job_bytes=10)
    b = yield catalog.create_jobmedia(j1, v2, 500, 800, 0, 0, 0, 2000)        # vol_index -> 2
    c = yield catalog.create_jobmedia(j2, v2, 1, 10, 0, 0, 2001, 2100)        # vol_index -> 1
    entries = yield catalog.jobmedia_for_jobs([j2, j1])
    assert [tuple(e) for e in entries] == [
        (j1, f"backup-fd1.{T0:%Y-%m-%d_%H.%M.%S}_01", "Full-0001", "File", v1, 1, 1700000000,
         1, 500, 0, 0, 0, 6000, 1, a),
        (j1, f"backup-fd1.{T0:%Y-%m-%d_%H.%M.%S}_01", "Full-0002", "File", v2, 1, 1700000000,
         500, 800, 0, 0, 0, 2000, 2, b),
        (j2, f"backup-fd1.{T0:%Y-%m-%d_%H.%M.%S}_02", "Full-0002", "File", v2, 2, 1700000000,
         1, 10, 0, 0, 2001, 2100, 1, c)]
    assert (yield catalog.jobmedia_for_jobs([])) == []


# --- log ---------------------------------------------------------------------------

@pytest_twisted.inlineCallbacks
def test_job_log(catalog):
    job_id = yield catalog.create_job(JobRecord(job="l.1", name="l"))
    yield catalog.add_log(job_id, T0, "first line\n")
    yield catalog.add_log(job_id, T0 - timedelta(seconds=1), "second, 'quoted' %s ?\n")
    yield catalog.add_log(job_id, None, "third")
    log = yield catalog.job_log(job_id)
    assert [(e.job_id, e.text) for e in log] == [
        (job_id, "first line\n"), (job_id, "second, 'quoted' %s ?\n"), (job_id, "third")]
    assert log[0].time == T0
    assert abs(log[2].time - datetime.now()) < timedelta(minutes=5)
    with pytest.raises(CatalogIntegrityError):
        yield catalog.add_log(job_id + 100, T0, "no such job")


# --- opening -------------------------------------------------------------------------

def _resource(**kw):
    values = dict(db_driver="sqlite3", db_name="bareos", db_user=None, db_password=None,
                  db_address=None, db_port=None, db_socket=None)
    values.update(kw)
    return types.SimpleNamespace(**values)


def test_sqlite_file_location(tmp_path):
    assert sqlite_path("bareos", "/var/lib/bareos") == "/var/lib/bareos/bareos.db"
    assert sqlite_path("/srv/cat/main.sqlite", "/var/lib/bareos") == "/srv/cat/main.sqlite"
    assert make_catalog(_resource(db_name="cat"), str(tmp_path)).path == str(tmp_path / "cat.db")


@pytest_twisted.inlineCallbacks
def test_sqlite_file_is_created_in_working_directory_with_wal(tmp_path):
    from twisted.internet import reactor
    cat = yield open_catalog(_resource(db_name="main"), str(tmp_path), reactor)
    try:
        assert (tmp_path / "main.db").exists()
        assert (yield raw(cat, "PRAGMA journal_mode")) == [("wal",)]
        assert (yield raw(cat, "PRAGMA foreign_keys")) == [(1,)]
    finally:
        yield cat.close()


@pytest_twisted.inlineCallbacks
def test_sqlite_unwritable_location_is_a_clear_error(tmp_path):
    from twisted.internet import reactor
    with pytest.raises(CatalogConnectionError, match="cannot open the SQLite catalog .*nodir"):
        yield open_catalog(_resource(db_name=str(tmp_path / "nodir" / "x.db")), None, reactor)


@pytest_twisted.inlineCallbacks
def test_unknown_driver_and_missing_name(tmp_path):
    from twisted.internet import reactor
    with pytest.raises(CatalogConfigError, match="unknown DB Driver 'mysql'"):
        yield open_catalog(_resource(db_driver="mysql"), str(tmp_path), reactor)
    with pytest.raises(CatalogConfigError, match="DB Name is required"):
        yield open_catalog(_resource(db_name=None), str(tmp_path), reactor)


@pytest_twisted.inlineCallbacks
def test_postgresql_over_the_unix_socket(postgres):
    from twisted.internet import reactor
    postgres.reset_database()
    for resource in (postgres.catalog_resource(via="socket"),
                     postgres.catalog_resource(db_address=postgres.socket_dir)):
        cat = yield open_catalog(resource, None, reactor)
        try:
            assert "socket" in cat.server
            assert (yield cat.schema_version()) == latest("postgresql")
        finally:
            yield cat.close()


@pytest_twisted.inlineCallbacks
def test_postgresql_bad_password_names_server_and_database(postgres):
    from twisted.internet import reactor
    with pytest.raises(CatalogConnectionError) as info:
        yield open_catalog(postgres.catalog_resource(db_password="wrong"), None, reactor)
    message = str(info.value)
    assert f"127.0.0.1:{postgres.port}" in message and repr(postgres.dbname) in message
    assert "password authentication failed" in message
    assert info.value.retryable is False


@pytest_twisted.inlineCallbacks
def test_postgresql_server_down_is_retryable(postgres):
    from twisted.internet import reactor
    from bareos.testing.postgres import free_port
    port = free_port()
    with pytest.raises(CatalogConnectionError) as info:
        yield open_catalog(postgres.catalog_resource(db_port=port), None, reactor)
    assert f"127.0.0.1:{port}" in str(info.value)
    assert info.value.retryable is True


def test_open_retrying_waits_on_the_clock():
    clock = task.Clock()
    attempts = []
    catalog = object()

    def opener(resource, wd, reactor):
        attempts.append(clock.seconds())
        if len(attempts) < 4:
            return defer.fail(CatalogConnectionError("down", "db:5432", "bareos"))
        return defer.succeed(catalog)

    d = open_catalog_retrying(None, None, None, clock=clock, policy=backoff(1, 3), opener=opener)
    clock.pump([1] * 20)
    assert attempts == [0, 1, 3, 6]
    assert d.result is catalog


def test_open_retrying_gives_up_on_bad_password():
    clock = task.Clock()
    d = open_catalog_retrying(None, None, None, clock=clock, opener=lambda *a: defer.fail(
        CatalogConnectionError("password authentication failed", retryable=False)))
    failure = []
    d.addErrback(failure.append)
    assert failure and failure[0].check(CatalogConnectionError)


@pytest_twisted.inlineCallbacks
def test_use_after_close_is_a_clear_error(catalog):
    from bareos.catalog import CatalogClosedError
    job_id = yield catalog.create_job(JobRecord(job="c.1", name="c"))
    yield catalog.close()
    yield catalog.close()                       # idempotent
    with pytest.raises(CatalogClosedError):
        yield catalog.list_jobs()
    with pytest.raises(CatalogClosedError):
        yield catalog.add_file_records(job_id, [(1, "/x/", "f", "l", "0", 0)])


@pytest_twisted.inlineCallbacks
def test_postgresql_file_records_go_through_copy(postgres, monkeypatch):
    from twisted.internet import reactor
    from bareos.catalog import postgresql
    postgres.reset_database()
    reads = []

    class CountingReader(postgresql._CopyReader):
        def read(self, size=65536):
            data = super().read(size)
            reads.append(len(data))
            return data

    monkeypatch.setattr(postgresql, "_CopyReader", CountingReader)
    catalog = yield open_catalog(postgres.catalog_resource(), None, reactor)
    try:
        job_id = yield catalog.create_job(JobRecord(job="copy.1", name="copy"))
        assert (yield catalog.add_file_records(job_id, nasty_records(2000))) == 2000
        assert sum(reads) > 2000 * 20 and reads[-1] == 0     # all lines read by COPY, then EOF
    finally:
        yield catalog.close()


@pytest_twisted.inlineCallbacks
def test_subscription_backups_are_the_newest_successful_full_with_data_per_client_and_fileset(
        catalog):
    """What ``status subscription`` counts units from, on both backends."""
    fd1, linux_all, _pool = yield setup_client(catalog)
    fd2 = yield catalog.ensure_client("fd2-fd")
    # A changed FileSet of the same name is another FileSetId but the same FileSet name.
    linux_all_changed = yield catalog.ensure_fileset("LinuxAll", "Include { File = /home }", "md5-b")
    postgres = yield catalog.ensure_fileset(
        "Postgres", "P python3:module_name=bareos-fd-postgresql:db=x\n", "md5-p")
    for n, (client, fileset, level, status, type_, read, written) in enumerate([
            (fd1, linux_all, "F", "T", "B", 0, 500),             # older than the next one
            (fd1, linux_all_changed, "F", "T", "B", 3 * 10**12, 10**12),   # counted
            (fd1, linux_all, "I", "T", "B", 0, 900),             # not a Full
            (fd1, linux_all, "F", "E", "B", 0, 900),             # failed
            (fd1, linux_all, "F", "T", "B", 0, 0),               # no data
            (fd1, linux_all, "F", "T", "C", 0, 900),             # a copy
            (fd2, postgres, "F", "W", "B", 0, 7)]):              # counted: warnings are success
        yield catalog.create_job(job(
            "backup", n=n, level=level, status=status, type=type_, client_id=client,
            fileset_id=fileset, read_bytes=read, job_bytes=written))
    backups = yield catalog.subscription_backups()
    assert [tuple(b) for b in backups] == [
        (fd1, "fd1-fd", "LinuxAll", "Include { File = /home }", 3 * 10**12, 10**12),
        (fd2, "fd2-fd", "Postgres", "P python3:module_name=bareos-fd-postgresql:db=x\n", 0, 7)]
