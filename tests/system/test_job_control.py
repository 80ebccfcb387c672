"""Running jobs side by side, within their limits, and restoring single files and directories."""

import re
from datetime import datetime

from backup_helpers import run_job
from bareos.testing.trees import snapshot

SPARSE_SIZE = 2 << 30          # read and hashed in full: the job takes a few seconds


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


def queue(suite, command):
    output = suite.console(command + "\n")
    return int(output.split("Job queued. JobId=")[1].split()[0])


def with_limit(text, limit):
    """A resource's text with ``Maximum Concurrent Jobs = limit`` added."""
    return text.rstrip().rstrip("}") + f"  Maximum Concurrent Jobs = {limit}\n}}\n"


def start(suite, source, job_limit):
    """Director, client, storage and device allow two jobs; the Job allows ``job_limit``."""
    sd = suite.sd_resources()
    sd["device/FileStorage.conf"] = with_limit(sd["device/FileStorage.conf"], 2)
    suite.start("sd", extra_resources={"device/FileStorage.conf": sd["device/FileStorage.conf"]})
    suite.start_fd()
    director = suite.director_resources()
    resources = suite.backup_resources(source)
    resources["job/backup.conf"] = with_limit(resources["job/backup.conf"], job_limit)
    for name in (f"client/{suite.client_name}.conf", f"storage/{suite.storage_name}.conf"):
        resources[name] = with_limit(director[name], 2)
    suite.start_director(director_extra=["Maximum Concurrent Jobs = 5"],
                         extra_resources=resources)


def test_two_jobs_run_at_once_when_the_limits_allow(suite, tmp_path):
    source = tree(tmp_path / "source")
    with open(source / "sparse.bin", "wb") as stream:
        stream.truncate(SPARSE_SIZE)
    start(suite, source, job_limit=2)
    first = queue(suite, "run job=backup level=Full yes")
    second = queue(suite, "run job=backup level=Full yes")
    output = suite.console(f"wait jobid={first}\nwait jobid={second}\n")
    assert output.count("JobStatus=OK (T)") == 2, output
    first_start, first_end = job_times(suite, first)
    second_start, second_end = job_times(suite, second)
    assert second_start < first_end and first_start < second_end     # they overlapped


def test_a_job_limit_of_one_makes_the_second_job_wait(suite, tmp_path):
    source = tree(tmp_path / "source")
    with open(source / "sparse.bin", "wb") as stream:
        stream.truncate(SPARSE_SIZE)
    start(suite, source, job_limit=1)
    first = queue(suite, "run job=backup level=Full yes")
    second = queue(suite, "run job=backup level=Full yes")
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
