"""Which volume a job gets when its pool has no open one, and AutoPrune after a job: one
in-process director (started once for the module), its SQLite catalog and its Pool and
Client resources.  Jobs are recorded with JobTDates shifted into the past, so retention
periods pass without waiting.  (End to end with real daemons: tests/system/test_recycling.py;
each catalog rule on both backends: tests/integration/catalog/test_catalog_retention.py.)
"""

import time
from datetime import datetime

import pytest_twisted
from twisted.internet import defer, reactor

from bareos.catalog import JobRecord
from bareos.director.jobs.job import Job
from bareos.director.jobs.storage import appendable_volume
from bareos.director.retention import autoprune
from bareos.protocol.jobstatus import JobStatus
from bareos.testing.director_tree import module_director

DAY = 86400

FILES = {
    "director/test-dir.conf": """
Director { Name = test-dir; DirAddress = 127.0.0.1; DirPort = {port}; Password = "dirpw";
           Messages = Daemon; Working Directory = "{workdir}"; TLS Enable = no }""",
    "client/clients.conf": """
Client { Name = fd-auto; Address = 127.0.0.1; Port = {dead_port}; Password = "fdpw";
         Auto Prune = yes; File Retention = 5 days; Job Retention = 10 days }
Client { Name = fd-manual; Address = 127.0.0.1; Port = {dead_port}; Password = "fdpw";
         Job Retention = 1 day }""",
    "storage/File.conf": """
Storage { Name = File; Address = 127.0.0.1; Port = {dead_port}; Password = "sdpw";
          Device = FileStorage; Media Type = File }""",
    "fileset/Set.conf": "FileSet { Name = Set; Include { File = /nonexistent } }",
    "pool/pools.conf": """
Pool { Name = Scratch; Pool Type = Scratch }
Pool { Name = Pruning; Label Format = "Pruning-"; Maximum Volumes = 1; Volume Retention = 10 days }
Pool { Name = RecycleOldest; Label Format = "RecycleOldest-"; Maximum Volumes = 1;
       Volume Retention = 10 days; Auto Prune = no; Recycle Oldest Volume = yes }
Pool { Name = PurgeOldest; Label Format = "PurgeOldest-"; Maximum Volumes = 1;
       Volume Retention = 10 days; Auto Prune = no; Purge Oldest Volume = yes }
Pool { Name = NoRecycle; Label Format = "NoRecycle-"; Maximum Volumes = 1; Recycle = no;
       Volume Retention = 1 day }
Pool { Name = FromScratch; Scratch Pool = Scratch; Volume Retention = 3 days }
Pool { Name = GivesBack; Recycle Pool = Holding; Volume Retention = 1 day }
Pool { Name = Holding }
Pool { Name = Auto; Label Format = "Auto-" }
Pool { Name = Burst; Label Format = "Burst-" }
Pool { Name = States; Maximum Volumes = 5; Volume Retention = 1 day; Purge Oldest Volume = yes }""",
    "job/jobs.conf": """
Job { Name = backup; Type = Backup; Client = fd-auto; FileSet = Set; Storage = File;
      Pool = Auto; Messages = Standard }""",
    "messages/messages.conf": """
Messages { Name = Daemon; Console = all }
Messages { Name = Standard; Catalog = all }""",
    "catalog/MyCatalog.conf": "Catalog { Name = MyCatalog; DB Driver = sqlite3; DB Name = bareos }",
}

director = module_director(FILES)
_count = [0]


async def a_job(director, pool, client="fd-auto"):
    """A recorded backup Job of ``client`` writing to ``pool`` (never run)."""
    config = director.config
    job = Job(resource=config.get("job", "backup"), type="B", level="F",
              client=config.get("client", client), fileset=config.get("fileset", "Set"),
              pool=config.get("pool", pool), storage=config.get("storage", "File"),
              messages=config.get("messages", "Standard"), clock=reactor)
    await director.jobs.record(job, client_id=await director.catalog.ensure_client(client))
    return job


async def old_backup(catalog, days_ago, pool="Auto", client="fd-auto", volume=None, level="I"):
    """A finished backup ``days_ago`` days old, with one file (and its data on ``volume``)."""
    _count[0] += 1
    when = int(time.time()) - days_ago * DAY
    job_id = await catalog.create_job(JobRecord(
        job=f"old.{_count[0]}", name="backup", level=level, job_status="T",
        client_id=await catalog.ensure_client(client), job_tdate=when, job_files=1,
        start_time=datetime.fromtimestamp(when), end_time=datetime.fromtimestamp(when),
        fileset_id=await catalog.ensure_fileset("Set", "", "md5"),
        pool_id=(await catalog.list_pools(name=pool))[0].pool_id))
    await catalog.add_file_records(job_id, [(1, "/d/", "f", "lstat", "md5", 0)])
    if volume is not None:
        media = await catalog.get_volume(volume)
        await catalog.create_jobmedia(job_id, media.media_id, 1, 1, 0, 0, 0, 0)
    return job_id


async def used_volume(catalog, name, pool, status="Used"):
    await catalog.create_volume(name, pool, "File", vol_status=status, vol_jobs=1,
                                first_written=datetime(2020, 1, 1), last_written=datetime(2020, 1, 1))


async def volume_for(director, pool):
    job = await a_job(director, pool)
    volume = await appendable_volume(director, pool, "File", job.storage, [], job)
    return volume, job


@pytest_twisted.ensureDeferred
async def test_jobs_asking_at_once_on_an_empty_pool_all_get_its_one_new_volume(director):
    """Issue 17 item 2, the director's half: every job found no volume and created the
    next one from the Label Format, all under the same name, and all but one failed on
    the catalog's UNIQUE VolumeName.  The storage daemon serializes its questions per
    device; jobs of one pool on several devices or storage daemons count on this."""
    jobs = [await a_job(director, "Burst") for _ in range(10)]
    volumes = await defer.gatherResults([
        defer.ensureDeferred(appendable_volume(director, "Burst", "File", job.storage, [], job))
        for job in jobs])
    assert [volume.volume_name for volume in volumes] == ["Burst-0001"] * 10
    assert await director.catalog.count_volumes("Burst") == 1


@pytest_twisted.ensureDeferred
async def test_auto_prune_of_the_pool_frees_a_volume_whose_jobs_expired(director):
    catalog = await director.catalog_ready()
    await used_volume(catalog, "Pruning-0001", "Pruning")
    young = await old_backup(catalog, 2, pool="Pruning", volume="Pruning-0001")
    # Maximum Volumes reached and its one job retained: nothing to write on, nothing lost.
    assert (await volume_for(director, "Pruning"))[0] is None
    assert await catalog.get_job(young) is not None
    await catalog.update_job(young, job_tdate=int(time.time()) - 11 * DAY)
    volume, job = await volume_for(director, "Pruning")
    assert (volume.volume_name, volume.vol_status, volume.vol_jobs) == ("Pruning-0001", "Recycle", 0)
    assert await catalog.get_job(young) is None
    assert any('Recycled volume "Pruning-0001"' in line for line in job.log)


@pytest_twisted.ensureDeferred
async def test_recycle_oldest_volume_only_when_its_jobs_expired(director):
    catalog = await director.catalog_ready()
    await used_volume(catalog, "RecycleOldest-0001", "RecycleOldest")
    kept = await old_backup(catalog, 2, pool="RecycleOldest", volume="RecycleOldest-0001")
    assert (await volume_for(director, "RecycleOldest"))[0] is None
    assert await catalog.get_job(kept) is not None
    await catalog.update_job(kept, job_tdate=int(time.time()) - 11 * DAY)
    volume, job = await volume_for(director, "RecycleOldest")
    assert volume.volume_name == "RecycleOldest-0001" and volume.vol_status == "Recycle"
    assert any('Pruning oldest volume "RecycleOldest-0001"' in line for line in job.log)


@pytest_twisted.ensureDeferred
async def test_purge_oldest_volume_takes_it_whatever_its_retention(director):
    catalog = await director.catalog_ready()
    await used_volume(catalog, "PurgeOldest-0001", "PurgeOldest", status="Full")
    retained = await old_backup(catalog, 1, pool="PurgeOldest", volume="PurgeOldest-0001")
    volume, job = await volume_for(director, "PurgeOldest")
    assert volume.volume_name == "PurgeOldest-0001" and volume.vol_status == "Recycle"
    assert await catalog.get_job(retained) is None
    assert any('Purging oldest volume "PurgeOldest-0001"' in line for line in job.log)


@pytest_twisted.ensureDeferred
async def test_a_volume_with_recycle_no_is_never_reused(director):
    catalog = await director.catalog_ready()
    await used_volume(catalog, "NoRecycle-0001", "NoRecycle")
    expired = await old_backup(catalog, 30, pool="NoRecycle", volume="NoRecycle-0001")
    assert (await volume_for(director, "NoRecycle"))[0] is None
    assert await catalog.get_job(expired) is not None


@pytest_twisted.ensureDeferred
async def test_error_read_only_disabled_archived_volumes_are_never_reused(director):
    catalog = await director.catalog_ready()
    expired = []
    for n, status in enumerate(("Error", "Read-Only", "Disabled", "Archive", "Full"), 1):
        await used_volume(catalog, f"States-{n:04d}", "States", status=status)
        expired.append(await old_backup(catalog, 30, pool="States", volume=f"States-{n:04d}"))
    await catalog.update_volume("States-0005", enabled=2)              # archived
    assert (await volume_for(director, "States"))[0] is None
    assert [await catalog.get_job(j) is not None for j in expired] == [True] * 5


@pytest_twisted.ensureDeferred
async def test_a_volume_from_the_scratch_pool_takes_the_pools_defaults(director):
    catalog = await director.catalog_ready()
    await catalog.create_volume("Scratch-0001", "Scratch", "File")
    volume, job = await volume_for(director, "FromScratch")
    assert (volume.volume_name, volume.pool, volume.vol_status, volume.vol_retention) == \
        ("Scratch-0001", "FromScratch", "Append", 3 * DAY)
    assert any("from 'Scratch' pool" in line for line in job.log)


@pytest_twisted.ensureDeferred
async def test_a_purged_volume_goes_back_to_its_recycle_pool(director):
    catalog = await director.catalog_ready()
    await used_volume(catalog, "GivesBack-0001", "GivesBack")
    await old_backup(catalog, 5, pool="GivesBack", volume="GivesBack-0001")
    found, _job = await volume_for(director, "GivesBack")
    assert found is None or found.volume_name != "GivesBack-0001"
    volume = await catalog.get_volume("GivesBack-0001")
    assert (volume.pool, volume.vol_status) == ("Holding", "Purged")


@pytest_twisted.ensureDeferred
async def test_auto_prune_after_a_job_of_a_client_that_asks_for_it(director):
    catalog = await director.catalog_ready()
    full = await old_backup(catalog, 40, level="F")
    old_inc = await old_backup(catalog, 39)
    new_full = await old_backup(catalog, 12, level="F")
    files_expired = await old_backup(catalog, 6)
    manual_old = await old_backup(catalog, 40, client="fd-manual")
    job = await a_job(director, "Auto")
    job.run()
    job.end(JobStatus.TERMINATED)
    await autoprune(director, job)
    assert [await catalog.get_job(j) is None for j in (full, old_inc, new_full)] == \
        [True, True, False]                 # the newest Full is kept: a restore needs it
    assert await catalog.list_files(new_full) == [] and await catalog.list_files(files_expired) == []
    assert await catalog.get_job(manual_old) is not None          # no Auto Prune for that client
    assert any("End auto prune." in line for line in job.log)

    failed = await a_job(director, "Auto", client="fd-manual")
    failed.run()
    failed.end(JobStatus.ERROR_TERMINATED)
    await autoprune(director, failed)
    assert not any("auto prune" in line for line in failed.log)
