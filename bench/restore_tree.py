#!/usr/bin/env python3
"""Restore by directory on a catalog of 1,000,000 files: bvfs and the restore tree.

    .venv/bin/python bench/restore_tree.py [--files 1000000] [--runs 5] [--backend sqlite|postgresql]
                                           [--work DIR]

One catalog (SQLite in WORK, or a private PostgreSQL cluster from ``bareos.testing.postgres``)
gets a Full backup of ``--files`` files, 100 to a directory in a three-level tree
(``/data/dNNN/sNNN/fNNNNNN``, each directory with its own record as the file daemon sends
it), stored through the catalog's bulk path (``add_file_records`` in batches of 10,000, as
the storage daemon's attribute stream is stored), and an Incremental changing 1% of them.
Then, per run, in this process (the director's code, not a daemon):

* ``.bvfs_update``: the directory cache of both jobs built from nothing (the cache is
  cleared before each run);
* ``.bvfs_lsdirs`` of one directory of 100 subdirectories;
* ``.bvfs_lsfiles`` of one directory of 100 files (the console command's catalog operation
  and its api 2 rendering); both listings are checked to hold what the tree has, which
  below 10,000 files is fewer subdirectories (below 100, fewer files);
* the restore tree: every File row of both jobs read (alone: "rows only"), and read and
  the tree built (``restore``'s ``Building directory tree``), then ``mark *`` on it.

Printed (nothing is asserted): median milliseconds with [min-max] over the runs, the median
CPU milliseconds of this process (its threads included: the SQLite catalog's work, not the
PostgreSQL server's), which depend less on what else the machine runs, and the peak RSS of
this process after each step (``ru_maxrss``: the tree is the largest).
"""

import argparse
import inspect
import resource
import shutil
import statistics
import sys
import tempfile
import time
import types
from datetime import datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from twisted.internet import defer, task  # noqa: E402

from bareos.catalog import JobRecord, bvfs, open_catalog  # noqa: E402
from bareos.director.console import bvfs as console_bvfs  # noqa: E402
from bareos.director.console.output import API_JSON, Reply  # noqa: E402
from bareos.director.console.restore import build_tree  # noqa: E402
from bareos.protocol.jobstatus import JobStatus  # noqa: E402

BATCH = 10_000
FANOUT = 100
LSTAT = "A A IH/ B A A A BAA A A BhLAbF BhLAbF BhLAbF A A C"
T0 = datetime(2026, 12, 1, 22, 0, 0)


class Sink:
    """A console connection that keeps nothing: what a Reply sends is only rendered."""

    def send(self, data):
        pass

    def send_signal(self, signal):
        pass


def peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def directory_count(files):
    """How many leaf directories ``/data/dNNN/sNNN/`` the tree of ``files`` files has."""
    return -(-files // FANOUT)


def file_rows(files, changed_every=None):
    """(FileIndex, Path, Name, LStat, MD5, DeltaSeq) of the tree, directory records after
    their files; with ``changed_every`` only every n-th file (an Incremental)."""
    index = 0
    per_directory = FANOUT
    for d in range(directory_count(files)):
        top, sub = divmod(d, FANOUT)
        path = f"/data/d{top:03d}/s{sub:03d}/".encode()
        for f in range(per_directory):
            number = d * per_directory + f
            if number >= files:
                break
            if changed_every and number % changed_every:
                continue
            index += 1
            yield (index, path, f"f{number:07d}".encode(), LSTAT, "0", 0)
        if not changed_every:
            index += 1
            yield (index, path, b"", LSTAT, "0", 0)


async def store(catalog, job_id, rows):
    batch, stored = [], 0
    for row in rows:
        batch.append(row)
        if len(batch) == BATCH:
            stored += await catalog.add_file_records(job_id, batch)
            batch = []
    if batch:
        stored += await catalog.add_file_records(job_id, batch)
    return stored


async def timed(label, results, function, *args):
    """``function(*args)`` (awaited when it is a coroutine function), its time in results."""
    started, cpu = time.perf_counter(), time.process_time()
    value = function(*args)
    if inspect.isawaitable(value):
        value = await value
    results.setdefault(label, []).append(((time.perf_counter() - started) * 1000,
                                          (time.process_time() - cpu) * 1000))
    return value


def catalog_resource(args, work):
    if args.backend == "sqlite":
        return types.SimpleNamespace(db_driver="sqlite3", db_name="bench", db_user=None,
                                     db_password=None, db_address=None, db_port=None,
                                     db_socket=None), None
    from bareos.testing.postgres import start_private_postgres
    server = start_private_postgres(dbname="bareos_bench", user="bareos_bench")
    return server.catalog_resource(), server


async def bench(reactor, args):
    work = Path(args.work or tempfile.mkdtemp(prefix="bareos-restore-tree-"))
    work.mkdir(parents=True, exist_ok=True)
    res, server = catalog_resource(args, work)
    catalog = await open_catalog(res, str(work), reactor)
    try:
        client = await catalog.ensure_client("bench-fd")
        fileset = await catalog.ensure_fileset("BenchSet", "Include { File = /data }", "md5")
        jobs = []
        started = time.perf_counter()
        for n, (level, changed_every) in enumerate((("F", None), ("I", 100))):
            start = T0 + timedelta(hours=n)
            job_id = await catalog.create_job(JobRecord(
                job=f"bench.{start:%Y-%m-%d_%H.%M.%S}_{n:02d}", name="bench", level=level,
                job_status=JobStatus.TERMINATED, client_id=client, fileset_id=fileset, start_time=start,
                end_time=start + timedelta(minutes=10)))
            stored = await store(catalog, job_id, file_rows(args.files, changed_every))
            await catalog.update_job(job_id, job_files=stored)
            jobs.append(job_id)
            print(f"job {job_id} ({level}): {stored:,} file records", flush=True)
        print(f"catalog filled in {time.perf_counter() - started:.1f} s "
              f"({args.backend}, {work})", flush=True)

        results, rss = {}, {}
        leaf = await catalog.run_operation(bvfs.op_path_id, "/data/d000/s000/")
        # below 10,000 files /data/d000/ has fewer than 100 subdirectories, below 100
        # /data/d000/s000/ fewer than 100 files: what the listings must hold follows --files
        top_subdirs = min(FANOUT, directory_count(args.files))
        leaf_files = min(FANOUT, args.files)
        lsdirs_label = f".bvfs_lsdirs ({top_subdirs} dirs)"
        lsfiles_label = f".bvfs_lsfiles ({leaf_files} files)"
        for run in range(args.runs):
            await catalog.run_operation(bvfs.op_bvfs_clear_cache)

            async def update():
                for job_id in jobs:
                    await catalog.run_operation(bvfs.op_bvfs_update, job_id)
            await timed(".bvfs_update (2 jobs)", results, update)
            rss.setdefault(".bvfs_update (2 jobs)", peak_rss_mib())
            # /data/d000/ has no record of its own: the cache added it to Path
            top = await catalog.run_operation(bvfs.op_path_id, "/data/d000/")

            async def lsdirs(top):
                entries = await catalog.run_operation(bvfs.op_bvfs_lsdirs, jobs, top, 2000, 0)
                console_bvfs._render(Reply(Sink(), API_JSON), "directories", entries)
                return entries
            # "." and ".." (its parent /data/) besides the subdirectories
            assert len(await timed(lsdirs_label, results, lsdirs, top)) == top_subdirs + 2

            async def lsfiles():
                entries = await catalog.run_operation(bvfs.op_bvfs_lsfiles, jobs, leaf, 2000, 0)
                console_bvfs._render(Reply(Sink(), API_JSON), "files", entries)
                return entries
            assert len(await timed(lsfiles_label, results, lsfiles)) == leaf_files
            rss.setdefault(lsfiles_label, peak_rss_mib())

            async def read_rows():
                count = 0
                for job_id in jobs:
                    after = bvfs.TREE_START
                    while rows := await catalog.run_operation(bvfs.op_tree_rows, job_id, after):
                        count += len(rows)
                        after = (rows[-1][4], rows[-1][1])
                return count
            await timed("restore tree: rows only", results, read_rows)

            async def tree():
                return await build_tree(Reply(Sink(), API_JSON), catalog, jobs)
            built = await timed("restore tree: build", results, tree)
            rss.setdefault("restore tree: build", peak_rss_mib())
            built.cwd = built.root
            await timed("restore tree: mark *", results, built.mark, "*")
            del built
            print(f"run {run + 1}/{args.runs} done", flush=True)

        print(f"\n{args.files:,} files in {directory_count(args.files):,} directories + an Incremental "
              f"of 1%, {args.backend}, {args.runs} runs")
        print(f"{'step':<28} {'median ms':>10}  {'[min-max]':<20} {'CPU ms':>8}  peak RSS MiB")
        for label, runs in results.items():
            wall = [w for w, _ in runs]
            cpu = statistics.median(c for _, c in runs)
            print(f"{label:<28} {statistics.median(wall):>10.1f}  "
                  f"{f'[{min(wall):.1f}-{max(wall):.1f}]':<20} {cpu:>8.1f}  "
                  + (f"{rss[label]:.0f}" if label in rss else ""))
        print(f"peak RSS of the process: {peak_rss_mib():.0f} MiB")
    finally:
        await catalog.close()
        if server is not None:
            server.stop()
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--work", help="where the SQLite catalog goes (kept); default: a "
                                       "temporary directory, removed")
    args = parser.parse_args(argv)
    task.react(lambda reactor: defer.ensureDeferred(bench(reactor, args)))


if __name__ == "__main__":
    main()
