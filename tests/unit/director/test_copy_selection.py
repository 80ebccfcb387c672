"""Copy and Migrate jobs: what each Selection Type picks, and the directives in the schema."""

from datetime import datetime, timedelta
from types import SimpleNamespace

import pytest

from bareos.catalog.api import CopyCandidate
from bareos.config import parse_config_text
from bareos.config.schemas import DIRECTOR
from bareos.director.jobs.copy import select_job_ids
from bareos.director.jobs.job import JobFailed

NOW = datetime(2026, 12, 2, 0, 0)


def candidate(job_id, name="backup", type="B", client="fd1", job_bytes=100, pool="Full",
              volume="Full-0001", status="Full", volume_pool="Full", written=1, vol_bytes=1000,
              enabled=True, ended_days_ago=1, copied=False):
    return CopyCandidate(job_id, name, type, client, job_bytes, pool, volume, status, volume_pool,
                         datetime(2026, 12, 1, 0, written), vol_bytes, enabled,
                         NOW - timedelta(days=ended_days_ago), copied)


def read_pool(name="Full", migration_time=None, high=None, low=None):
    """What the selection reads of a Pool resource."""
    return SimpleNamespace(name=name, migration_time=migration_time, migration_high_bytes=high,
                           migration_low_bytes=low)


def select(selection, pattern=None, pool=None, candidates=None, migration=False):
    return select_job_ids(selection, pattern, pool or read_pool(), candidates or CANDIDATES,
                          now=NOW, migration=migration)


# job 1 on two volumes, job 2 of another client and job, job 3 empty, job 4 a copy, job 5 on an
# appendable volume, job 6 in another pool
CANDIDATES = [
    candidate(1, volume="Full-0001", written=5, vol_bytes=900, ended_days_ago=10),
    candidate(1, volume="Full-0002", written=7, vol_bytes=500, ended_days_ago=10),
    candidate(2, name="catalog", client="fd2", volume="Full-0002", written=7, vol_bytes=500,
              ended_days_ago=3),
    candidate(3, job_bytes=0, volume=None, status=None, volume_pool=None),
    candidate(4, type="C", volume="Full-0003", written=9, vol_bytes=2000, ended_days_ago=2),
    candidate(5, volume="Full-0004", status="Append", written=1, vol_bytes=10),
    candidate(6, pool="Other", volume="Other-0001", volume_pool="Other", written=0, vol_bytes=1),
]


@pytest.mark.parametrize("selection, pattern, expected", [
    ("PoolUncopiedJobs", None, [1, 2, 5]),            # backups with data; no copies
    ("Job", "^cata", [2]),
    ("Job", "nothing-matches", []),
    ("Client", "fd1", [1, 3, 4, 5]),
    ("Volume", "Full-000[23]", [1, 2, 4]),            # closed volumes only (not Full-0004)
    ("Volume", "Full-0004", []),
    ("OldestVolume", None, [1]),                      # Full-0001, last written first
    ("oldestvolume", None, [1]),
    ("SmallestVolume", None, [1, 2]),                 # Full-0002 (Full-0004 is appendable)
    ("PoolTime", None, [1, 2, 4]),                    # Migration Time 0: every ended job
])
def test_selection_types(selection, pattern, expected):
    assert select(selection, pattern) == expected


def test_pattern_required_and_checked():
    with pytest.raises(JobFailed, match="needs a Selection Pattern"):
        select("Client")
    with pytest.raises(JobFailed, match="Could not compile Selection Pattern"):
        select("Job", "(")


@pytest.mark.parametrize("selection", ["OldestVolume", "SmallestVolume", "PoolTime",
                                       "PoolOccupancy", "PoolUncopiedJobs"])
def test_an_empty_pool_selects_nothing(selection):
    assert select(selection, pool=read_pool("Empty")) == []


def test_pool_uncopied_jobs_leaves_out_jobs_copied_anywhere_and_is_for_copies_only():
    copied = [c._replace(copied=c.job_id == 2) for c in CANDIDATES]
    assert select("PoolUncopiedJobs", candidates=copied) == [1, 5]
    with pytest.raises(JobFailed, match="'pooluncopiedjobs' only applies to Copy Jobs"):
        select("PoolUncopiedJobs", migration=True)


def test_volume_selections_skip_disabled_volumes():
    disabled = [c._replace(vol_enabled=c.volume_name != "Full-0002") for c in CANDIDATES]
    assert select("SmallestVolume", candidates=disabled) == [1]       # Full-0001 now
    assert select("Volume", "Full-000[23]", candidates=disabled) == [4]


@pytest.mark.parametrize("days, expected", [(0, [1, 2, 4]), (3, [1, 2]), (4, [1]), (11, [])])
def test_pool_time_takes_jobs_ended_migration_time_ago(days, expected):
    # job 6 is in another pool; job 5's volume is appendable, job 4 ended 2 days ago
    assert select("PoolTime", pool=read_pool(migration_time=days * 86400)) == expected


# the pool's jobs on its volumes (job 6 is in Other) hold 100 + 100 + 100 + 100 = 400 bytes
@pytest.mark.parametrize("high, low, expected", [
    (401, 0, []),                 # below Migration High Bytes: nothing
    (400, 300, [1]),              # one job takes it down to 300
    (400, 299, [1, 2]),
    (None, None, [1, 2, 4]),      # 0 and 0: every job on a closed volume (job 5's is not)
])
def test_pool_occupancy_migrates_oldest_jobs_down_to_low_bytes(high, low, expected):
    assert select("PoolOccupancy", pool=read_pool(high=high, low=low)) == expected


BASE = """Director { Name = d; Password = p }
Messages { Name = m }
Pool { Name = Full; Next Pool = Copy }
Pool { Name = Copy }
"""


def test_copy_job_directives_are_acted_on():
    text = BASE + """Job { Name = c; Type = Copy; Pool = Full; Messages = m; Next Pool = Copy
  Selection Type = PoolUncopiedJobs; Selection Pattern = "x"; Purge Migration Job = yes }"""
    config = parse_config_text(text, DIRECTOR)
    job = config.get("job", "c")
    assert (job.job_type, job.next_pool, job.selection_type, job.selection_pattern,
            job.purge_migration_job) == ("Copy", "Copy", "PoolUncopiedJobs", "x", True)
    assert config.get("pool", "Full").next_pool == "Copy"


def test_migration_and_spawn_limits_are_read():
    text = BASE + """Pool { Name = Mig; Next Pool = Copy; Migration Time = 2 days
  Migration High Bytes = 10 MB; Migration Low Bytes = 2 MB }
Job { Name = m; Type = Migrate; Pool = Mig; Messages = m; Selection Type = PoolOccupancy
  Maximum Spawned Jobs = 3 }
Job { Name = c; Type = Copy; Pool = Mig; Messages = m; Selection Type = smallestvolume }"""
    config = parse_config_text(text, DIRECTOR)
    pool, migrate, copy = config.get("pool", "Mig"), config.get("job", "m"), config.get("job", "c")
    assert (pool.migration_time, pool.migration_high_bytes, pool.migration_low_bytes) == \
        (2 * 86400, 10_000_000, 2_000_000)
    assert (migrate.selection_type, migrate.max_concurrent_copies) == ("PoolOccupancy", 3)
    assert (copy.selection_type, copy.max_concurrent_copies) == ("SmallestVolume", 100)
