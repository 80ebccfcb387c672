#!/usr/bin/env python3
"""A password-guessing flood against a real director: what does the guesser get, what does
it cost the others, and what does it cost the director's memory?

    .venv/bin/python bench/login_flood.py [--seconds 20] [--connections 8] [--failures 10000]

Two real ``twistd bareos-dir`` processes (SQLite catalog, loopback), default limits.
Printed (nothing is asserted):

1. The flood, against a director with the real 5 s delay before refusing a wrong password:
   a guesser on ``--connections`` parallel connections that gives up after 0.3 s without a
   verdict (a right password is answered at once), for ``--seconds``.  Attempts per second,
   and guesses per second the director evaluated (sent a CRAM-MD5 challenge for); meanwhile
   a console from 127.0.0.2 logs in and runs ``version`` again and again: its latency.
2. Memory, against a director whose failure delay is 0 (``BAREOS_TEST_FAILED_LOGIN_DELAY``):
   ``--failures`` failed logins spread over enough loopback addresses (127.1.x.y) that the
   per-address lockout never stops them; the director's RSS before, right after, and once it
   settled (10 s later).

Issue 17 measured, before the limits: 26 guesses a second evaluated with 8 connections, and
+40 MB of RSS after the first 10,000 failed logins.
"""

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bareos.testing.daemons import Suite  # noqa: E402
from bareos.testing.login_flood import CHALLENGED, flood  # noqa: E402
from bareos.testing.quick_console import QuickConsole  # noqa: E402

OTHER_SOURCE = "127.0.0.2"
SETTLE_SECONDS = 10


def rss_kib(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def good_login_latencies(suite, stop):
    latencies = []
    while not stop.is_set():
        started = time.monotonic()
        with QuickConsole(suite.dir_port, suite.dir_password, host=suite.host,
                          source=OTHER_SOURCE, timeout=30) as console:
            console.command("version")
        latencies.append(time.monotonic() - started)
        stop.wait(0.5)
    return latencies


def guessing(work, seconds, connections):
    suite = Suite(work / "flood", failed_login_delay=None)
    suite.start_director()
    try:
        stop = threading.Event()
        latencies = []
        prober = threading.Thread(target=lambda: latencies.extend(good_login_latencies(suite, stop)))
        prober.start()
        totals, elapsed = {}, 0.0
        while elapsed < seconds:
            outcomes, took = flood(suite.host, suite.dir_port, connections * 10,
                                   connections=connections)
            for outcome, count in outcomes.items():
                totals[outcome] = totals.get(outcome, 0) + count
            elapsed += took
        stop.set()
        prober.join()
    finally:
        suite.stop()
    attempts = sum(totals.values())
    print(f"flood: {connections} connections, 0.3 s guesser timeout, {elapsed:.1f} s")
    print(f"  attempts        {attempts} ({attempts / elapsed:.1f}/s): {totals}")
    print(f"  guesses evaluated (CRAM challenge sent): {totals.get(CHALLENGED, 0)} "
          f"({totals.get(CHALLENGED, 0) / elapsed:.2f}/s)")
    print(f"  good login + version from {OTHER_SOURCE} during the flood: {len(latencies)} "
          f"logins, median {statistics.median(latencies) * 1000:.0f} ms, "
          f"slowest {max(latencies) * 1000:.0f} ms")


def memory(work, failures, connections):
    suite = Suite(work / "memory", failed_login_delay=0)
    director = suite.start_director()
    try:
        per_address = 5
        sources = [f"127.1.{n // 250}.{n % 250 + 1}" for n in range(failures // per_address + 1)]
        before = rss_kib(director.pid)
        outcomes, took = flood(suite.host, suite.dir_port, failures, connections=connections,
                               sources=sources)
        right_after = rss_kib(director.pid)
        time.sleep(SETTLE_SECONDS)
        settled = rss_kib(director.pid)
    finally:
        suite.stop()
    print(f"memory: {failures} failed logins from {len(sources)} addresses in {took:.1f} s: "
          f"{dict(outcomes)}")
    print(f"  director RSS before {before / 1024:.1f} MiB, right after {right_after / 1024:.1f} MiB, "
          f"after {SETTLE_SECONDS} s {settled / 1024:.1f} MiB: growth {(settled - before) / 1024:+.1f} MiB")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--failures", type=int, default=10000)
    parser.add_argument("--work", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="login-flood-") as tmp:
        work = args.work or Path(tmp)
        guessing(work, args.seconds, args.connections)
        memory(work, args.failures, args.connections)


if __name__ == "__main__":
    main()
