#!/usr/bin/env python3
"""Client-initiated connections at scale: N simulated file daemons against one real director.

    .venv/bin/python bench/client_initiated.py [--clients 1000] [--runs 3] [--heartbeat 60]
        [--max-interval 10] [--down 3] [--work DIR]

The director is our real ``twistd bareos-dir`` process, with one Client resource per
simulated file daemon (``Connection From Client To Director = yes``, cleartext) and its
default connection limits.  The file daemons are this one process: N ``DirectorLink``
objects (the file daemon's own link code: dial, hello, CRAM-MD5, greeting, waiting,
heartbeats, backoff with jitter) on one reactor, without the rest of a file daemon.  So
the simulated side does for N clients what each real one does for itself: on a 2-core
machine it needs about as much CPU as the director, and answers each CRAM-MD5 step only
as fast as its one reactor gets round to it.

Printed (nothing is asserted), per run and as medians with [min-max] over ``--runs``:

* the director's start until it listens (the wall time includes writing its N Client
  files and, after the restart, finding its port among this process's N sockets) and the
  CPU seconds the director used until then: loading its configuration;
* the time from the links' start until all N wait in the director (all links WAITING, and
  ``status director`` listing N connections), and the CPU seconds the director and this
  process used until then;
* the director's RSS (VmRSS) before any client and with N waiting;
* the time one ``status director`` takes on an open console session (median of 5);
* after a director restart (SIGTERM, ``--down`` seconds, start): the same, counted from
  the new director listening; the connection attempts of all links in the run;
* the 1-minute load average at the start and the end of the run.

Settings of the simulated file daemons: Heartbeat Interval ``--heartbeat`` (60 s, the
file daemon's default), Reconnect Min Interval 1 s, Max ``--max-interval`` (10 s), jitter
20 %.  All links dial from 127.0.0.1: the director's admission control counts addresses
only once a login from them failed, so one address for all is no handicap.
"""

import argparse
import os
import resource
import statistics
import sys
import tempfile
import threading
import time
import types
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from twisted.internet import defer, task, threads  # noqa: E402
from twisted.logger import globalLogBeginner, FilteringLogObserver, LogLevel, \
    LogLevelFilterPredicate, textFileLogObserver  # noqa: E402

from bareos.config import parse_config_text  # noqa: E402
from bareos.config.schemas import FILEDAEMON  # noqa: E402
from bareos.filedaemon.director_link import DirectorLink, LinkState  # noqa: E402
from bareos.testing.daemons import Suite  # noqa: E402
from bareos.testing.quick_console import QuickConsole  # noqa: E402
from procstat import cpu_seconds  # noqa: E402  (bench/procstat.py)

PASSWORD = "bench-client-password"


def raise_open_files(wanted):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as stream:
        for line in stream:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def client_name(index):
    return f"sim-fd-{index:05d}"


def fd_config(suite, args):
    return parse_config_text(f"""
Client {{ Name = template; Heartbeat Interval = {args.heartbeat};
         Reconnect Min Interval = 1; Reconnect Max Interval = {args.max_interval};
         Reconnect Jitter Percent = 20 }}
Director {{ Name = {suite.director_name}; Password = "{PASSWORD}"; Address = 127.0.0.1;
           Port = {suite.dir_port}; TLS Enable = no; TLS Require = no;
           Connection From Client To Director = yes; Connection From Director To Client = no }}
""", FILEDAEMON)


def simulated_fds(reactor, suite, args):
    """N DirectorLinks, each standing for one file daemon."""
    config = fd_config(suite, args)
    client, director = config.only("client"), config.only("director")

    async def serve(conn, director, first_packet):      # nobody takes connections here
        conn.close()

    links = []
    for index in range(args.clients):
        name = client_name(index)
        daemon = types.SimpleNamespace(name=name, reactor=reactor, resource=client, messages=None,
                                       qualified_name=f"R_CLIENT::{name}")
        links.append(DirectorLink(daemon, director, clock=reactor, serve=serve))
    return links


async def wait_for(reactor, condition, timeout, step=0.25):
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            return None
        await task.deferLater(reactor, step, lambda: None)
    return time.monotonic() - started


class Console:
    """A console session in a thread of its own (the reactor keeps the links alive)."""

    def __init__(self, suite):
        self.suite = suite
        self.session = None
        self.lock = threading.Lock()

    def _open(self):
        if self.session is None:
            self.session = QuickConsole(self.suite.dir_port, self.suite.dir_password, timeout=120)

    def waiting(self):
        with self.lock:
            self._open()
            return len(self.session.waiting_clients())

    def timed_status(self):
        with self.lock:
            self._open()
            started = time.perf_counter()
            text = self.session.command("status director")
            return time.perf_counter() - started, text

    def reset(self):
        with self.lock:
            if self.session is not None:
                self.session.close()
            self.session = None


async def count_in_director(reactor, console, wanted, timeout):
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        try:
            count = await threads.deferToThread(console.waiting)
        except Exception:
            console.reset()
            count = -1
        if count == wanted:
            return time.monotonic() - started
        await task.deferLater(reactor, 0.2, lambda: None)
    return None


def phase_cpu(director, started_cpu):
    """(director's CPU seconds, this process's CPU seconds) since ``started_cpu``."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    now = (cpu_seconds(director.pid), own.ru_utime + own.ru_stime)
    return now[0] - started_cpu[0], now[1] - started_cpu[1]


async def run(reactor, args):
    """One run; returns its figures (None: timed out)."""
    work = Path(args.work or tempfile.mkdtemp(prefix="bench-client-initiated-"))
    raise_open_files(4 * args.clients + 1024)
    suite = Suite(work)
    clients = [{"name": client_name(i), "port": 9, "password": PASSWORD, "tls": "none",
                "extra": ["Connection From Client To Director = yes",
                          "Connection From Director To Client = no",
                          f"Heartbeat Interval = {args.heartbeat}"]}
               for i in range(args.clients)]
    figures = {"load average (1 min) at the start": os.getloadavg()[0]}
    started = time.monotonic()
    director = await threads.deferToThread(suite.start_director, clients=clients)
    figures["director start until listening (s)"] = time.monotonic() - started
    figures["director CPU until listening: loading its configuration (s)"] = \
        cpu_seconds(director.pid)
    try:
        await task.deferLater(reactor, 1, lambda: None)
        figures["director RSS, no clients (MiB)"] = rss_kib(director.pid) / 1024
        links = simulated_fds(reactor, suite, args)
        started, cpu = time.monotonic(), phase_cpu(director, (0, 0))
        for link in links:
            link.startService()

        def all_waiting():
            return all(link.state is LinkState.WAITING for link in links)

        timeout = 60 + 3 * args.max_interval
        figures["all connected, links' view (s)"] = await wait_for(reactor, all_waiting, timeout)
        console = Console(suite)
        took_dir = await count_in_director(reactor, console, args.clients, timeout)
        figures["all listed in status director, from start (s)"] = \
            None if took_dir is None else time.monotonic() - started
        (figures["director CPU until all listed (s)"],
         figures["simulated FDs' CPU until all listed (s)"]) = phase_cpu(director, cpu)
        await task.deferLater(reactor, min(2 * args.heartbeat, 30), lambda: None)   # settled
        figures[f"director RSS, {args.clients} waiting (MiB)"] = rss_kib(director.pid) / 1024
        timings = []
        for _ in range(5):
            seconds, text = await threads.deferToThread(console.timed_status)
            timings.append(seconds)
        figures["status director (ms, median of 5)"] = 1000 * statistics.median(timings)
        figures["status director output (bytes)"] = len(text)
        console.reset()

        # a director restart
        await threads.deferToThread(director.stop)
        await task.deferLater(reactor, args.down, lambda: None)
        started = time.monotonic()
        await threads.deferToThread(director.start)
        back = time.monotonic()
        figures["after restart: director start until listening (s)"] = back - started
        figures["after restart: director CPU until listening (s)"] = cpu_seconds(director.pid)
        cpu = phase_cpu(director, (0, 0))
        took = await wait_for(reactor, all_waiting, timeout)
        figures["after restart: all links waiting again (s)"] = took
        took_dir = await count_in_director(reactor, console, args.clients, timeout)
        figures["after restart: all listed in status director (s)"] = \
            None if took_dir is None else time.monotonic() - back
        (figures["after restart: director CPU until all listed (s)"],
         figures["after restart: simulated FDs' CPU until all listed (s)"]) = \
            phase_cpu(director, cpu)
        figures["connection attempts in total"] = sum(link.attempts for link in links)
        figures["director RSS after restart (MiB)"] = rss_kib(director.pid) / 1024
        figures["load average (1 min) at the end"] = os.getloadavg()[0]
        console.reset()
        for link in links:
            link.stopService()
    finally:
        await threads.deferToThread(suite.stop)
    print(f"  (logs: {suite.run_dir})", flush=True)
    return figures


def summary(values):
    """A median with [min-max] over the runs; a timed-out run counts as the worst."""
    if any(v is None for v in values):
        timed_out = sum(v is None for v in values)
        known = [v for v in values if v is not None]
        return f"timed out in {timed_out} of {len(values)}" + \
            (f", others {', '.join(f'{v:.2f}' for v in known)}" if known else "")
    if len(values) == 1:
        return f"{values[0]:.2f}" if isinstance(values[0], float) else str(values[0])
    return f"{statistics.median(values):.2f} [{min(values):.2f}-{max(values):.2f}]"


async def runs(reactor, args):
    results = []
    for number in range(args.runs):
        print(f"run {number + 1} of {args.runs} ...", flush=True)
        results.append(await run(reactor, args))
    print(f"\nClient-initiated connections: {args.clients} simulated file daemons, heartbeat "
          f"{args.heartbeat} s, backoff 1..{args.max_interval} s, director down {args.down} s; "
          f"{args.runs} run(s): median [min-max]")
    width = max(len(k) for k in results[0])
    for key in results[0]:
        print(f"  {key:<{width}}  {summary([r[key] for r in results])}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--heartbeat", type=int, default=60,
                        help="the FDs' Heartbeat Interval (default: 60, the FD's own default)")
    parser.add_argument("--max-interval", type=int, default=10)
    parser.add_argument("--down", type=float, default=3.0, help="seconds the director is down")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--work", help="directory for configs and logs (default: a new temp dir "
                                       "per run)")
    args = parser.parse_args()
    globalLogBeginner.beginLoggingTo([FilteringLogObserver(
        textFileLogObserver(sys.stderr),
        [LogLevelFilterPredicate(defaultLogLevel=LogLevel.error)])], redirectStandardIO=False)
    task.react(lambda reactor: defer.ensureDeferred(runs(reactor, args)))


if __name__ == "__main__":
    main()
