"""Job status: the one-letter codes every daemon and the catalog use, and the rules on them.

The letters are wire vocabulary: the file daemon ends a job with ``2800 End Job
TermCode=<ord(letter)>``, the storage daemon sends ``Status Job=... JobStatus=<ord>`` and
``3099 Job ... end JobStatus=<ord>``, and the catalog stores the letter in ``Job.JobStatus``.
The set of letters and their meanings are Bareos' (``include/job_status.h``); the rules
below are Bareos' too, restated: which status wins when a job is given a second one
(``prevailing``), and what the director makes of the two daemons' reports
(``daemons_outcome``).  Pure code: no reactor, no I/O.
"""

import enum
from typing import Optional


class JobStatus(enum.StrEnum):
    """A job status; equal to (and formatted as) its letter, so ``JobStatus.TERMINATED == "T"``."""

    CANCELED = "A"
    BLOCKED = "B"
    CREATED = "C"
    DIFFERENCES = "D"              # a verify job found differences
    ERROR_TERMINATED = "E"
    WAIT_FD = "F"
    INCOMPLETE = "I"
    DATA_COMMITTING = "L"          # the last despooling of data
    WAIT_MOUNT = "M"
    RUNNING = "R"
    WAIT_SD = "S"
    TERMINATED = "T"
    WARNINGS = "W"
    ATTR_DESPOOLING = "a"
    WAIT_CLIENT_RES = "c"
    WAIT_MAX_JOBS = "d"
    ERROR = "e"                    # a non-fatal error
    FATAL = "f"
    ATTR_INSERTING = "i"
    WAIT_JOB_RES = "j"
    DATA_DESPOOLING = "l"
    WAIT_MEDIA = "m"
    WAIT_PRIORITY = "p"
    WAIT_DEVICE = "q"
    WAIT_STORE_RES = "s"
    WAIT_START_TIME = "t"

    @classmethod
    def from_code(cls, code: int) -> "JobStatus":
        """The status a daemon sent as a number (its letter's code); ValueError if unknown."""
        if not 0 < code < 0x80:
            raise ValueError(f"{code} is not a job status code")
        return cls(chr(code))

    @property
    def text(self) -> str:
        """How consoles and end-of-job reports name the status ("OK", "Fatal error"...)."""
        return _TEXT[self]

    @property
    def ending(self) -> str:
        """How a daemon's ``Terminated Jobs:`` table names a job that ended with this status
        (Bareos' words, the same in the three daemons; "Other" for the rest)."""
        return _ENDINGS.get(self, "Other")


_TEXT = {
    JobStatus.CANCELED: "Canceled",
    JobStatus.BLOCKED: "Blocked",
    JobStatus.CREATED: "Created",
    JobStatus.DIFFERENCES: "Verify differences",
    JobStatus.ERROR_TERMINATED: "Error",
    JobStatus.WAIT_FD: "Waiting for FD",
    JobStatus.INCOMPLETE: "Incomplete",
    JobStatus.DATA_COMMITTING: "Committing data",
    JobStatus.WAIT_MOUNT: "Waiting for mount",
    JobStatus.RUNNING: "Running",
    JobStatus.WAIT_SD: "Waiting for SD",
    JobStatus.TERMINATED: "OK",
    JobStatus.WARNINGS: "OK -- with warnings",
    JobStatus.ATTR_DESPOOLING: "SD despooling attributes",
    JobStatus.WAIT_CLIENT_RES: "Waiting for client resource",
    JobStatus.WAIT_MAX_JOBS: "Waiting for maximum jobs",
    JobStatus.ERROR: "Non-fatal error",
    JobStatus.FATAL: "Fatal error",
    JobStatus.ATTR_INSERTING: "Doing batch insert",
    JobStatus.WAIT_JOB_RES: "Waiting for job resource",
    JobStatus.DATA_DESPOOLING: "Doing data despooling",
    JobStatus.WAIT_MEDIA: "Waiting for new media",
    JobStatus.WAIT_PRIORITY: "Waiting for higher priority jobs",
    JobStatus.WAIT_DEVICE: "Waiting for device",
    JobStatus.WAIT_STORE_RES: "Waiting for storage resource",
    JobStatus.WAIT_START_TIME: "Waiting for start time",
}

_ENDINGS = {
    JobStatus.CREATED: "Created",
    JobStatus.ERROR_TERMINATED: "Error", JobStatus.FATAL: "Error",
    JobStatus.DIFFERENCES: "Diffs",
    JobStatus.CANCELED: "Cancel",
    JobStatus.TERMINATED: "OK",
    JobStatus.WARNINGS: "OK -- with warnings",
}

#: A job with one of these has ended well: later jobs build on it (Incremental bases, restores).
SUCCESSFUL = frozenset({JobStatus.TERMINATED, JobStatus.WARNINGS})
#: A job with one of these has ended in an error.
FAILED = frozenset({JobStatus.ERROR_TERMINATED, JobStatus.ERROR, JobStatus.FATAL})
#: A job with one of these has ended, one way or another; nothing changes it any more.
FINAL = SUCCESSFUL | FAILED | frozenset(
    {JobStatus.CANCELED, JobStatus.DIFFERENCES, JobStatus.INCOMPLETE})
#: A job with one of these is stopping: canceled or terminated by an error, its work must end.
STOPPING = frozenset({JobStatus.CANCELED, JobStatus.ERROR_TERMINATED, JobStatus.FATAL})
#: A job with one of these waits (for a daemon, a resource, a slot, media, its start time).
WAITING = frozenset({
    JobStatus.WAIT_FD, JobStatus.WAIT_SD, JobStatus.WAIT_MEDIA, JobStatus.WAIT_MOUNT,
    JobStatus.WAIT_STORE_RES, JobStatus.WAIT_JOB_RES, JobStatus.WAIT_CLIENT_RES,
    JobStatus.WAIT_MAX_JOBS, JobStatus.WAIT_PRIORITY, JobStatus.WAIT_DEVICE,
    JobStatus.WAIT_START_TIME})

# How strongly a status holds against a later one; every status not named here weighs 0.
_WEIGHT = {
    JobStatus.INCOMPLETE: 4,
    JobStatus.ERROR_TERMINATED: 3, JobStatus.FATAL: 3, JobStatus.CANCELED: 3,
    JobStatus.ERROR: 2,
    JobStatus.DIFFERENCES: 1,
}


def weight(status: JobStatus) -> int:
    return _WEIGHT.get(status, 0)


def prevailing(current: Optional[JobStatus], new: JobStatus) -> JobStatus:
    """The status a job has after ``new`` is set on a job with status ``current``.

    Bareos' rule: a heavier status replaces a lighter one; among statuses of weight 0
    (created, running, waiting, OK...) the newer replaces the older; among equally heavy
    ones (an error, then a cancel) the first stays, so the first failure is not lost.
    """
    if current is None:
        return new
    new_weight, current_weight = weight(new), weight(current)
    if new_weight > current_weight or new_weight == current_weight == 0:
        return new
    return current


def daemons_outcome(fd: Optional[JobStatus], sd: Optional[JobStatus],
                    errors: int = 0) -> JobStatus:
    """What the director makes of the file and storage daemons' reports at the end of a job.

    A daemon that sent no report (it vanished, or the job ended before it could) counts
    as ERROR_TERMINATED.  The job is OK only if both said OK, and then OK with warnings
    if ``errors`` (non-fatal errors the daemons reported) is not 0; otherwise the worst
    of the reports that are not OK, by ``prevailing``, the file daemon's first -- except
    that a daemon's cancel wins over an equally heavy failure of the other: a daemon that
    cancels its part (its job was canceled, or it is being stopped) closes the data channel,
    and the other's failure is the consequence, not the cause.
    """
    reports = [status or JobStatus.ERROR_TERMINATED for status in (fd, sd)]
    verdict: Optional[JobStatus] = None
    for status in reports:
        if status != JobStatus.TERMINATED:
            verdict = prevailing(verdict, status)
    if JobStatus.CANCELED in reports and verdict is not None and \
            weight(verdict) == weight(JobStatus.CANCELED):
        return JobStatus.CANCELED
    if verdict is None:
        return JobStatus.WARNINGS if errors else JobStatus.TERMINATED
    return verdict
