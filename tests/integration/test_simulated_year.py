"""A simulated year of nightly backups: monthly Fulls, weekly Differentials, Incrementals
the other nights, a small tree that changes every day.  One in-process director chooses
the volumes (pruning and recycling as Bareos does) and auto-prunes after each job; its
clock is a ``task.Clock`` advanced a day at a time, so the year takes seconds.  The storage
daemon is simulated: a volume is a list of the jobs written on it since it was (re)labelled.

Shown per simulated month: volumes, bytes on them, Job and File rows.  Checked: they level
off; every job the catalog still has is on its volume (nothing retained was overwritten);
the last two weeks' points in time restore to that day's tree.
"""

from datetime import datetime

import pytest_twisted
from twisted.internet import task

from bareos.director.jobs.job import Job
from bareos.director.jobs.storage import appendable_volume
from bareos.director.retention import autoprune
from bareos.protocol.jobstatus import JobStatus
from bareos.testing.director_tree import module_director

DAY = 86400
START = datetime(2025, 1, 1, 23, 0, 0).timestamp()
FILE_BYTES = 1000

FILES = {
    "director/test-dir.conf": """
Director { Name = test-dir; DirAddress = 127.0.0.1; DirPort = {port}; Password = "dirpw";
           Messages = Daemon; Working Directory = "{workdir}"; TLS Enable = no }""",
    "client/fd.conf": """
Client { Name = fd; Address = 127.0.0.1; Port = {dead_port}; Password = "fdpw";
         Auto Prune = yes; File Retention = 60 days; Job Retention = 100 days }""",
    "storage/File.conf": """
Storage { Name = File; Address = 127.0.0.1; Port = {dead_port}; Password = "sdpw";
          Device = FileStorage; Media Type = File }""",
    "fileset/Set.conf": "FileSet { Name = Set; Include { File = /data } }",
    "pool/pools.conf": """
Pool { Name = Full; Label Format = "Full-"; Maximum Volume Jobs = 1; Volume Retention = 100 days }
Pool { Name = Diff; Label Format = "Diff-"; Maximum Volume Jobs = 1; Volume Retention = 40 days }
Pool { Name = Incr; Label Format = "Incr-"; Volume Use Duration = 6 days;
       Volume Retention = 20 days }""",
    "job/jobs.conf": """
Job { Name = nightly; Type = Backup; Client = fd; FileSet = Set; Storage = File; Pool = Full;
      Messages = Standard }""",
    "messages/messages.conf": """
Messages { Name = Daemon; Console = all }
Messages { Name = Standard; Catalog = all }""",
    "catalog/MyCatalog.conf": "Catalog { Name = MyCatalog; DB Driver = sqlite3; DB Name = bareos }",
}

director = module_director(FILES)
LEVELS = {"F": "Full", "D": "Diff", "I": "Incr"}


def tree_on(day):
    """The client's files on ``day``: name -> version.  a.txt changes daily, b.txt weekly,
    c.txt monthly, the rest never."""
    return {"a.txt": day, "b.txt": day // 7, "c.txt": day // 30, "d.txt": 0, "e.txt": 0}


def level_on(day):
    return "F" if day % 30 == 0 else "D" if day % 7 == 0 else "I"


class SimulatedStorage:
    """Volume name -> JobIds written on it since its label (a recycled volume starts anew)."""

    def __init__(self, catalog, clock):
        self.catalog, self.clock, self.volumes = catalog, clock, {}

    async def write(self, volume, job_id, files):
        name = volume.volume_name
        written = volume.vol_bytes
        if volume.vol_status == "Recycle" or name not in self.volumes:
            self.volumes[name] = []          # labelled (again): the old contents are gone
            written = 0
        self.volumes[name].append(job_id)
        now = datetime.fromtimestamp(self.clock.seconds())
        await self.catalog.update_volume(
            name, vol_status="Append", vol_jobs=volume.vol_jobs + 1,
            vol_files=volume.vol_files + len(files),
            vol_bytes=written + FILE_BYTES * len(files), last_written=now,
            first_written=volume.first_written or now)
        await self.catalog.create_jobmedia(job_id, volume.media_id, 1, max(len(files), 1),
                                           0, 0, 0, 0)


async def nightly(director, storage, clock, day, last_tree, last_full_tree):
    catalog, config = director.catalog, director.config
    level = level_on(day)
    pool = config.get("pool", LEVELS[level])
    job = Job(resource=config.get("job", "nightly"), type="B", level=level,
              client=config.get("client", "fd"), fileset=config.get("fileset", "Set"),
              pool=pool, storage=config.get("storage", "File"),
              messages=config.get("messages", "Standard"), clock=clock)
    await director.jobs.record(job, client_id=await catalog.ensure_client("fd"),
                               fileset_id=await catalog.ensure_fileset("Set", "", "md5"))
    tree = tree_on(day)
    since = {"F": {}, "D": last_full_tree, "I": last_tree}[level]
    changed = sorted(name for name, version in tree.items() if since.get(name) != version)
    job.run()
    volume = await appendable_volume(director, pool.name, "File", job.storage, [], job)
    assert volume is not None, f"day {day}: no volume in pool {pool.name}\n" + "\n".join(job.log)
    await catalog.add_file_records(job.jobid, [
        (i, "/data/", name, "lstat", f"v{tree[name]}", 0) for i, name in enumerate(changed, 1)])
    await storage.write(volume, job.jobid, changed)
    job.end(JobStatus.TERMINATED)
    when = datetime.fromtimestamp(clock.seconds())
    await catalog.update_job(job.jobid, job_status="T", start_time=when, end_time=when,
                             job_tdate=int(clock.seconds()), job_files=len(changed))
    await autoprune(director, job)
    return tree


async def count(catalog, table):
    from bareos.catalog import core

    def op():
        row = yield core.q_one(f"SELECT COUNT(*) FROM {table}")
        return row[0]
    return await catalog._run(op)


@pytest_twisted.ensureDeferred
async def test_a_year_of_nightly_backups_levels_off_and_loses_nothing_retained(director):
    catalog = await director.catalog_ready()
    clock = task.Clock()
    clock.advance(START)
    director.clock = clock
    storage = SimulatedStorage(catalog, clock)
    last_tree, last_full_tree, months, end_of_day = {}, {}, [], {}
    for day in range(365):
        last_tree = await nightly(director, storage, clock, day, last_tree, last_full_tree)
        if level_on(day) == "F":
            last_full_tree = last_tree
        end_of_day[day] = clock.seconds() + 60
        # Nothing the catalog still knows was overwritten on its volume.
        for entry in await catalog.list_jobmedia():
            assert entry.job_id in storage.volumes[entry.volume_name], (day, entry)
        if day % 30 == 29:
            volumes = await catalog.list_volumes()
            months.append((len(volumes), sum(v.vol_bytes for v in volumes),
                           await count(catalog, "Job"), await count(catalog, "File")))
            print(f"month {len(months):2}: {months[-1][0]} volumes, {months[-1][1]:,} bytes, "
                  f"{months[-1][2]} jobs, {months[-1][3]} file rows")
        clock.advance(DAY)

    # Levelled off: the second half of the year needs no more than its first months did.
    steady = [max(figures) for figures in zip(*months[3:6])]
    for month in months[6:]:
        assert all(now <= most for now, most in zip(month, steady)), (month, steady)
    # The points in time of the last two weeks restore to that day's tree.
    for day in range(351, 365):
        selection = await catalog.restore_selection(
            "fd", before=datetime.fromtimestamp(end_of_day[day]))
        restored = {f.filename.rsplit("/", 1)[1]: f.md5 for f in selection.files}
        assert restored == {name: f"v{v}" for name, v in tree_on(day).items()}, day
