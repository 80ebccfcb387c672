"""Running jobs side by side, within their limits, and restoring single files and directories."""

import os
import re
from datetime import datetime

from backup_helpers import OPS_DIRECTOR, job_status, queue, run_job, set_fd_pace
from bareos.testing.quick_console import QuickConsole
from bareos.testing.trees import snapshot
from bareos.testing.waiting import wait_until

# The file daemon backs up at this pace (setbandwidth=, from a second Director resource,
# "ops") until the test has seen the jobs in the state it looks for; then it is lifted.
SLOW_BYTES_PER_SECOND = 100_000


def tree(root):
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "hosts").write_text("127.0.0.1 localhost\n")
    (root / "etc" / "motd").write_text("welcome\n")
    (root / "var" / "log").mkdir(parents=True)
    (root / "var" / "log" / "syslog").write_text("line 1\nline 2\n")
    (root / "var" / "log" / "old").mkdir()
    (root / "var" / "log" / "old" / "syslog.1").write_text("older line\n")
    return root


def job_times(suite, jobid):
    """(start, end) of a job from ``llist jobid=``, as datetimes."""
    listing = suite.console(f"llist jobid={jobid}\n")
    fields = dict(re.findall(r"^\s*(\w+): (.*)$", listing, re.MULTILINE))
    return tuple(datetime.strptime(fields[key], "%Y-%m-%d %H:%M:%S") for key in ("starttime", "endtime"))


def with_limit(text, limit):
    """A resource's text with ``Maximum Concurrent Jobs = limit`` added."""
    return text.rstrip().rstrip("}") + f"  Maximum Concurrent Jobs = {limit}\n}}\n"


def start(suite, source, job_limit):
    """Director, client, storage and device allow two jobs; the Job allows ``job_limit``."""
    sd = suite.sd_resources()
    sd["device/FileStorage.conf"] = with_limit(sd["device/FileStorage.conf"], 2)
    suite.start("sd", extra_resources={"device/FileStorage.conf": sd["device/FileStorage.conf"]})
    suite.start_fd(monitors=[OPS_DIRECTOR])
    director = suite.director_resources()
    resources = suite.backup_resources(source)
    resources["job/backup.conf"] = with_limit(resources["job/backup.conf"], job_limit)
    for name in (f"client/{suite.client_name}.conf", f"storage/{suite.storage_name}.conf"):
        resources[name] = with_limit(director[name], 2)
    suite.start_director(director_extra=["Maximum Concurrent Jobs = 5"],
                         extra_resources=resources)


def running_in_fd(console, suite):
    """``{JobId: Job}`` of the jobs the file daemon lists as running."""
    text = console.command(f"status client={suite.client_name}")
    return dict(re.findall(r"JobId (\d+) Job (\S+) is running", text))


def lift_fd_pace(suite, running):
    set_fd_pace(suite, 0)
    for job in running.values():
        set_fd_pace(suite, 0, job)


def slow_source(tmp_path):
    source = tree(tmp_path / "source")
    (source / "data.bin").write_bytes(os.urandom(1_000_000))    # 10 s at the slow pace
    return source


def test_two_jobs_run_at_once_when_the_limits_allow(suite, tmp_path):
    start(suite, slow_source(tmp_path), job_limit=2)
    set_fd_pace(suite, SLOW_BYTES_PER_SECOND)
    first = queue(suite, "run job=backup level=Full yes")
    second = queue(suite, "run job=backup level=Full yes")
    with QuickConsole(suite.dir_port, suite.dir_password) as console:
        def both_running():
            jobs = running_in_fd(console, suite)
            return jobs if {str(first), str(second)} <= jobs.keys() else None
        running = wait_until(both_running, 30, "both jobs run in the file daemon at once",
                             step=0.2)
    lift_fd_pace(suite, running)
    output = suite.console(f"wait jobid={first}\nwait jobid={second}\n")
    assert output.count("JobStatus=OK (T)") == 2, output


def test_a_job_limit_of_one_makes_the_second_job_wait(suite, tmp_path):
    start(suite, slow_source(tmp_path), job_limit=1)
    set_fd_pace(suite, SLOW_BYTES_PER_SECOND)
    first = queue(suite, "run job=backup level=Full yes")
    second = queue(suite, "run job=backup level=Full yes")
    with QuickConsole(suite.dir_port, suite.dir_password) as console:
        running = wait_until(lambda: running_in_fd(console, suite), 30,
                             "the first job runs in the file daemon", step=0.2)
    assert list(running) == [str(first)]
    assert job_status(suite, second) == "C"               # created, not started: the limit
    lift_fd_pace(suite, running)
    output = suite.console(f"wait jobid={first}\nwait jobid={second}\n")
    assert output.count("JobStatus=OK (T)") == 2, output
    assert job_times(suite, second)[0] >= job_times(suite, first)[1]    # one after the other


def test_restore_of_single_files_and_directories(suite, tmp_path):
    source = tree(tmp_path / "source")
    suite.start_sd()
    suite.start_fd()
    suite.start_director(extra_resources=suite.backup_resources(source))
    full, status, output = run_job(suite, "run job=backup level=Full yes")
    assert status == "T", output
    where = tmp_path / "restored"
    jobid, status, output = run_job(
        suite, f"restore client={suite.client_name} select current "
               f"file={source}/etc/hosts directory={source}/var/log/old done yes where={where}")
    assert status == "T", output
    restored = snapshot(str(where) + str(source))
    files = {path for path, entry in restored.items() if "sha256" in entry}
    assert files == {"etc/hosts", "var/log/old/syslog.1"}
    assert (where / str(source).lstrip("/") / "etc" / "hosts").read_text() == "127.0.0.1 localhost\n"
