"""SIGTERM (``systemctl stop``) to each daemon at several points of a backup and of a
restore: an orderly stop (issue 17), at the points of the kill -9 matrix.

The stopped daemon exits within its stop bound, and no daemon logs a traceback or an
unhandled error.  A daemon that stops in an orderly way cancels the jobs it runs and says so
in a job message, so:

- the file or storage daemon stopped (the director alive): the job ends canceled (``A``),
  with "<daemon> is stopping: the job is canceled." in its log.  A stopping storage daemon
  may also leave it failed (``f``): the file daemon, sending, finds its data connection
  closed and reports a fatal error, and the director weighs the file daemon's report first
  (Bareos' rule, ``daemons_outcome``).  At the start the daemon may be gone before the
  director reaches it: the job then fails (it cannot connect); at the end all data may have
  moved and the job ended OK.
- the director stopped: it records the job's end, canceled, in the catalog before it exits
  (issue 17 item 3: it used to close its catalog first and leave the job running for ever);
  the restarted director finds the job ended and leaves it so.

Either way the backups made before restore identical and the next backup succeeds.  The
quick loop runs the mid-data backup for each daemon; the rest of the matrix is ``slow``.
"""

import signal

import pytest

from bareos.daemon.service import CLOSE_TIMEOUT, JOBS_STOP_TIMEOUT
from bareos.protocol.jobstatus import FAILED, SUCCESSFUL, JobStatus
from test_kill_matrix import (CONNECT_TIMEOUT, HEARTBEAT_INTERVAL, assert_recovered, cases,
                              final_status, interrupted_job)

NAMES = {"dir": "director_name", "fd": "client_name", "sd": "storage_daemon_name"}
CLEAN_EXIT = (0, -signal.SIGTERM)
# The daemon's own bound, plus what the process needs to close its catalog and exit.
STOP_BOUND = JOBS_STOP_TIMEOUT + CLOSE_TIMEOUT + 10
CANCELED = JobStatus.CANCELED


def assert_no_crash(proc):
    text = proc.log_text() + proc.output_text()
    assert "Unhandled error in Deferred" not in text, proc.describe()
    assert "Traceback (most recent call last)" not in text, proc.describe()


def job_log(catalog, jobid):
    return "\n".join(text for (text,) in catalog.query(
        "SELECT LogText FROM Log WHERE JobId = ? ORDER BY LogId", jobid))


# The catalog backend does not change what a stopping daemon does: the matrix runs on SQLite
# (PostgreSQL: the catalog service tests in tests/integration/catalog).
@pytest.mark.parametrize("catalog", ["sqlite"], indirect=True)
@pytest.mark.parametrize("kind, point, daemon", list(cases()))
def test_sigterm(suite, catalog, tmp_path, kind, point, daemon):
    first, before, jobid = interrupted_job(suite, catalog, tmp_path, kind, point)
    stopped = suite.daemons[daemon]

    rc = stopped.stop(timeout=STOP_BOUND)

    assert not stopped.killed_after_timeout, f"still running {STOP_BOUND} s after SIGTERM"
    assert rc in CLEAN_EXIT, stopped.describe()
    # what an orderly stop may end the job with at this point (an earlier end stands)
    expected = {CANCELED} | (SUCCESSFUL if point == "end" else set())
    if daemon == "dir":
        (status,) = catalog.query("SELECT JobStatus FROM Job WHERE JobId = ?", jobid)[0]
        assert status in expected, status            # recorded before the director exited
        stopped.start()
        assert final_status(suite, jobid, 60, "the restarted director answers") == status
        assert "the director was restarted" not in job_log(catalog, jobid)
    else:
        if point == "start" or daemon == "sd":       # see the module's docstring
            expected |= FAILED
        status = final_status(suite, jobid, CONNECT_TIMEOUT + 2 * HEARTBEAT_INTERVAL,
                              "the job ends once a daemon has stopped")
        assert status in expected, status
        stopped.start()
    if status not in SUCCESSFUL and not (point == "start" and status in FAILED):
        assert (f"{getattr(suite, NAMES[daemon])} is stopping: the job is canceled."
                in job_log(catalog, jobid))
    assert_recovered(suite, catalog, tmp_path, first, before)
    for proc in suite.daemons.values():
        assert_no_crash(proc)
