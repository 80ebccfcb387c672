"""Copy and Migrate jobs: what each Selection Type picks, and the directives in the schema."""

from datetime import datetime

import pytest

from bareos.catalog.api import CopyCandidate
from bareos.config import ConfigError, parse_config_text
from bareos.config.schemas import DIRECTOR
from bareos.director.jobs.copy import select_job_ids
from bareos.director.jobs.job import JobFailed


def candidate(job_id, name="backup", type="B", client="fd1", job_bytes=100, pool="Full",
              volume="Full-0001", status="Full", volume_pool="Full", written=1):
    return CopyCandidate(job_id, name, type, client, job_bytes, pool, volume, status, volume_pool,
                         datetime(2026, 12, 1, 0, written))


# job 1 on two volumes, job 2 of another client and job, job 3 empty, job 4 a copy, job 5 on an
# appendable volume, job 6 in another pool
CANDIDATES = [
    candidate(1, volume="Full-0001", written=5), candidate(1, volume="Full-0002", written=7),
    candidate(2, name="catalog", client="fd2", volume="Full-0002", written=7),
    candidate(3, job_bytes=0, volume=None, status=None, volume_pool=None),
    candidate(4, type="C", volume="Full-0003", written=9),
    candidate(5, volume="Full-0004", status="Append", written=1),
    candidate(6, pool="Other", volume="Other-0001", volume_pool="Other", written=0),
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
])
def test_selection_types(selection, pattern, expected):
    assert select_job_ids(selection, pattern, "Full", CANDIDATES) == expected


def test_pattern_required_and_checked():
    with pytest.raises(JobFailed, match="needs a Selection Pattern"):
        select_job_ids("Client", None, "Full", CANDIDATES)
    with pytest.raises(JobFailed, match="Could not compile Selection Pattern"):
        select_job_ids("Job", "(", "Full", CANDIDATES)


def test_an_empty_pool_selects_nothing():
    assert select_job_ids("OldestVolume", None, "Empty", CANDIDATES) == []


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


@pytest.mark.parametrize("selection", ["SmallestVolume", "PoolOccupancy", "PoolTime"])
def test_selection_types_not_implemented_are_refused_by_name(selection):
    text = BASE + f"Job {{ Name = c; Type = Migrate; Pool = Full; Messages = m\n" \
                  f"  Selection Type = {selection} }}"
    with pytest.raises(ConfigError, match=f"{selection} is not implemented yet"):
        parse_config_text(text, DIRECTOR)
