#!/usr/bin/env python3
"""Pruning a big catalog: the File rows of expired jobs, per catalog backend.

    .venv/bin/python bench/prune.py [--jobs 100] [--files 10000] [--backend sqlite3|postgresql]

For each backend (SQLite in a temporary directory; PostgreSQL on a private cluster started
here, as the tests do): a fresh catalog gets ``--jobs`` backup jobs of ``--files`` file rows
each (1,000,000 by default), all past their File Retention; then a new process opens the
catalog and runs ``prune_files`` for the client, as AutoPrune or ``prune files`` would.

Printed (nothing is asserted): the seconds the prune took, the File rows before and after,
and the peak RSS of the pruning process (the director's side; PostgreSQL's server memory is
its own).  Filling the catalog is done in a separate process, so its memory does not count.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

RESOURCE_FIELDS = ("db_driver", "db_name", "db_user", "db_password", "db_address", "db_port",
                   "db_socket")
CLIENT = "bench-fd"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=100)
    parser.add_argument("--files", type=int, default=10_000, help="file rows per job")
    parser.add_argument("--backend", choices=("sqlite3", "postgresql"), action="append")
    parser.add_argument("--child", choices=("fill", "prune"), help=argparse.SUPPRESS)
    parser.add_argument("--catalog", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        catalog = json.loads(args.catalog)
        return child(args.child, catalog, args.jobs, args.files)
    for backend in args.backend or ("sqlite3", "postgresql"):
        with tempfile.TemporaryDirectory(prefix="prune-bench-") as work:
            if backend == "sqlite3":
                run_backend(backend, {"db_driver": "sqlite3", "db_name": "bareos",
                                      "working_directory": work}, args)
                continue
            from bareos.testing.postgres import start_private_postgres
            server = start_private_postgres()
            try:
                res = server.catalog_resource()
                run_backend(backend, {**{f: getattr(res, f, None) for f in RESOURCE_FIELDS},
                                      "working_directory": work}, args)
            finally:
                server.stop()


def run_backend(backend, catalog, args):
    def spawn(what):
        out = subprocess.run(
            [sys.executable, __file__, "--child", what, "--catalog", json.dumps(catalog),
             "--jobs", str(args.jobs), "--files", str(args.files)],
            check=True, capture_output=True, text=True).stdout
        return json.loads(out.strip().splitlines()[-1])

    filled = spawn("fill")
    pruned = spawn("prune")
    print(f"{backend}: {filled['rows']:,} File rows in {args.jobs} jobs (filled in "
          f"{filled['seconds']:.1f} s); prune files: {pruned['seconds']:.2f} s, "
          f"{pruned['rows_after']:,} rows left, {pruned['jobs']} jobs pruned, "
          f"peak RSS {pruned['peak_rss_mib']:.0f} MiB")


def child(what, settings, jobs, files):
    from twisted.internet import defer, task

    async def run(reactor):
        from bareos.catalog import open_catalog
        work = settings.pop("working_directory")
        res = types.SimpleNamespace(**{f: settings.get(f) for f in RESOURCE_FIELDS})
        catalog = await open_catalog(res, work, reactor)
        try:
            if what == "fill":
                result = await fill(catalog, jobs, files)
            else:
                result = await prune(catalog)
        finally:
            await catalog.close()
        print(json.dumps(result))

    task.react(lambda reactor: defer.ensureDeferred(run(reactor)))


async def fill(catalog, jobs, files):
    from bareos.catalog import FileRecord, JobRecord
    from bareos.protocol.jobstatus import JobStatus
    started = time.monotonic()
    client_id = await catalog.ensure_client(CLIENT)
    fileset_id = await catalog.ensure_fileset("BenchSet", "Include { File = / }", "md5")
    old = int(time.time()) - 400 * 86400
    for n in range(jobs):
        job_id = await catalog.create_job(JobRecord(
            job=f"bench.{n}", name="bench", client_id=client_id, fileset_id=fileset_id,
            job_status=JobStatus.ERROR_TERMINATED, job_tdate=old + n, job_files=files))
        await catalog.add_file_records(job_id, [
            FileRecord(i, f"/data/d{i % 100:02d}/", f"file-{i:07d}", "P0A BAAA IGA B A A A",
                       "0") for i in range(1, files + 1)])
    return {"seconds": time.monotonic() - started, "rows": await count_files(catalog)}


async def prune(catalog):
    started = time.monotonic()
    job_ids = await catalog.prune_files(CLIENT, None, 60 * 86400)
    seconds = time.monotonic() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"seconds": seconds, "jobs": len(job_ids), "rows_after": await count_files(catalog),
            "peak_rss_mib": peak}


async def count_files(catalog):
    from bareos.catalog import core

    def op():
        row = yield core.q_one("SELECT COUNT(*) FROM File")
        return row[0]
    return await catalog._run(op)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
