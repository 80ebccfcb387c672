#!/usr/bin/env python3
"""A backup copied from one storage daemon to another (connections #5b and #8), on loopback.

    .venv/bin/python bench/copy_jobs.py [--mib 1024] [--work DIR]

One director, one file daemon and two storage daemons (real ``twistd`` processes, SQLite
catalog, file volumes, each daemon on its own 127.0.40.x address): a Full backup of a
``--mib`` MiB tree (one big file and a few small ones) into pool Full on SD_A, then a Copy
job (Selection Type PoolUncopiedJobs) into pool Copy on SD_B.

Printed for the backup and for the copy (nothing is asserted): the wall time from the
``run`` command until every job it started had ended, MB/s (10^6 bytes of the job's JobBytes
per wall second), and the CPU seconds (user+sys) each daemon spent in that step.
"""

import argparse
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from procstat import cpu_seconds  # noqa: E402
from bareos.config.writer import Quoted, Resource, resource_files  # noqa: E402
from bareos.testing.ports import free_port  # noqa: E402
from bareos.testing.topology import Topology  # noqa: E402
from bareos.testing.trees import make_tree  # noqa: E402

DIRECTOR, FD, SD_A, SD_B = "127.0.40.100", "127.0.40.10", "127.0.40.1", "127.0.40.2"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mib", type=int, default=1024, help="MiB backed up and copied (1024)")
    parser.add_argument("--work", help="directory for daemons and data (default: a temporary one)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.work, prefix="copy-bench-") as work:
        work = Path(work)
        source = make_tree(work / "source", big_file_mib=args.mib, small_files=10)
        site = Topology(work, director_host=DIRECTOR, director_port=free_port(DIRECTOR),
                        source=source)
        site.add_fd("FD", FD, free_port(FD))
        site.add_sd("SD_A", SD_A, free_port(SD_A))
        site.add_sd("SD_B", SD_B, free_port(SD_B))
        extra = resource_files(
            Resource("Pool", {"Name": "Full", "Pool Type": "Backup", "Storage": "SD_A",
                              "Label Format": Quoted("Full-"), "Next Pool": "Copy"}),
            Resource("Pool", {"Name": "Copy", "Pool Type": "Backup", "Storage": "SD_B",
                              "Label Format": Quoted("Copy-")}),
            Resource("Job", {"Name": "copy", "Type": "Copy", "Pool": "Full", "Storage": "SD_A",
                             "Selection Type": "PoolUncopiedJobs", "Messages": "Standard"}))
        try:
            site.start(extra_resources=extra)
            print(f"{args.mib} MiB, daemons: director, FD, SD_A (reads), SD_B (writes)")
            step(site, "backup", "run job=backup level=Full yes", "B")
            step(site, "copy SD_A -> SD_B", "run job=copy yes", "C")
        finally:
            site.stop()


def step(site, name, command, job_type):
    pids = {proc.name: proc.pid for proc in site.processes()}
    before = {daemon: cpu_seconds(pid) for daemon, pid in pids.items()}
    started = time.monotonic()
    output = site.console(f"{command}\nwait\nwait\n", timeout=3600)
    wall = time.monotonic() - started
    cpu = {daemon: cpu_seconds(pid) - before[daemon] for daemon, pid in pids.items()}
    with sqlite3.connect(site.base / "work-dir" / "bareos.db") as db:
        row = db.execute("SELECT JobBytes, JobStatus FROM Job WHERE Type = ? ORDER BY JobId DESC "
                         "LIMIT 1", (job_type,)).fetchone()
    if row is None:
        print(f"{name}: no job of type {job_type} ended\n{output}")
        return
    job_bytes, status = row
    figures = ", ".join(f"{daemon} {seconds:.1f} s" for daemon, seconds in cpu.items())
    print(f"{name}: status {status}, {job_bytes / 1e6:.0f} MB in {wall:.1f} s = "
          f"{job_bytes / 1e6 / wall:.1f} MB/s; CPU: {figures}")


if __name__ == "__main__":
    main()
