"""What a daemon's ``status`` text says, for the monitor: pure functions of text.

The monitor reads the same text an operator reads (a tray monitor's console ACL allows
``status`` and nothing else, so there is no structured API to ask).  The patterns
accept both this suite's daemons and Bareos' own, whose layouts agree on what matters:

* director: the ``Running Jobs:`` table (rows start with the JobId; the unique Job name
  follows the level, files and bytes columns) and the ``Terminated Jobs:`` table (JobId,
  ..., status, finish time ``dd-Mon-yy HH:MM``, name);
* file daemon: ``JobId <n> Job <unique name> is running.``;
* storage daemon: ``... job <unique name> JobId=<n> ...`` in its running section.
"""

import dataclasses
import re
import time
from typing import Optional

from bareos.protocol.jobstatus import JobStatus

DIRECTOR, CLIENT, STORAGE = "director", "client", "storage"


@dataclasses.dataclass(frozen=True)
class Job:
    jobid: int
    name: str                   # the unique Job name (backup.2026-12-03_08.50.00_04)


_FD_RUNNING = re.compile(r"^JobId (\d+) Job (\S+)\s+is running", re.M)
_SD_RUNNING = re.compile(r"\bjob (\S+) JobId=(\d+)", re.I)
# " 12  Back Full  3  4,096  backup.2026-12-03_08.50.00_04  is running": JobId, three or four
# columns, then the unique name (it contains the date, so it is told from the others)
_DIR_RUNNING = re.compile(r"^\s*(\d+)\s+(?:\S+\s+){2,5}?(\S+\.\d{4}-\d\d-\d\d_\S+)", re.M)
_DIR_TERMINATED = re.compile(
    r"^\s*(\d+)\s+.*?\s(?P<status>[A-Za-z]+(?: -- with warnings)?)\s+"
    r"(?P<finished>\d\d-[A-Z][a-z]{2}-\d\d \d\d:\d\d)\s+(?P<name>\S+)\s*$", re.M)

#: The status word of a terminated job that failed (Bareos' daemons and ours print "Error"
#: for an error or a fatal error)
FAILED_WORDS = frozenset({JobStatus.FATAL.ending.lower(), JobStatus.ERROR_TERMINATED.ending.lower()})


def section(text: str, title: str) -> str:
    """The lines after the line ``title`` up to the next line ``====`` (or the end); the
    longer rules under table headings belong to the section."""
    lines = text.splitlines()
    try:
        start = next(i for i, line in enumerate(lines) if line.strip() == title)
    except StopIteration:
        return ""
    body = []
    for line in lines[start + 1:]:
        if line.strip() == "====":
            break
        body.append(line)
    return "\n".join(body)


def running_jobs(kind: str, text: str) -> tuple[Job, ...]:
    """The jobs a daemon of ``kind`` says are running, in the order listed."""
    running = section(text, "Running Jobs:")
    if kind == CLIENT:
        jobs = [Job(int(jobid), name) for jobid, name in _FD_RUNNING.findall(running)]
    elif kind == STORAGE:
        jobs = [Job(int(jobid), name) for name, jobid in _SD_RUNNING.findall(running)]
    else:
        jobs = [Job(int(jobid), name) for jobid, name in _DIR_RUNNING.findall(running)]
    return tuple(dict.fromkeys(jobs))


def failed_jobs(text: str, now: float, window: float = 24 * 3600) -> tuple[Job, ...]:
    """Jobs of a director's ``Terminated Jobs:`` table that failed less than ``window``
    seconds before ``now`` (the table's times are local time, to the minute)."""
    jobs = []
    for match in _DIR_TERMINATED.finditer(section(text, "Terminated Jobs:")):
        if match["status"].lower() not in FAILED_WORDS:
            continue
        finished = _local_time(match["finished"])
        if finished is not None and now - window <= finished + 60:
            jobs.append(Job(int(match[1]), match["name"]))
    return tuple(jobs)


def _local_time(text: str) -> Optional[float]:
    try:
        return time.mktime(time.strptime(text, "%d-%b-%y %H:%M"))
    except ValueError:
        return None


def refusal(text: str) -> Optional[str]:
    """Why a daemon refused to give its status, or None if ``text`` is a status.

    A file or storage daemon without ``Monitor = yes`` knowledge refuses nothing, but one
    that refuses the monitor answers ``2997``/``3997``; a director whose Console ACL lacks
    ``status`` calls it an invalid command."""
    first = text.lstrip().split("\n", 1)[0]
    if re.match(r"[23]99\d ", first) or first.endswith("is an invalid command."):
        return first.strip()
    return None
