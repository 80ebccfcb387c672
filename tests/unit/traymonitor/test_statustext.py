"""Reading running and failed jobs out of the daemons' status texts."""

import time

from bareos.director.console.status import render_text
from bareos.protocol.jobstatus import JobStatus
from bareos.traymonitor.statustext import (
    CLIENT, DIRECTOR, STORAGE, Job, failed_jobs, refusal, running_jobs)

NAME = "backup.2026-12-03_08.50.00_04"

FD_STATUS = f"""bareos-fd Version: 0.1.0 (26 November 2026) linux
Daemon started 03-Dec-26 08:40. Jobs: run=3, running=1, bareos-twisted binary

Running Jobs:
bareos-dir (director) connected at: 03-Dec-26 08:50
JobId 4 Job {NAME} is running.
    Full Backup Job started: 03-Dec-26 08:50
    Files=1 Bytes=65,536 Bytes/sec=65,536 Errors=0
====

Terminated Jobs:
====
"""

SD_STATUS = f"""bareos-sd Version: 0.1.0 (26 November 2026) linux

Running Jobs:
Writing: Full Backup job {NAME} JobId=4 Volume="Full-0001"
    pool="Full" device="FileStorage" (/tmp/storage)
====

Terminated Jobs:
No Terminated Jobs.
====
"""


def director_status(running=(), terminated=()):
    return render_text({
        "header": {"name": "bareos-dir", "version": "0.1.0", "date": "today", "os": "linux",
                   "started": "03-Dec-26 08:40", "jobs_run": 3, "jobs_running": len(running),
                   "db": "sqlite3"},
        "scheduled": [], "running": list(running), "consoles": ["03-Dec-26 08:50"],
        "terminated": list(terminated), "client-connection": []})


def row(jobid, name, status, finished=""):
    return {"jobid": jobid, "name": name, "type": "B", "level": "F", "jobfiles": 12,
            "jobbytes": 4096, "status": status, "client": "bareos-fd", "finished": finished}


def test_running_jobs_of_each_daemon():
    assert running_jobs(CLIENT, FD_STATUS) == (Job(4, NAME),)
    assert running_jobs(STORAGE, SD_STATUS) == (Job(4, NAME),)
    text = director_status(running=[row(4, NAME, JobStatus.RUNNING)])
    assert running_jobs(DIRECTOR, text) == (Job(4, NAME),)


def test_the_director_names_job_states_in_words_as_bareos():
    text = director_status(
        running=[row(4, NAME, JobStatus.RUNNING), row(5, NAME + "5", JobStatus.CREATED)],
        terminated=[row(1, "a", JobStatus.TERMINATED, "03-Dec-26 08:10"),
                    row(2, "b", JobStatus.FATAL, "03-Dec-26 08:11"),
                    row(3, "c", JobStatus.CANCELED, "03-Dec-26 08:12")])
    running = text.split("Running Jobs:")[1].split("Terminated Jobs:")[0]
    assert running.count("is running") == 1 and running.count("is waiting execution") == 1
    finished = [line.split()[4] for line in text.split("Terminated Jobs:")[1].splitlines()
                if line.strip()[:1].isdigit()]
    assert finished == ["OK", "Error", "Cancel"]


def test_idle_daemons_run_nothing():
    idle_fd = FD_STATUS.replace(f"JobId 4 Job {NAME} is running.", "No Jobs running.")
    assert running_jobs(CLIENT, idle_fd) == ()
    assert running_jobs(DIRECTOR, director_status()) == ()
    # a terminated job's name in the director's text is not a running job
    text = director_status(terminated=[row(4, NAME, JobStatus.TERMINATED, "03-Dec-26 08:51")])
    assert running_jobs(DIRECTOR, text) == ()


def test_failed_jobs_of_the_last_24_hours():
    now = time.mktime(time.strptime("03-Dec-26 09:00", "%d-%b-%y %H:%M"))
    text = director_status(terminated=[
        row(1, "backup.2026-12-01_08.00.00_01", JobStatus.ERROR_TERMINATED, "01-Dec-26 08:10"),
        row(2, "backup.2026-12-02_10.00.00_02", JobStatus.FATAL, "02-Dec-26 10:00"),
        row(3, "backup.2026-12-03_08.00.00_03", JobStatus.TERMINATED, "03-Dec-26 08:10"),
        row(4, "backup.2026-12-03_08.30.00_04", JobStatus.CANCELED, "03-Dec-26 08:40"),
        row(5, "backup.2026-12-03_08.40.00_05", JobStatus.ERROR_TERMINATED, "03-Dec-26 08:45"),
    ])
    assert failed_jobs(text, now) == (Job(2, "backup.2026-12-02_10.00.00_02"),
                                      Job(5, "backup.2026-12-03_08.40.00_05"))


def test_bareos_status_words_count_as_failed():
    now = time.mktime(time.strptime("03-Dec-26 09:00", "%d-%b-%y %H:%M"))
    text = ("Terminated Jobs:\n JobId  Level    Files      Bytes   Status   Finished        Name \n"
            "====\n"
            "    7  Full          3    1.2 K  Error    03-Dec-26 08:00 backup-bareos-fd\n"
            "    8  Full          3    1.2 K  OK -- with warnings 03-Dec-26 08:10 backup-bareos-fd\n"
            "====\n")
    text = text.replace("====\n", "=" * 68 + "\n", 1)
    assert failed_jobs(text, now) == (Job(7, "backup-bareos-fd"),)


def test_refusals_are_recognised():
    assert refusal("2997 Invalid command for a Director with Monitor directive enabled.\n")
    assert refusal("3997 Invalid command for a Director with Monitor directive enabled.\n")
    assert refusal("status: is an invalid command.\n")
    assert refusal(FD_STATUS) is None
    assert refusal(director_status()) is None
