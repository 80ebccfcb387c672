#!/usr/bin/env python3
"""Twenty backups started at once on an empty pool: our three real twistd daemons.

    .venv/bin/python bench/burst.py [--jobs 20] [--mib 8] [--rounds 1] [--work DIR]

One director, file daemon and storage daemon (SQLite catalog) with every concurrency
limit raised so the jobs really run together (``bareos.testing.burst``).  Each round
queues ``--jobs`` Full backups of one ``--mib`` MiB tree into a new, empty pool in one
console session and waits for all of them.

Printed per round (nothing is asserted): the wall time from sending the ``run`` commands
until the last job ended, the aggregate rate (all jobs' JobBytes / wall time), the job
statuses, the volumes the pool got, and each job's duration (the catalog's EndTime -
StartTime, whole seconds).
"""

import argparse
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bareos.testing.burst import make_source, run_burst, start_burst_daemons  # noqa: E402
from bareos.testing.daemons import Suite  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=20, help="backups started at once (20)")
    parser.add_argument("--mib", type=float, default=8, help="MiB each job backs up (8)")
    parser.add_argument("--rounds", type=int, default=1, help="bursts, each on a new pool (1)")
    parser.add_argument("--work", help="directory for daemons and data (default: a temporary one)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.work, prefix="burst-") as work:
        work = Path(work)
        source = work / "source"
        make_source(source, int(args.mib * (1 << 20)))
        pools = [f"Burst{n:02d}" for n in range(args.rounds)]
        with Suite(work / "suite") as suite:
            start_burst_daemons(suite, source, pools, args.jobs)
            for pool in pools:
                report(suite, pool, args.jobs)


def report(suite, pool, jobs):
    started = time.monotonic()
    jobids, _output = run_burst(suite, pool, jobs)
    wall = time.monotonic() - started
    with sqlite3.connect(suite.dir_work / "bareos.db") as db:
        rows = db.execute(
            f"SELECT JobId, JobStatus, JobBytes, StartTime, EndTime FROM Job "
            f"WHERE JobId IN ({','.join('?' * len(jobids))}) ORDER BY JobId", jobids).fetchall()
        volumes = db.execute("SELECT m.VolumeName, m.VolJobs, m.VolBytes FROM Media m JOIN Pool p "
                             "ON p.PoolId = m.PoolId WHERE p.Name = ?", (pool,)).fetchall()
    total = sum(row[2] for row in rows)
    durations = [seconds_between(row[3], row[4]) for row in rows]
    statuses = "".join(row[1] for row in rows)
    print(f"{pool}: {len(rows)} jobs, statuses {statuses}, wall {wall:.2f} s, "
          f"{total / (1 << 20):.1f} MiB, aggregate {total / (1 << 20) / wall:.1f} MiB/s")
    print(f"  volumes (name, VolJobs, VolBytes): {volumes}")
    print(f"  job durations (s): min {min(durations)}, median {statistics.median(durations)}, "
          f"max {max(durations)}; by JobId: "
          + ", ".join(f"{row[0]}={d}" for row, d in zip(rows, durations)))


def seconds_between(start, end):
    """Whole seconds between two catalog times ('YYYY-MM-DD HH:MM:SS')."""
    return int(_epoch(end) - _epoch(start))


def _epoch(text):
    return time.mktime(time.strptime(text, "%Y-%m-%d %H:%M:%S"))


if __name__ == "__main__":
    main()
