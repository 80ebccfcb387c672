"""Issue 17 item 4: PostgreSQL restarted, or down for a while, under a running director.

Real daemons on the private PostgreSQL server: a backup, then the server is restarted
(stop + start on the same port, so every connection of the director is lost); the next
backup and ``list jobs`` must work without restarting the director.  Then the server is
down: the console gets one clear line naming the catalog, never "Internal error"; and
when it is up again, everything works again.  A job that loses the catalog half-way
fails with that line among its messages.
"""

import re

import pytest

from backup_helpers import run_job
from bareos.testing.trees import make_tree


@pytest.mark.parametrize("catalog", ["postgresql"], indirect=True)
def test_director_rides_out_postgresql_restart_and_outage(suite, catalog, postgres, tmp_path):
    source = tmp_path / "source"
    make_tree(source)
    suite.start_sd()
    suite.start_fd()
    director = suite.start_director(
        extra_resources={**suite.backup_resources(source), **catalog.resources})

    first, status, output = run_job(suite, "run job=backup level=Full yes")
    assert status == "T", output

    postgres.restart()
    second, status, output = run_job(suite, "run job=backup level=Full yes")
    assert status == "T", output
    listed = suite.console("list jobs\n")
    assert "Internal error" not in listed
    assert {first, second} <= {int(jobid) for jobid, in catalog.query("SELECT JobId FROM Job")}
    for jobid in (first, second):
        assert re.search(rf"^\|\s*{jobid} \|", listed, re.MULTILINE), listed

    postgres.shut_down()
    try:
        for command in ("run job=backup level=Full yes", "list jobs"):
            output = suite.console(f"{command}\n")
            assert "Internal error" not in output, output
            assert "catalog MyCatalog: " in output, output
            assert f"127.0.0.1:{postgres.port}" in output and "Connection refused" in output, output
            assert "Job queued" not in output, output
    finally:
        postgres.start_again()

    third, status, output = run_job(suite, "run job=backup level=Full yes")
    assert status == "T", output
    assert "Traceback" not in director.log_text()


@pytest.mark.parametrize("catalog", ["postgresql"], indirect=True)
def test_a_job_that_loses_postgresql_fails_with_a_clear_message(suite, catalog, postgres,
                                                                 tmp_path):
    source = tmp_path / "source"
    make_tree(source)
    suite.start_sd()
    fd = suite.start_fd()
    director = suite.start_director(
        extra_resources={**suite.backup_resources(source), **catalog.resources})

    # The job is recorded and started while PostgreSQL is up, then waits for its file
    # daemon (stopped); PostgreSQL goes down before the file daemon comes back.
    fd.stop()
    queued = suite.console("run job=backup level=Full yes\n")
    jobid = int(re.search(r"Job queued\. JobId=(\d+)", queued).group(1))
    postgres.shut_down()
    try:
        fd.start()
        waited = suite.console(f"wait jobid={jobid}\nmessages\n")
    finally:
        postgres.start_again()
    assert re.search(r"JobStatus=.*\(f\)", waited), waited
    assert "Fatal error: catalog MyCatalog: " in waited, waited
    assert "nternal error" not in waited, waited

    _, status, output = run_job(suite, "run job=backup level=Full yes")
    assert status == "T", output
    assert "Traceback" not in director.log_text()
