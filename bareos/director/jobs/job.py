"""One job's runtime state, from creation to its end-of-job report."""

import dataclasses
import time
from typing import Optional

from twisted.internet import defer

LEVEL_NAMES = {"F": "Full", "I": "Incremental", "D": "Differential", " ": ""}
LEVEL_CODES = {"full": "F", "incremental": "I", "differential": "D"}
TYPE_NAMES = {"B": "Backup", "R": "Restore"}
STATUS_TEXT = {
    "C": "Created", "R": "Running", "T": "OK", "W": "OK -- with warnings", "E": "Error",
    "e": "Non-fatal error", "f": "Fatal error", "A": "Canceled",
}
FINAL_STATUSES = ("T", "W", "E", "e", "f", "A")


class JobCanceled(Exception):
    pass


class JobFailed(Exception):
    """The job cannot go on; the message says why (it goes into the job log)."""


@dataclasses.dataclass(eq=False)
class Job:
    """A job from ``run`` (or the scheduler) to its report."""

    resource: object                         # the Job resource
    type: str                                # 'B' or 'R'
    level: str                               # 'F', 'I', 'D' (' ' for restores)
    client: object
    fileset: object
    pool: object
    storage: object
    messages: object
    jobid: int = 0
    job: str = ""                            # the unique name, e.g. backup.2026-11-26_05.00.00_03
    priority: int = 10
    status: str = "C"
    sched_time: float = dataclasses.field(default_factory=time.time)
    start_time: Optional[float] = None
    end_time: Optional[float] = None
    # counters, as reported by the file and storage daemons
    fd_files: int = 0
    fd_bytes: int = 0
    read_bytes: int = 0
    fd_errors: int = 0
    fd_status: str = ""
    sd_files: int = 0
    sd_bytes: int = 0
    sd_errors: int = 0
    sd_status: str = ""
    vol_session_id: int = 0
    vol_session_time: int = 0
    volumes: list = dataclasses.field(default_factory=list)
    since: Optional[float] = None            # Incremental / Differential
    prev_job: Optional[str] = None
    client_uname: str = ""
    log: list = dataclasses.field(default_factory=list)
    options: dict = dataclasses.field(default_factory=dict)   # restore: where, replace, selection...
    cancel_requested: bool = False
    links: list = dataclasses.field(default_factory=list)     # open DaemonLinks, closed on cancel
    _waiters: list = dataclasses.field(default_factory=list)

    @property
    def name(self):
        return self.resource.name

    @property
    def level_name(self):
        return LEVEL_NAMES.get(self.level, self.level)

    @property
    def type_name(self):
        return TYPE_NAMES.get(self.type, self.type)

    @property
    def is_final(self):
        return self.status in FINAL_STATUSES

    def finished(self):
        """A new Deferred that fires with the job once it has ended."""
        if self.is_final and not self._waiters and self.end_time is not None:
            return defer.succeed(self)
        waiter = defer.Deferred()
        self._waiters.append(waiter)
        return waiter

    def announce_end(self):
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            waiter.callback(self)

    def check_canceled(self):
        if self.cancel_requested:
            raise JobCanceled()

    def elapsed(self):
        if self.start_time is None:
            return 0
        return max(0, (self.end_time or time.time()) - self.start_time)

    def summary(self):
        """A row for ``status director`` and ``list jobs``-like output."""
        return {
            "jobid": self.jobid, "name": self.job, "type": self.type, "level": self.level,
            "jobfiles": self.fd_files, "jobbytes": self.fd_bytes, "status": self.status,
            "client": self.client.name if self.client else "",
            "finished": time.strftime("%d-%b-%y %H:%M", time.localtime(self.end_time))
            if self.end_time else "",
        }


def unique_job_name(name, sequence, when=None):
    """``<name>.<YYYY-MM-DD_HH.MM.SS>_<NN>``: unique per director, as in Bareos."""
    stamp = time.strftime("%Y-%m-%d_%H.%M.%S", time.localtime(when))
    return f"{name}.{stamp}_{sequence % 100:02d}"


def human_bytes(count):
    value = float(count)
    for unit in ("B", "KB", "MB", "GB", "TB", "PB"):
        if value < 1000 or unit == "PB":
            return f"{value:.1f} {unit}" if unit != "B" else f"{count} B"
        value /= 1000
    return f"{count} B"


def thousands(count):
    return f"{count:,}"


def _clock(timestamp):
    return time.strftime("%d-%b-%Y %H:%M:%S", time.localtime(timestamp)) if timestamp else ""


def _elapsed_text(seconds):
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} sec{'s' if seconds != 1 else ''}"
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return (f"{hours} hour{'s' if hours != 1 else ''} " if hours else "") + \
        f"{minutes} min{'s' if minutes != 1 else ''} {seconds} sec{'s' if seconds != 1 else ''}"


def termination_text(job):
    kind = job.type_name
    return {
        "T": f"{kind} OK", "W": f"{kind} OK -- with warnings", "A": f"{kind} Canceled",
        "E": f"*** {kind} Error ***", "e": f"*** {kind} Error ***",
        "f": f"*** {kind} Error ***",
    }.get(job.status, f"*** {kind} status {job.status} ***")


def end_of_job_report(job, director_name):
    """The block of lines Bareos administrators read at the end of every job."""
    elapsed = job.elapsed()
    rate = (job.fd_bytes / elapsed / 1000) if elapsed > 0 else 0.0
    rows = [
        ("JobId", job.jobid),
        ("Job", job.job),
    ]
    if job.type == "B":
        rows += [("Backup Level", job.level_name + (f", since={_clock(job.since)}" if job.since else ""))]
    else:
        rows += [("Restore Client", job.client.name)]
    rows += [
        ("Client", f'"{job.client.name}" {job.client_uname}'.rstrip()),
        ("FileSet", f'"{job.fileset.name}"' if job.fileset else ""),
        ("Pool", f'"{job.pool.name}"' if job.pool else ""),
        ("Storage", f'"{job.storage.name}"' if job.storage else ""),
        ("Scheduled time", _clock(job.sched_time)),
        ("Start time", _clock(job.start_time)),
        ("End time", _clock(job.end_time)),
        ("Elapsed time", _elapsed_text(elapsed)),
        ("Priority", job.priority),
    ]
    if job.type == "B":
        compression = job.options.get("compression")
        rows += [
            ("FD Files Written", thousands(job.fd_files)),
            ("SD Files Written", thousands(job.sd_files)),
            ("FD Bytes Written", f"{thousands(job.fd_bytes)} ({human_bytes(job.fd_bytes)})"),
            ("SD Bytes Written", f"{thousands(job.sd_bytes)} ({human_bytes(job.sd_bytes)})"),
            ("Rate", f"{rate:.1f} KB/s"),
            ("Software Compression", _compression_text(job, compression)),
            ("Volume name(s)", "|".join(job.volumes)),
            ("Volume Session Id", job.vol_session_id),
            ("Volume Session Time", job.vol_session_time),
            ("Non-fatal FD errors", job.fd_errors),
            ("SD Errors", job.sd_errors),
        ]
    else:
        rows += [
            ("Where", job.options.get("where") or ""),
            ("Replace", job.options.get("replace_name", "Always")),
            ("Files Expected", thousands(job.options.get("expected_files", 0))),
            ("Files Restored", thousands(job.fd_files)),
            ("Bytes Restored", f"{thousands(job.fd_bytes)} ({human_bytes(job.fd_bytes)})"),
            ("Rate", f"{rate:.1f} KB/s"),
            ("FD Errors", job.fd_errors),
        ]
    rows += [
        ("FD termination status", STATUS_TEXT.get(job.fd_status, job.fd_status or "Error")),
        ("SD termination status", STATUS_TEXT.get(job.sd_status, job.sd_status or "Error")),
        ("Bareos binary info", "bareos-twisted"),
        ("Job triggered by", job.options.get("triggered_by", "User")),
        ("Termination", termination_text(job)),
    ]
    body = "\n".join(f"  {label + ':':<24}{value}" for label, value in rows)
    return f"{director_name} {job.type_name} {job.level_name}\n{body}\n"


def _compression_text(job, compression):
    if not compression or not job.read_bytes or job.read_bytes == job.fd_bytes:
        return "None"
    ratio = 100.0 * (1 - job.fd_bytes / job.read_bytes)
    return f"{ratio:.1f} % ({compression})"
