"""Retention on a real catalog (SQLite and PostgreSQL): prune and purge of files, jobs and
volumes, volume limits and recycling, as Bareos applies them.

Time is the catalog's: each job's JobTDate is set from a simulated day and every call is
given ``now``, so a year passes without waiting.
"""

from datetime import datetime, timedelta

import pytest
import pytest_twisted
from twisted.internet import defer

from bareos.catalog import FileRecord, JobRecord

DAY = 86400
EPOCH = datetime(2025, 1, 1, 1, 0, 0)


def day(n):
    """Epoch seconds of simulated day ``n``."""
    return int((EPOCH + timedelta(days=n)).timestamp())


class World:
    """A client with a fileset, two pools and a way to record backups made on a given day."""

    def __init__(self, cat):
        self.cat = cat
        self.count = 0

    @defer.inlineCallbacks
    def setup(self):
        self.client_id = yield self.cat.ensure_client("fd1-fd")
        self.other_client_id = yield self.cat.ensure_client("fd2-fd")
        self.fileset_id = yield self.cat.ensure_fileset("LinuxAll", "Include { File = / }", "md5")
        yield self.cat.ensure_pool("Full", label_format="Full-", volume_retention=30 * DAY)
        yield self.cat.ensure_pool("Incr", label_format="Incr-", volume_retention=7 * DAY)
        self.storage_id = yield self.cat.ensure_storage("File")
        return self

    @defer.inlineCallbacks
    def volume(self, name, pool="Full", status="Full", written_day=0, **fields):
        yield self.cat.create_volume(name, pool, "File", storage_id=self.storage_id,
                                     vol_status=status, **fields)
        if written_day is not None:
            written = EPOCH + timedelta(days=written_day)
            yield self.cat.update_volume(name, first_written=written, last_written=written)
        return name

    @defer.inlineCallbacks
    def backup(self, on_day, level="F", volume=None, files=3, client="fd1-fd", status="T",
               type="B", pool="Full", prior=None):
        self.count += 1
        start = EPOCH + timedelta(days=on_day)
        pools = yield self.cat.list_pools(name=pool)
        client_id = self.client_id if client == "fd1-fd" else self.other_client_id
        job_id = yield self.cat.create_job(JobRecord(
            job=f"backup.{self.count}", name="backup", type=type, level=level,
            client_id=client_id, fileset_id=self.fileset_id, pool_id=pools[0].pool_id,
            job_status=status, start_time=start, end_time=start, job_tdate=day(on_day),
            job_files=files, prior_job_id=prior))
        if files:
            yield self.cat.add_file_records(job_id, [
                FileRecord(i, "/data/", f"f{i}", "lstat", "md5") for i in range(1, files + 1)])
        if volume is not None:
            vol = yield self.cat.get_volume(volume)
            yield self.cat.create_jobmedia(job_id, vol.media_id, 1, files, 0, 0, 0, 0)
        return job_id

    @defer.inlineCallbacks
    def job_ids(self):
        jobs = yield self.cat.list_jobs()
        return [j.job_id for j in jobs]


@pytest.fixture
def world(catalog):
    return pytest_twisted.blockon(World(catalog).setup())


# --- files -------------------------------------------------------------------------------

@pytest_twisted.inlineCallbacks
def test_prune_files_takes_the_files_of_jobs_past_file_retention(world, catalog):
    old = yield world.backup(0)
    young = yield world.backup(50, level="I")
    running = yield world.backup(1, level="I")
    other_client = yield world.backup(0, client="fd2-fd")

    pruned = yield catalog.prune_files("fd1-fd", None, 30 * DAY, now=day(60),
                                       running=[running])

    assert pruned == [old]
    assert (yield catalog.list_files(old)) == []
    assert (yield catalog.get_job(old)).purged_files == 1
    for kept in (young, running, other_client):
        assert len((yield catalog.list_files(kept))) == 3
        assert (yield catalog.get_job(kept)).purged_files == 0
    # The job itself stays: only its file rows went.
    assert (yield world.job_ids()) == [old, young, running, other_client]


@pytest_twisted.inlineCallbacks
def test_prune_files_with_a_pool_keeps_other_pools(world, catalog):
    in_full = yield world.backup(0)
    in_incr = yield world.backup(0, level="I", pool="Incr")
    assert (yield catalog.prune_files("fd1-fd", "Incr", DAY, now=day(10))) == [in_incr]
    assert len((yield catalog.list_files(in_full))) == 3


@pytest_twisted.inlineCallbacks
def test_purge_files_ignores_retention(world, catalog):
    a = yield world.backup(100)
    b = yield world.backup(101, level="I")
    assert (yield catalog.purge_files(job_ids=[b])) == [b]
    assert (yield catalog.list_files(b)) == [] and len((yield catalog.list_files(a))) == 3
    assert (yield catalog.purge_files(client="fd1-fd")) == [a]


# --- jobs --------------------------------------------------------------------------------

@pytest_twisted.inlineCallbacks
def test_prune_jobs_keeps_what_the_newest_restore_needs(world, catalog):
    old_full = yield world.backup(0)
    old_inc = yield world.backup(1, level="I")
    failed = yield world.backup(2, level="I", status="f")
    full = yield world.backup(10)
    diff = yield world.backup(11, level="D")
    inc_nothing = yield world.backup(12, level="I", files=0)
    inc = yield world.backup(13, level="I")
    archive = yield world.backup(0, type="A")
    old_init = yield world.backup(3, type="V", level="V", files=0)
    init = yield world.backup(4, type="V", level="V", files=0)
    young = yield world.backup(200, level="I")

    pruned = yield catalog.prune_jobs("fd1-fd", None, 180 * DAY, now=day(300))

    # Everything is past the retention but the Full, Differential and Incrementals of
    # the newest point in time (an Incremental that saved nothing is not needed), the
    # Archive job and the newest Verify InitCatalog.
    assert sorted(pruned) == sorted([old_full, old_inc, failed, inc_nothing, old_init])
    assert (yield world.job_ids()) == [full, diff, inc, archive, init, young]
    assert (yield catalog.list_files(old_full)) == []


@pytest_twisted.inlineCallbacks
def test_prune_jobs_of_one_client_and_pool(world, catalog):
    mine = yield world.backup(0, level="I", status="E")
    theirs = yield world.backup(0, level="I", status="E", client="fd2-fd")
    other_pool = yield world.backup(0, level="I", status="E", pool="Incr")
    assert (yield catalog.prune_jobs("fd1-fd", "Full", DAY, now=day(10))) == [mine]
    assert (yield world.job_ids()) == [theirs, other_pool]


@pytest_twisted.inlineCallbacks
def test_purge_jobs_of_a_pool_marks_its_emptied_volumes_purged(world, catalog):
    yield world.volume("Incr-0001", pool="Incr", status="Append", written_day=1)
    yield world.volume("Incr-0002", pool="Incr", status="Append", written_day=None)
    on_volume = yield world.backup(1, level="I", volume="Incr-0001", pool="Incr")
    elsewhere = yield world.backup(1)
    assert (yield catalog.purge_jobs(pool="Incr")) == [on_volume]
    assert (yield world.job_ids()) == [elsewhere]
    assert (yield catalog.get_volume("Incr-0001")).vol_status == "Purged"
    # Never written: Bareos leaves such a volume as it is.
    assert (yield catalog.get_volume("Incr-0002")).vol_status == "Append"
    assert (yield catalog.purge_jobs(client="fd1-fd")) == [elsewhere]


# --- volumes -----------------------------------------------------------------------------

@pytest_twisted.inlineCallbacks
def test_prune_volume_when_every_job_on_it_expired(world, catalog):
    yield world.volume("Full-0001", written_day=2)
    a = yield world.backup(1, volume="Full-0001")
    b = yield world.backup(2, level="I", volume="Full-0001")
    copy_control = yield world.backup(3, type="c", files=0, prior=a)
    kept = yield world.backup(2, level="I")

    # Volume Retention 30 days: on day 32 only the job of day 1 (and the copy job made
    # of it) expired; the job of day 2 keeps the volume.
    too_early = yield catalog.prune_volume("Full-0001", now=day(32))
    assert too_early.job_ids == [a, copy_control] and not too_early.purged
    assert (yield catalog.get_volume("Full-0001")).vol_status == "Full"

    done = yield catalog.prune_volume("Full-0001", now=day(33))
    assert done.job_ids == [b] and done.purged and done.refused is None
    assert (yield catalog.get_volume("Full-0001")).vol_status == "Purged"
    assert (yield world.job_ids()) == [kept]


@pytest_twisted.inlineCallbacks
def test_prune_volume_never_touches_a_running_job(world, catalog):
    yield world.volume("Full-0001", written_day=1)
    running = yield world.backup(1, volume="Full-0001")
    result = yield catalog.prune_volume("Full-0001", now=day(100), running=[running])
    assert result.job_ids == [] and not result.purged
    assert (yield world.job_ids()) == [running]


@pytest.mark.parametrize("status, enabled, refused", [
    ("Append", 1, "state"), ("Read-Only", 1, "state"), ("Disabled", 1, "state"),
    ("Error", 1, "state"), ("Recycle", 1, "state"), ("Archive", 1, "archived"),
    ("Full", 2, "archived"),
])
@pytest_twisted.inlineCallbacks
def test_prune_volume_only_full_or_used(world, catalog, status, enabled, refused):
    yield world.volume("Full-0001", status=status, written_day=1, enabled=enabled)
    job_id = yield world.backup(1, volume="Full-0001")
    result = yield catalog.prune_volume("Full-0001", now=day(400))
    assert (result.job_ids, result.purged, result.refused) == ([], False, refused)
    assert (yield world.job_ids()) == [job_id]
    assert (yield catalog.get_volume("Full-0001")).vol_status == status


@pytest_twisted.inlineCallbacks
def test_prune_volume_checks_an_append_volumes_limits_first(world, catalog):
    yield world.volume("Full-0001", status="Append", written_day=1, vol_jobs=1, max_vol_jobs=1)
    job_id = yield world.backup(1, volume="Full-0001")
    result = yield catalog.prune_volume("Full-0001", now=day(40))
    assert result.job_ids == [job_id] and result.purged


@pytest.mark.parametrize("status, purgeable", [
    ("Append", True), ("Full", True), ("Used", True), ("Error", True),
    ("Read-Only", False), ("Archive", False), ("Disabled", False),
])
@pytest_twisted.inlineCallbacks
def test_purge_volume_ignores_retention(world, catalog, status, purgeable):
    yield world.volume("Full-0001", status=status, written_day=100)
    job_id = yield world.backup(100, volume="Full-0001")
    result = yield catalog.purge_volume("Full-0001")
    if purgeable:
        assert result.job_ids == [job_id] and result.purged
        assert (yield world.job_ids()) == []
        assert (yield catalog.get_volume("Full-0001")).vol_status == "Purged"
    else:
        assert result.refused == "state" and (yield world.job_ids()) == [job_id]


@pytest.mark.parametrize("fields, now_day, status", [
    (dict(max_vol_jobs=2, vol_jobs=2), 1, "Used"),
    (dict(max_vol_jobs=3, vol_jobs=2), 1, None),
    (dict(max_vol_bytes=1000, vol_bytes=1000, vol_jobs=1), 1, "Full"),
    (dict(max_vol_files=5, vol_files=5, vol_jobs=1), 1, "Used"),
    (dict(vol_use_duration=DAY, vol_jobs=1), 1, None),
    (dict(vol_use_duration=DAY, vol_jobs=1), 2, "Used"),
    (dict(max_vol_jobs=1, vol_jobs=0), 1, None),     # never used: no limit applies
])
@pytest_twisted.inlineCallbacks
def test_volume_limits(world, catalog, fields, now_day, status):
    yield world.volume("Full-0001", status="Append", written_day=0, **fields)
    # written_day 0 is EPOCH; day(1) is within a one-day use duration only at its start
    now = day(now_day) - (1 if now_day == 1 else 0)
    assert (yield catalog.expire_volume("Full-0001", now=now)) == status
    assert (yield catalog.get_volume("Full-0001")).vol_status == (status or "Append")


@pytest_twisted.inlineCallbacks
def test_recycle_resets_the_volume(world, catalog):
    yield world.volume("Full-0001", status="Purged", written_day=3, vol_jobs=4, vol_files=9,
                       vol_bytes=12345, vol_blocks=7)
    volume = yield catalog.recycle_volume("Full-0001")
    assert (volume.vol_status, volume.vol_jobs, volume.vol_files, volume.vol_blocks,
            volume.vol_bytes, volume.first_written, volume.last_written) == \
        ("Recycle", 0, 0, 0, 1, None, None)


@pytest_twisted.inlineCallbacks
def test_reusable_volumes_oldest_first_and_only_recyclable(world, catalog):
    yield world.volume("Full-0001", status="Purged", written_day=5)
    yield world.volume("Full-0002", status="Purged", written_day=2)
    yield world.volume("Full-0003", status="Purged", written_day=1, recycle=0)
    yield world.volume("Full-0004", status="Purged", written_day=1, enabled=0)
    yield world.volume("Full-0005", status="Full", written_day=0)
    yield world.volume("Incr-0001", pool="Incr", status="Purged", written_day=0)
    found = yield catalog.reusable_volumes("Full", "File", ["Purged"])
    assert [v.volume_name for v in found] == ["Full-0002", "Full-0001"]
    found = yield catalog.reusable_volumes("Full", "File", ["Purged", "Full"],
                                           exclude=["Full-0002"])
    assert [v.volume_name for v in found] == ["Full-0005", "Full-0001"]
