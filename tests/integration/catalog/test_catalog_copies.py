"""The catalog's part of Copy and Migrate jobs, against SQLite and PostgreSQL: what a
selection chooses from, what a Next Pool already holds, a migration's bookkeeping, and
the oldest copy becoming the backup when the original is deleted; each Selection Type
run on what the catalog returns."""

from datetime import timedelta
from types import SimpleNamespace

import pytest_twisted
from twisted.internet import defer

from bareos.catalog import FileRecord, JobRecord
from bareos.director.jobs.copy import select_job_ids

from test_catalog import T0, job, setup_client


@defer.inlineCallbacks
def make_site(catalog):
    """A backup in Full on volume Full-0001, and the Copy pool."""
    client_id, fileset_id, _ = yield setup_client(catalog)
    yield catalog.ensure_pool("Copy", label_format="Copy-")
    original = yield catalog.create_job(job(client_id=client_id, fileset_id=fileset_id,
                                            pool_id=(yield pool_id(catalog, "Full")),
                                            job_bytes=1000))
    yield catalog.create_volume("Full-0001", "Full", "File")
    media = yield catalog.get_volume("Full-0001")
    yield catalog.update_volume("Full-0001", vol_status="Used", last_written=T0)
    yield catalog.create_jobmedia(original, media.media_id, 1, 2, 0, 0, 0, 100)
    yield catalog.add_file_records(original, [FileRecord(1, "/etc/", "hosts", "lstat", "md5"),
                                              FileRecord(2, "/etc/", "passwd", "lstat", "md5")])
    return client_id, fileset_id, original


@defer.inlineCallbacks
def pool_id(catalog, name):
    pools = yield catalog.list_pools()
    return next(p.pool_id for p in pools if p.name == name)


@defer.inlineCallbacks
def new_copy(catalog, original, client_id, n, status="T", type="C"):
    copy_id = yield catalog.create_job(JobRecord(
        job=f"backup-fd1.copy_{n:02d}", name="backup-fd1", type=type, level="F",
        job_status=status, client_id=client_id, pool_id=(yield pool_id(catalog, "Copy")),
        prior_job_id=original, start_time=T0 + timedelta(hours=n)))
    return copy_id


@pytest_twisted.inlineCallbacks
def test_candidates_and_what_a_next_pool_holds(catalog):
    client_id, _, original = yield make_site(catalog)
    candidates = yield catalog.copy_candidates("Full")
    assert [(c.job_id, c.name, c.type, c.client, c.job_bytes, c.pool, c.volume_name,
             c.vol_status, c.volume_pool, c.last_written) for c in candidates] == [
        (original, "backup-fd1", "B", "fd1-fd", 1000, "Full", "Full-0001", "Used", "Full", T0)]
    assert (yield catalog.copy_candidates("Copy")) == []
    assert (yield catalog.job_ids_from_query(
        "SELECT JobId FROM Job WHERE Name = 'backup-fd1'")) == [original]
    # a failed copy is no copy; a successful one is, in its own pool only
    yield new_copy(catalog, original, client_id, 1, status="f")
    assert (yield catalog.copied_to_pool([original], "Copy")) == set()
    yield new_copy(catalog, original, client_id, 2)
    assert (yield catalog.copied_to_pool([original, 999], "Copy")) == {original}
    assert (yield catalog.copied_to_pool([original], "Full")) == set()
    assert (yield catalog.copied_to_pool([], "Copy")) == set()


@pytest_twisted.inlineCallbacks
def test_a_copy_takes_the_originals_times_and_a_migration_purges_its_files(catalog):
    client_id, _, original = yield make_site(catalog)
    copy_id = yield new_copy(catalog, original, client_id, 3)
    yield catalog.finish_copy(original, copy_id)
    before, after = (yield catalog.get_job(original)), (yield catalog.get_job(copy_id))
    assert (after.start_time, after.end_time, after.type) == (before.start_time, before.end_time, "C")
    assert before.type == "B"
    moved = yield new_copy(catalog, original, client_id, 4, type="B")
    yield catalog.finish_copy(original, moved, migrated=True)
    migrated = yield catalog.get_job(original)
    assert (migrated.type, migrated.purged_files) == ("M", 1)
    assert (yield catalog.list_files(original)) == []


@pytest_twisted.inlineCallbacks
def test_deleting_the_original_makes_its_oldest_good_copy_the_backup(catalog):
    client_id, _, original = yield make_site(catalog)
    failed = yield new_copy(catalog, original, client_id, 1, status="f")
    oldest = yield new_copy(catalog, original, client_id, 2)
    newer = yield new_copy(catalog, original, client_id, 3)
    assert (yield catalog.delete_job(original)) is True
    types = []
    for copy_id in (failed, oldest, newer):
        types.append((yield catalog.get_job(copy_id)).type)
    assert types == ["C", "B", "C"]


@pytest_twisted.inlineCallbacks
def test_each_selection_type_on_the_catalog(catalog):
    """The Selection Types read from what the catalog returns: volume sizes and states,
    the jobs' end times, and whether a job was copied anywhere."""
    client_id, fileset_id, original = yield make_site(catalog)       # on Full-0001, Used
    full = yield pool_id(catalog, "Full")

    @defer.inlineCallbacks
    def backup_on(volume, n, hours_later, vol_bytes, status="Used", enabled=1):
        ended = T0 + timedelta(hours=hours_later)
        job_id = yield catalog.create_job(job(n=n, start=ended, client_id=client_id,
                                              fileset_id=fileset_id, pool_id=full,
                                              job_bytes=1000, real_end_time=ended))
        if (yield catalog.get_volume(volume)) is None:
            yield catalog.create_volume(volume, "Full", "File")
        media = yield catalog.update_volume(volume, vol_status=status, vol_bytes=vol_bytes,
                                            enabled=enabled, last_written=ended)
        yield catalog.create_jobmedia(job_id, media.media_id, 1, 1, 0, 0, 0, 100)
        return job_id

    yield catalog.update_job(original, real_end_time=T0)
    yield catalog.update_volume("Full-0001", vol_bytes=500)
    small = yield backup_on("Full-0002", 2, 1, vol_bytes=50)
    disabled = yield backup_on("Full-0003", 3, 2, vol_bytes=10, enabled=0)
    appending = yield backup_on("Full-0004", 4, 3, vol_bytes=5, status="Append")
    yield new_copy(catalog, small, client_id, 5)                     # small is copied

    candidates = yield catalog.copy_candidates("Full")
    pool = SimpleNamespace(name="Full", migration_time=None, migration_high_bytes=None,
                           migration_low_bytes=None)

    def select(selection, pattern=None, now=T0 + timedelta(days=1), migration=False, **limits):
        return select_job_ids(selection, pattern, SimpleNamespace(**{**vars(pool), **limits}),
                              candidates, now=now, migration=migration)

    assert select("SmallestVolume") == [small]                       # Full-0003 is disabled
    assert select("OldestVolume") == [original]
    assert select("Volume", "^Full-000[34]$") == []                  # disabled / appending
    assert select("PoolUncopiedJobs") == [original, disabled, appending]
    assert select("PoolTime", migration_time=3600, now=T0 + timedelta(hours=2)) == [original, small]
    # Full's jobs on enabled volumes hold 3000 bytes (the appendable volume's too); down to
    # 1000: the two oldest jobs on closed volumes
    assert select("PoolOccupancy", migration_high_bytes=3000, migration_low_bytes=1000) == \
        [original, small]
    assert select("PoolOccupancy", migration_high_bytes=3001) == []
