#!/usr/bin/env python3
"""Director start-up against the number of resources: N Clients, each with its own Job.

    .venv/bin/python bench/config_scale.py [--clients 1000 10000 50000] [--runs 3] [--work DIR]

For each N a director configuration is written through ``bareos.config.writer`` (the
``bareos-dir.d`` tree of ``Suite.write``): N Client resources and N backup Jobs (one per
Client), sharing one FileSet, one Schedule, three Pools, one Storage, the Messages and the
Catalog.  Then, per run, two real processes:

* ``twistd bareos-dir -c ... -t``: the configuration check (load, bind, schedules), timed
  as the wall time of the process; its peak RSS from ``wait4``;
* ``twistd -n bareos-dir -c ...``: timed from the process start until its socket listens
  (services started), with its CPU time and peak RSS (VmHWM) then, and until it logs that
  its catalog is ready (a row for every Client, Pool and Storage); stopped afterwards.

Printed (nothing is asserted): medians with [min-max] over the runs of the wall time and of
the process's CPU time (user + system: the figure that does not depend on what else the
machine runs), and the peak RSS.
``--without-jobs`` writes the Clients alone (as ``bench/client_initiated.py`` does).
``--runs-large K`` uses K runs for N >= 50,000 when a run takes long.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bareos.config.writer import Resource, Verbatim, resource_files  # noqa: E402
from bareos.testing.daemons import Suite, daemon_env, twistd_command, write_config_tree  # noqa: E402
from procstat import cpu_seconds, vm_hwm_mib  # noqa: E402  (bench/procstat.py)


CATALOG_READY = "Catalog MyCatalog (sqlite3) is ready"


def client_name(index):
    return f"client-{index:06d}"


def scale_resources(suite, clients, with_jobs=True):
    """The director's ``{"<type>/<name>.conf": text}`` with *clients* Clients (and a Job each)."""
    shared = resource_files(
        Resource("FileSet", {"Name": "ScaleSet", "Include": {"Options": {"Signature": "MD5"},
                                                             "File": [Path("/etc")]}}),
        Resource("Schedule", {"Name": "Nightly", "Run": [
            Verbatim("Level=Full 1st sun at 23:05"),
            Verbatim("Level=Incremental mon-sat at 23:05")]}),
        *(Resource("Pool", {"Name": name, "Pool Type": "Backup", "Label Format": f"{name}-"})
          for name in ("Full", "Incremental", "Differential")),
        Resource("Messages", {"Name": "Standard", "Console": "all", "Catalog": "all"}),
    )
    jobs = {} if not with_jobs else resource_files(*(
        Resource("Job", {
            "Name": f"backup-{client_name(i)}", "Type": "Backup", "Level": "Incremental",
            "Client": client_name(i), "FileSet": "ScaleSet", "Schedule": "Nightly",
            "Storage": suite.storage_name, "Pool": "Full", "Full Backup Pool": "Full",
            "Incremental Backup Pool": "Incremental", "Differential Backup Pool": "Differential",
            "Messages": "Standard"})
        for i in range(clients)))
    client_specs = [{"name": client_name(i), "port": 9102, "password": f"secret-{i}"}
                    for i in range(clients)]
    return suite.director_resources(clients=client_specs, extra_resources=shared | jobs)


def time_config_check(suite, config):
    """(seconds, peak RSS MiB, CPU seconds) of ``twistd bareos-dir -c CONFIG -t``."""
    argv = twistd_command("bareos-dir", ["-c", str(config), "-t"], logfile=suite.run_dir / "check.log")
    started = time.monotonic()
    proc = subprocess.Popen(argv, cwd=REPO, env=daemon_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    output = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    took = time.monotonic() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"bareos-dir -t failed ({proc.returncode}):\n{output.decode(errors='replace')}")
    return took, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime


def time_start(suite, config, timeout):
    """Of ``twistd -n bareos-dir -c CONFIG``: (seconds until it listens, peak RSS MiB, CPU
    seconds then, seconds until its catalog is ready: every Client, Pool and Storage has its
    catalog row, jobs can run)."""
    director = suite.daemon("dir", config)
    director.start_timeout = timeout
    started = time.monotonic()
    director.start(wait=True)
    try:
        listening = time.monotonic() - started
        figures = (listening, vm_hwm_mib(director.pid), cpu_seconds(director.pid))
        while CATALOG_READY not in director.log_text(since_start=True):
            if time.monotonic() - started > timeout:
                raise RuntimeError(f"catalog not ready after {timeout} s:\n{director.describe()}")
            time.sleep(0.05)
        return (*figures, time.monotonic() - started)
    finally:
        director.stop()


def describe(values, unit="s"):
    return (f"{statistics.median(values):.2f} {unit} [{min(values):.2f}-{max(values):.2f}]"
            if len(values) > 1 else f"{values[0]:.2f} {unit} (1 run)")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, nargs="+", default=[1000, 10000, 50000])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--runs-large", type=int, default=None,
                        help="runs for N >= 50,000 (default: --runs)")
    parser.add_argument("--without-jobs", action="store_true",
                        help="Clients only, as bench/client_initiated.py configures them")
    parser.add_argument("--timeout", type=float, default=600, help="seconds to wait for a start")
    parser.add_argument("--work", help="work directory (default: a new temporary one)")
    args = parser.parse_args()
    work = Path(args.work or tempfile.mkdtemp(prefix="bench-config-scale-"))
    rows = []
    for clients in args.clients:
        suite = Suite(work / f"n{clients}")
        resources = scale_resources(suite, clients, with_jobs=not args.without_jobs)
        config = write_config_tree(suite.etc / "dir", "bareos-dir.d", resources)
        runs = args.runs_large if clients >= 50000 and args.runs_large else args.runs
        checks, starts = [], []
        for _ in range(runs):
            checks.append(time_config_check(suite, config))
            starts.append(time_start(suite, config, args.timeout))
        rows.append((clients, runs, checks, starts))
        print(f"N={clients}: -t {describe([c[0] for c in checks])}, listening after "
              f"{describe([s[0] for s in starts])}", flush=True)
    what = "Clients" if args.without_jobs else "Clients (+ a Job each)"
    print(f"\n| {what} | runs | `bareos-dir -t` wall | its CPU | peak RSS |"
          " start until listening | its CPU | peak RSS | until catalog ready |")
    print("|---:|---:|---|---|---:|---|---|---:|---|")
    for clients, runs, checks, starts in rows:
        print(f"| {clients:,} | {runs} | {describe([c[0] for c in checks])} | "
              f"{describe([c[2] for c in checks])} | {max(c[1] for c in checks):.0f} MiB | "
              f"{describe([s[0] for s in starts])} | {describe([s[2] for s in starts])} | "
              f"{max(s[1] for s in starts):.0f} MiB | {describe([s[3] for s in starts])} |")
    print(f"(configurations under {work})")


if __name__ == "__main__":
    main()
