"""Debian's Bacula 9.6 console (package bacula-console) against our director, through its pipe.

Bacula's bconsole says ``Hello <name> calling 100`` and authenticates with CRAM-MD5 like a
Bareos console before 18.2; it then sends each line of its standard input as a command and
prints the answers.  ``scripts/bootstrap`` installs the package; without it the tests are
skipped, except in CI (``CI=true``), where that is a failure.
"""

import os
import re
import subprocess
from pathlib import Path

import pytest

from bareos.testing.daemons import Suite

# the package's own binary (/usr/sbin/bacula-console is a link to it); ours is /usr/bin/bconsole
BACULA_BCONSOLE = Path("/usr/sbin/bconsole")


@pytest.fixture(scope="module")
def daemons(tmp_path_factory):
    if not _is_bacula_console(BACULA_BCONSOLE):
        message = f"Bacula's bconsole ({BACULA_BCONSOLE}, Debian package bacula-console) is not installed"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    base = tmp_path_factory.mktemp("bacula-console")
    suite = Suite(base)
    suite.add_console("operator")
    try:
        suite.start_sd()
        suite.start_fd()
        source = base / "source"
        source.mkdir()
        (source / "hosts").write_text("127.0.0.1 localhost\n")
        suite.start_director(extra_resources=suite.backup_resources(source))
        yield suite
    finally:
        suite.stop()


def _is_bacula_console(path):
    if not path.exists():
        return False
    usage = subprocess.run([str(path), "-?"], capture_output=True, text=True, timeout=30)
    return "Kern Sibbald" in usage.stdout + usage.stderr


def bacula_config(suite, console=None, password=None):
    """A Bacula bconsole.conf: the Director resource, and a Console resource for a named one."""
    text = (f'Director {{\n  Name = {suite.director_name}\n  Address = {suite.host}\n'
            f'  DIRport = {suite.dir_port}\n  Password = "{password or suite.dir_password}"\n}}\n')
    if console is not None:
        text += (f'Console {{\n  Name = {console}\n'
                 f'  Password = "{password or suite.consoles[console].password}"\n'
                 f'  Director = {suite.director_name}\n}}\n')
    path = suite.etc / f"bacula-bconsole-{console or 'default'}-{'wrong' if password else 'ok'}.conf"
    path.write_text(text)
    return path


def bacula_bconsole(suite, commands, console=None, password=None):
    return subprocess.run([str(BACULA_BCONSOLE), "-c", str(bacula_config(suite, console, password))],
                          input="".join(f"{line}\n" for line in commands), text=True,
                          capture_output=True, timeout=120)


def backup_through(suite, console=None):
    """status, a backup queued with ``run ... yes``, waited for, its messages, the job list."""
    result = bacula_bconsole(suite, ["whoami", "status director", "run job=backup level=Full yes"],
                             console)
    assert result.returncode == 0, result.stderr
    queued = re.search(r"Job queued\. JobId=(\d+)", result.stdout)
    assert queued, result.stdout
    jobid = queued.group(1)
    finished = bacula_bconsole(suite, [f"wait jobid={jobid}", "messages", "list jobs"], console)
    assert finished.returncode == 0, finished.stderr
    return result.stdout, jobid, finished.stdout


@pytest.mark.parametrize("console, identity", [(None, "root"), ("operator", "operator")],
                         ids=["default-console", "named-console"])
def test_bacula_console_logs_in_backs_up_and_reads_messages(daemons, console, identity):
    first, jobid, then = backup_through(daemons, console)
    assert f"1000 OK: {daemons.director_name} Version: " in first
    assert f"whoami\n{identity}\n" in first
    assert f"{daemons.director_name} Version: " in first.split("status director\n", 1)[1]
    assert "Running Jobs:" in first and "Terminated Jobs" in first
    assert f"JobId={jobid}" in then and "JobStatus=OK (T)" in then
    assert re.search(r"Termination: +Backup OK", then), then
    job_row = re.search(rf"^\| +{jobid} \| backup +\|.*\| T +\|$", then, re.MULTILINE)
    assert job_row, then


@pytest.mark.slow           # Bacula's bconsole itself waits 5 s after a refused login
def test_a_wrong_password_is_refused(daemons):
    result = bacula_bconsole(daemons, ["status director"], "operator", password="not-the-password")
    assert "1000 OK" not in result.stdout
    assert "Running Jobs:" not in result.stdout
    assert "authorization problem" in (result.stdout + result.stderr).lower(), result
