#!/usr/bin/env python3
"""Concurrent Full backups of many clients, each its own file daemon process, to one SD.

    .venv/bin/python bench/many_clients.py [--clients 20] [--mib 64] [--device-jobs N]
                                           [--poll 0.2] [--work DIR]

Our real daemons on loopback (SQLite catalog): one director, one storage daemon with one
File device, and ``--clients`` ``twistd bareos-fd`` processes, each with its own Client
resource, its own data tree of ``--mib`` MiB (incompressible files of different sizes) and
its own backup Job (Signature MD5, pool ``Many`` that makes its volumes from a Label
Format).  The director, its Storage and the SD's Storage let every job run at once; the
Device's ``Maximum Concurrent Jobs`` is ``--device-jobs`` (default: the number of clients,
so the jobs share the device and interleave their blocks on one volume, as Bareos' SD does
when a device takes several jobs; 1 makes them queue for the device, Bareos' default).

One console session queues all the backups (``run job=... yes`` each), then ``wait``s for
them; a second session runs ``status director`` every ``--poll`` seconds meanwhile and
times each call (request sent to the last packet of the answer).

Printed (nothing is asserted): the wall time from the first ``run`` until ``wait``
returned (every job ended), the data backed up and the aggregate MB/s (all JobBytes / that
wall time), each job's status, bytes and duration (the catalog's EndTime - StartTime,
whole seconds), ``status director`` latency (calls, median, 90th percentile, max) during
the run, the CPU seconds (user+sys) and peak RSS of the director and the SD over the run
(peak reset before it where the kernel allows), the FDs' CPU in total, the volumes made,
the load average, and whether the catalog's VolBytes and VolBlocks match the volume files.
The exit status is 1 unless every job ended T and they match.
"""

import argparse
import collections
import os
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from procstat import cpu_times, reset_hwm, vm_hwm_mib  # noqa: E402  (bench/procstat.py)
from burst import seconds_between  # noqa: E402  (bench/burst.py)
from bareos.config.writer import Block, Quoted, Resource, resource_files  # noqa: E402
from bareos.testing.burst import make_source, with_concurrency  # noqa: E402
from bareos.testing.daemons import (  # noqa: E402
    DaemonProcess, Suite, director_of_daemon, generate_password, messages_to_director,
    write_config_tree)
from bareos.testing.ports import free_ports  # noqa: E402
from bareos.testing.quick_console import QuickConsole  # noqa: E402
from bareos.volume import FileVolume  # noqa: E402

POOL = "Many"


def client_name(index):
    return f"client-{index:02d}"


def start_file_daemons(suite, clients):
    """One ``twistd bareos-fd`` per entry of ``clients`` (name, port, password); started in
    parallel, each waited for until it listens."""
    daemons = []
    for client in clients:
        work = suite.base / "fd-work" / client["name"]
        work.mkdir(parents=True)
        root = write_config_tree(suite.etc / client["name"], "bareos-fd.d", resource_files(
            Resource("Client", {"Name": client["name"], "FdAddress": suite.host,
                                "FdPort": client["port"], "Working Directory": work,
                                "TLS Enable": False, "TLS Require": False}),
            director_of_daemon(suite.director_name, client["password"]),
            messages_to_director(suite.director_name)))
        daemon = DaemonProcess("bareos-fd", root, port=client["port"], run_dir=suite.run_dir,
                               name=client["name"])
        suite.daemons[client["name"]] = daemon
        daemons.append(daemon.start(wait=False))
    for daemon in daemons:
        daemon.wait_listening()
    return daemons


def start_daemons(suite, sources, device_jobs):
    """SD, one FD per source, director; returns (clients, fd daemons)."""
    count = len(sources)
    clients = [{"name": client_name(n), "port": port, "password": generate_password(),
                "extra": [f"Maximum Concurrent Jobs = {count}"]}
               for n, port in enumerate(free_ports(count, suite.host))]
    suite.start_sd(extra_resources={
        "device/FileStorage.conf": suite.sd_resources()["device/FileStorage.conf"].replace(
            "}", f"  Maximum Concurrent Jobs = {device_jobs}\n}}", 1),
        "storage/bareos-sd.conf": with_concurrency(suite.sd_resources()["storage/bareos-sd.conf"],
                                                   count)})
    fds = start_file_daemons(suite, clients)
    resources = resource_files(
        Resource("Pool", {"Name": POOL, "Pool Type": "Backup", "Label Format": Quoted(f"{POOL}-")}),
        Resource("Messages", {"Name": "Standard", "Console": "all", "Catalog": "all"}),
        *(Resource("FileSet", {"Name": f"set-{client['name']}", "Include": {
            "Options": Block(["Signature = MD5"]), "File": source}})
          for client, source in zip(clients, sources)),
        *(Resource("Job", {
            "Name": f"backup-{client['name']}", "Type": "Backup", "Level": "Full",
            "Client": client["name"], "FileSet": f"set-{client['name']}",
            "Storage": suite.storage_name, "Pool": POOL, "Messages": "Standard"})
          for client in clients))
    storage = suite.director_resources()[f"storage/{suite.storage_name}.conf"]
    resources[f"storage/{suite.storage_name}.conf"] = with_concurrency(storage, count)
    suite.start_director(clients=clients, director_extra=[f"Maximum Concurrent Jobs = {count * 2}"],
                         extra_resources=resources)
    return clients, fds


class StatusPoller(threading.Thread):
    """``status director`` every ``interval`` s on its own console session, each call timed."""

    def __init__(self, suite, interval):
        super().__init__(daemon=True)
        self.console = QuickConsole(suite.dir_port, suite.dir_password, timeout=120)
        self.interval = interval
        self.latencies = []          # (seconds since the poller started, seconds the call took)
        self.longest_output = 0
        self.finished = threading.Event()

    def run(self):
        origin = time.monotonic()
        while not self.finished.is_set():
            started = time.monotonic()
            text = self.console.command("status director")
            self.latencies.append((started - origin, time.monotonic() - started))
            self.longest_output = max(self.longest_output, len(text))
            self.finished.wait(max(0.0, self.interval - (time.monotonic() - started)))

    def stop(self):
        self.finished.set()
        self.join()
        self.console.close()


def run_all(suite, clients, poll_interval, runs_per_client):
    """Queue ``runs_per_client`` backups per client, wait for all; returns (jobids, wall s,
    the poller, the console's output)."""
    poller = StatusPoller(suite, poll_interval)
    with QuickConsole(suite.dir_port, suite.dir_password, timeout=120) as console:
        poller.start()
        started = time.monotonic()
        output = "".join(console.command(f"run job=backup-{client['name']} yes")
                         for _ in range(runs_per_client) for client in clients)
        output += console.command("wait")
        wall = time.monotonic() - started
    poller.stop()
    jobids = sorted({int(word.split("=")[1]) for word in output.split() if word.startswith("JobId=")})
    return jobids, wall, poller, output


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=20, help="file daemons, one backup each (20)")
    parser.add_argument("--mib", type=float, default=64, help="MiB of data per client (64)")
    parser.add_argument("--device-jobs", type=int,
                        help="the Device's Maximum Concurrent Jobs (default: --clients)")
    parser.add_argument("--runs-per-client", type=int, default=1,
                        help="backups queued per client; beyond the first they wait for the "
                             "Job's Maximum Concurrent Jobs (1)")
    parser.add_argument("--poll", type=float, default=0.2, help="seconds between status calls (0.2)")
    parser.add_argument("--work", help="directory for daemons and data (default: a temporary one)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.work, prefix="many-clients-") as work:
        work = Path(work)
        sources = [work / "data" / client_name(n) for n in range(args.clients)]
        for source in sources:
            make_source(source, int(args.mib * (1 << 20)))
        with Suite(work / "suite") as suite:
            clients, fds = start_daemons(suite, sources, args.device_jobs or args.clients)
            ok = report(suite, clients, fds, args)
    return 0 if ok else 1


def report(suite, clients, fds, args):
    director, sd = suite.daemons["dir"], suite.daemons["sd"]
    os.sync()
    load_before = os.getloadavg()
    cpu_before = {d.pid: cpu_times(d.pid) for d in (director, sd, *fds)}
    for daemon in (director, sd):
        reset_hwm(daemon.pid)
    jobids, wall, poller, output = run_all(suite, clients, args.poll, args.runs_per_client)
    cpu = {pid: tuple(now - then for now, then in zip(cpu_times(pid), before))
           for pid, before in cpu_before.items()}
    load_after = os.getloadavg()
    with sqlite3.connect(suite.dir_work / "bareos.db") as db:
        rows = db.execute(
            f"SELECT JobId, Name, JobStatus, JobFiles, JobBytes, StartTime, EndTime FROM Job "
            f"WHERE JobId IN ({','.join('?' * len(jobids))}) ORDER BY JobId", jobids).fetchall()
        volumes = db.execute("SELECT VolumeName, VolJobs, VolBytes, VolBlocks FROM Media "
                             "ORDER BY MediaId").fetchall()
    expected = len(clients) * args.runs_per_client
    total = sum(row[4] for row in rows)
    durations = [seconds_between(row[5], row[6]) for row in rows]
    statuses = " ".join(f"{status} {count}" for status, count in
                        sorted(collections.Counter(row[2] for row in rows).items()))
    latencies = sorted(took for _at, took in poller.latencies)
    slowest = sorted(poller.latencies, key=lambda call: call[1])[-3:]
    print(f"{len(clients)} clients x {args.mib:g} MiB, Device Maximum Concurrent Jobs "
          f"{args.device_jobs or len(clients)}; load average before {load_before[0]:.2f}, "
          f"after {load_after[0]:.2f}")
    print(f"jobs: {len(rows)} of {expected}, statuses {statuses}")
    print(f"wall until the last job ended: {wall:.2f} s; {total / 1e6:.1f} MB backed up, "
          f"aggregate {total / 1e6 / wall:.1f} MB/s")
    print(f"job durations (s): min {min(durations)}, median {statistics.median(durations)}, "
          f"max {max(durations)}")
    for row, duration in list(zip(rows, durations))[:len(clients)]:
        print(f"  JobId {row[0]:>3} {row[1]:<20} {row[2]} {row[3]:>3} files {row[4] / 1e6:8.1f} MB "
              f"{duration:>4} s  ({row[5][11:]} - {row[6][11:]})")
    if latencies:
        print(f"status director during the run: {len(latencies)} calls, median "
              f"{1000 * statistics.median(latencies):.0f} ms, 90th percentile "
              f"{1000 * latencies[int(0.9 * (len(latencies) - 1))]:.0f} ms, max "
              f"{1000 * latencies[-1]:.0f} ms (up to {poller.longest_output} bytes); slowest at "
              + ", ".join(f"{at:.1f} s: {1000 * took:.0f} ms" for at, took in reversed(slowest)))
    fds_cpu = [sum(cpu[fd.pid][part] for fd in fds) for part in (0, 1)]
    print(f"CPU s (user + system): director {_cpu(cpu[director.pid])}, SD {_cpu(cpu[sd.pid])}, "
          f"FDs in all {_cpu(fds_cpu)}")
    print(f"peak RSS: director {vm_hwm_mib(director.pid)} MiB, SD {vm_hwm_mib(sd.pid)} MiB, "
          f"largest FD {max(vm_hwm_mib(fd.pid) for fd in fds)} MiB")
    print(f"volumes (name, VolJobs, VolBytes, VolBlocks): {volumes}")
    mismatches = volume_mismatches(suite.storage_dir, volumes)
    print("the catalog's VolBytes and VolBlocks match the volume files"
          if not mismatches else f"CATALOG AND VOLUME FILES DIFFER: {mismatches}")
    ok = len(rows) == expected and all(row[2] == "T" for row in rows) and not mismatches
    if not ok:
        print("NOT every job ended T; the console's output:\n" + output)
    return ok


def volume_mismatches(directory, volumes):
    """(name, catalog (bytes, blocks), file (bytes, blocks)) of each volume that differs."""
    mismatches = []
    for name, _jobs, catalog_bytes, catalog_blocks in volumes:
        volume = FileVolume.open(directory, name, writable=False)
        try:
            on_disk = volume.find_end()
        finally:
            volume.close()
        if on_disk != (catalog_bytes, catalog_blocks):
            mismatches.append((name, (catalog_bytes, catalog_blocks), on_disk))
    return mismatches


def _cpu(times):
    return f"{sum(times):.2f} ({times[0]:.2f} + {times[1]:.2f})"


if __name__ == "__main__":
    sys.exit(main())
