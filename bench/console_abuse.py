#!/usr/bin/env python3
"""One console sends a huge command line; how long until it is refused, and how long does
another console wait for ``version`` meanwhile?

    .venv/bin/python bench/console_abuse.py [--lengths 999996,300000,65536] [--work DIR]

A real ``twistd bareos-dir`` (SQLite catalog, loopback) and two cleartext console sessions
in this process (``QuickConsole``).  For each length, the first console sends ``help``
followed by that many characters in one command; while it waits, the second console sends
``version`` again and again.  Printed per length (nothing is asserted):

* how long the long line took to be answered, and the first words of the answer;
* the other console's ``version`` latency during that time: how many were answered, the
  median and the slowest.

999,996 characters is the longest line one packet of a console carries (Bareos refuses
packets above 1,000,000 bytes).  Lines above the director's limit (64 KiB) are refused
before they are parsed; shorter ones are parsed (in time linear in their length) and run.
Issue 17 measured 10.9 s for 900,000 characters before the fix, with ``version`` on
another connection waiting as long.
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

from bareos.protocol.framing import MAX_MESSAGE_LEN  # noqa: E402
from bareos.testing.daemons import Suite  # noqa: E402
from bareos.testing.quick_console import QuickConsole  # noqa: E402


def abuse(port, password, length):
    attacker = QuickConsole(port, password)
    other = QuickConsole(port, password)
    latencies = []
    done = threading.Event()

    def ask_version():
        while not done.is_set():
            started = time.monotonic()
            other.command("version")
            latencies.append(time.monotonic() - started)

    asker = threading.Thread(target=ask_version)
    started = time.monotonic()
    asker.start()
    answer = attacker.command("help " + "x" * (length - 5))
    refused_after = time.monotonic() - started
    done.set()
    asker.join()
    attacker.close()
    other.close()
    return refused_after, answer, latencies


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lengths", default=f"{MAX_MESSAGE_LEN},300000,65536",
                        help="line lengths in characters, comma-separated")
    parser.add_argument("--work", help="directory for the director's configuration and catalog")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=options.work) as work:
        suite = Suite(work)
        try:
            director = suite.start_director()
            print(f"director pid {director.pid} on 127.0.0.1:{suite.dir_port}")
            for length in (int(text) for text in options.lengths.split(",")):
                refused_after, answer, latencies = abuse(suite.dir_port, suite.dir_password,
                                                         length)
                first_words = answer.strip()[:70] + ("..." if len(answer.strip()) > 70 else "")
                print(f"{length:>9,} characters: answered after {refused_after:.3f} s "
                      f"({first_words!r})")
                if latencies:
                    print(f"{'':>20} other console's version meanwhile: {len(latencies)} "
                          f"answered, median {statistics.median(latencies) * 1000:.1f} ms, "
                          f"slowest {max(latencies) * 1000:.1f} ms")
        finally:
            suite.stop()


if __name__ == "__main__":
    main()
