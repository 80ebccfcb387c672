"""SIGTERM (``systemctl stop``) to a daemon while a backup runs: an orderly stop.

Whichever daemon is stopped, the job ends canceled in the catalog with a job message
saying which daemon stopped, the process exits within its stop bound, and no daemon
logs a traceback or an unhandled error.  When the director itself stops, the job's end
is in the catalog file before the director has exited (issue 17 item 3: it closed its
catalog first and left the job running for ever).
"""

import signal
import time

import pytest

from bareos.daemon.service import CLOSE_TIMEOUT, JOBS_STOP_TIMEOUT
from test_backup_failures import queue, small_tree, start, volume_bytes

NAMES = {"dir": "director_name", "fd": "client_name", "sd": "storage_daemon_name"}
CLEAN_EXIT = (0, -signal.SIGTERM)
# The daemon's own bound, plus what the process needs to close its catalog and exit.
STOP_BOUND = JOBS_STOP_TIMEOUT + CLOSE_TIMEOUT + 10


def assert_no_crash(proc):
    text = proc.log_text() + proc.output_text()
    assert "Unhandled error in Deferred" not in text, proc.describe()
    assert "Traceback (most recent call last)" not in text, proc.describe()


@pytest.mark.parametrize("catalog", ["sqlite"], indirect=True)
@pytest.mark.parametrize("daemon", ["dir", "fd", "sd"])
def test_a_daemon_stopped_during_a_backup_ends_the_job_canceled(suite, catalog, tmp_path,
                                                                daemon):
    source = small_tree(tmp_path / "source", files=20)
    with open(source / "big-sparse.bin", "wb") as stream:
        stream.truncate(3 << 30)                 # 3 GiB of zeros, read (and hashed) in full
    start(suite, catalog, source)
    jobid = queue(suite, "run job=backup level=Full yes")
    deadline = time.monotonic() + 120
    while volume_bytes(suite) < 20 << 20:
        assert time.monotonic() < deadline, "the backup never got going"
        time.sleep(0.05)
    stopped = suite.daemons[daemon]

    rc = stopped.stop(timeout=STOP_BOUND)

    assert not stopped.killed_after_timeout, f"still running {STOP_BOUND} s after SIGTERM"
    assert rc in CLEAN_EXIT, stopped.describe()
    if daemon != "dir":                          # the director, alive, records the end
        suite.console(f"wait jobid={jobid}\n")
    assert catalog.query("SELECT JobStatus FROM Job WHERE JobId = ?", jobid) == [("A",)]
    log = "\n".join(text for (text,) in catalog.query(
        "SELECT LogText FROM Log WHERE JobId = ? ORDER BY LogId", jobid))
    assert f"{getattr(suite, NAMES[daemon])} is stopping: the job is canceled." in log, log
    for proc in suite.daemons.values():
        assert_no_crash(proc)
