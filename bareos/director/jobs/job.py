"""One job's runtime state, from creation to its end-of-job report.

A job is a small state machine over Bareos' job status letters (``bareos.protocol.jobstatus``):
it is *created* (C); it may *wait* (for a free slot under a Maximum Concurrent Jobs limit:
d, j, c, s; for the file daemon: F; for the storage daemon: S); it *runs* (R), and may wait
again while running; it *ends* once, OK (T), OK with warnings (W), in error (E, e, f) or
canceled (A).  A cancel or a failure may end it from any phase but the last.

Every change goes through ``_enter``, which refuses an illegal one (a programming error:
``IllegalTransition``) and takes its times from the job's clock (the director's reactor;
``task.Clock`` in tests), never from ``time.time()``.
"""

import dataclasses
import enum
import time
from typing import Optional

from twisted.internet import defer
from twisted.logger import Logger

from bareos.protocol.jobstatus import FAILED, FINAL, WAITING, JobStatus, prevailing

log = Logger(namespace="bareos.director.jobs")

LEVEL_NAMES = {"F": "Full", "I": "Incremental", "D": "Differential", " ": "",
               "V": "InitCatalog", "C": "Catalog", "O": "VolumeToCatalog", "d": "DiskToCatalog",
               "A": "Data"}
LEVEL_CODES = {"full": "F", "incremental": "I", "differential": "D"}
#: Verify jobs' levels (Bareos' level codes).
VERIFY_LEVEL_CODES = {"initcatalog": "V", "catalog": "C", "volumetocatalog": "O",
                      "disktocatalog": "d", "data": "A"}
TYPE_NAMES = {"B": "Backup", "R": "Restore", "c": "Copy", "g": "Migrate", "C": "Copy",
              "M": "Migrated", "V": "Verify"}


class JobCanceled(Exception):
    pass


class JobFailed(Exception):
    """The job cannot go on; the message says why (it goes into the job log)."""


class IllegalTransition(RuntimeError):
    """A job was told to change its status in a way its life cycle does not allow."""


class Phase(enum.Enum):
    CREATED = "created"
    WAITING = "waiting"
    RUNNING = "running"
    ENDED = "ended"


def phase_of(status):
    if status is JobStatus.CREATED:
        return Phase.CREATED
    if status in WAITING:
        return Phase.WAITING
    if status is JobStatus.RUNNING:
        return Phase.RUNNING
    if status in FINAL:
        return Phase.ENDED
    raise IllegalTransition(f"a director job never has the status {status!r}")


# Which phase may follow which; waiting -> waiting is a change of what the job waits for.
NEXT_PHASES = {
    Phase.CREATED: {Phase.WAITING, Phase.RUNNING, Phase.ENDED},
    Phase.WAITING: {Phase.WAITING, Phase.RUNNING, Phase.ENDED},
    Phase.RUNNING: {Phase.WAITING, Phase.ENDED},
    Phase.ENDED: set(),
}


@dataclasses.dataclass(eq=False)
class Job:
    """A job from ``run`` (or the scheduler) to its report."""

    resource: object                         # the Job resource
    type: str                                # 'B', 'R', 'c'/'g' (copy/migrate), 'C' (a copy)
    level: str                               # 'F', 'I', 'D' (' ' for restores)
    client: object
    fileset: object
    pool: object
    storage: object
    messages: object
    clock: object                            # IReactorTime: the director's reactor
    jobid: int = 0
    job: str = ""                            # the unique name, e.g. backup.2026-11-26_05.00.00_03
    priority: int = 10
    sched_time: Optional[float] = None       # when created, unless given
    start_time: Optional[float] = None       # when it first ran
    end_time: Optional[float] = None
    # counters, as reported by the file and storage daemons
    fd_files: int = 0
    fd_bytes: int = 0
    read_bytes: int = 0
    fd_errors: int = 0
    fd_status: Optional[JobStatus] = None    # as the daemons reported it; None: no report
    sd_files: int = 0
    sd_bytes: int = 0
    sd_errors: int = 0
    sd_status: Optional[JobStatus] = None
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
    _status: JobStatus = dataclasses.field(default=JobStatus.CREATED, init=False)
    _pending: Optional[defer.Deferred] = dataclasses.field(default=None, init=False)
    _announced: bool = dataclasses.field(default=False, init=False)   # announce_end() ran
    _waiters: list = dataclasses.field(default_factory=list, init=False)

    def __post_init__(self):
        if self.sched_time is None:
            self.sched_time = self.clock.seconds()

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
    def status(self):
        return self._status

    @property
    def phase(self):
        return phase_of(self._status)

    @property
    def is_final(self):
        return self.phase is Phase.ENDED

    # -- the life cycle ----------------------------------------------------------

    def _enter(self, status):
        phase = phase_of(status)
        if phase not in NEXT_PHASES[self.phase]:
            error = IllegalTransition(
                f"JobId {self.jobid} ({self.job or self.name}) cannot go from "
                f"{self._status.text} ({self._status}) to {status.text} ({status})")
            log.error("{error}", error=error)
            raise error
        self._status = status
        if phase is Phase.RUNNING and self.start_time is None:
            self.start_time = self.clock.seconds()
        elif phase is Phase.ENDED:
            self.end_time = self.clock.seconds()

    def queue(self, reason):
        """Waiting for a slot; ``reason`` is the wait status naming the limit that holds it."""
        self._enter(reason)

    def run(self):
        self._enter(JobStatus.RUNNING)

    async def wait(self, status, pending):
        """Wait in ``status`` (WAIT_FD, WAIT_SD...) for the Deferred ``pending``; its result.

        A cancel meanwhile stops the wait at once (``JobCanceled``), whatever ``pending``
        was doing (dialling, waiting for a client-initiated connection).  Afterwards the
        job runs again.
        """
        self._enter(status)
        self._pending = pending
        try:
            return await pending
        except Exception:
            if self.cancel_requested:
                raise JobCanceled() from None
            raise
        finally:
            self._pending = None
            if not self.is_final:
                self.run()

    def cancel(self):
        """Ask the job to stop; a wait in progress ends now.  The end comes through ``end``."""
        self.cancel_requested = True
        if self._pending is not None:
            self._pending.cancel()

    def end(self, outcome):
        """End the job with ``outcome`` (see ``daemons_outcome``); its final status.

        A canceled job ends canceled unless its outcome weighs more (Bareos' rule: the
        cancel was set first, ``prevailing`` keeps it).
        """
        if self.cancel_requested:
            outcome = prevailing(JobStatus.CANCELED, outcome)
        self._enter(outcome)
        return outcome

    # -- waiting for the end -----------------------------------------------------

    def finished(self):
        """A new Deferred that fires with the job once it has ended and been reported."""
        if self._announced:
            return defer.succeed(self)
        waiter = defer.Deferred()
        self._waiters.append(waiter)
        return waiter

    def announce_end(self):
        self._announced = True
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            waiter.callback(self)

    def check_canceled(self):
        if self.cancel_requested:
            raise JobCanceled()

    def elapsed(self):
        if self.start_time is None:
            return 0
        end = self.end_time if self.end_time is not None else self.clock.seconds()
        return max(0, end - self.start_time)

    def summary(self):
        """A row for ``status director`` and ``list jobs``-like output."""
        return {
            "jobid": self.jobid, "name": self.job, "type": self.type, "level": self.level,
            "jobfiles": self.fd_files, "jobbytes": self.fd_bytes, "status": self.status,
            "client": self.client.name if self.client else "",
            "finished": time.strftime("%d-%b-%y %H:%M", time.localtime(self.end_time))
            if self.end_time else "",
        }


#: How many unique job names a second has (the two digits of the sequence).
NAMES_PER_SECOND = 100


def unique_job_name(name, sequence, when=None):
    """``<name>.<YYYY-MM-DD_HH.MM.SS>_<NN>``: unique per director, as in Bareos."""
    stamp = time.strftime("%Y-%m-%d_%H.%M.%S", time.localtime(when))
    return f"{name}.{stamp}_{sequence % NAMES_PER_SECOND:02d}"


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
        JobStatus.TERMINATED: f"{kind} OK", JobStatus.WARNINGS: f"{kind} OK -- with warnings",
        JobStatus.CANCELED: f"{kind} Canceled", JobStatus.DIFFERENCES: f"{kind} Differences",
    }.get(job.status, f"*** {kind} Error ***" if job.status in FAILED
          else f"*** {kind} status {job.status} ***")


def end_of_job_report(job, director_name):
    """The block of lines Bareos administrators read at the end of every job."""
    elapsed = job.elapsed()
    rate = (job.fd_bytes / elapsed / 1000) if elapsed > 0 else 0.0
    rows = [
        ("JobId", job.jobid),
        ("Job", job.job),
    ]
    if job.type in ("c", "g"):
        return _copy_report(job, director_name, rows)
    if job.type == "B":
        rows += [("Backup Level", job.level_name + (f", since={_clock(job.since)}" if job.since else ""))]
    elif job.type == "V":
        return _verify_report(job, director_name, rows)
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
        ("FD termination status", job.fd_status.text if job.fd_status else "Error"),
        ("SD termination status", job.sd_status.text if job.sd_status else "Error"),
        ("Bareos binary info", "bareos-twisted"),
        ("Job triggered by", job.options.get("triggered_by", "User")),
        ("Termination", termination_text(job)),
    ]
    return _report_text(job, director_name, rows)


def _report_text(job, director_name, rows):
    body = "\n".join(f"  {label + ':':<24}{value}" for label, value in rows)
    return f"{director_name} {job.type_name} {job.level_name}\n{body}\n"


def _verify_report(job, director_name, rows):
    rows += [
        ("Verify Level", job.level_name),
        ("Client", f'"{job.client.name}" {job.client_uname}'.rstrip()),
        ("FileSet", f'"{job.fileset.name}"' if job.fileset else ""),
        ("Verify JobId", job.options.get("verify_jobid", "")),
        ("Start time", _clock(job.start_time)),
        ("End time", _clock(job.end_time)),
        ("Files Examined", thousands(job.fd_files)),
        ("Non-fatal FD errors", job.fd_errors),
        ("FD termination status", job.fd_status.text if job.fd_status else "Error"),
    ]
    if job.level in ("O", "A"):                 # only these read volumes
        rows.append(("SD termination status", job.sd_status.text if job.sd_status else "Error"))
    rows.append(("Termination", termination_text(job)))
    return _report_text(job, director_name, rows)


def _copy_report(job, director_name, rows):
    """A Copy or Migrate job's report: what it read, where it wrote, what it moved."""
    options, elapsed = job.options, job.elapsed()
    rate = (job.sd_bytes / elapsed / 1000) if elapsed > 0 else 0.0
    if "prior_jobid" not in options:        # the control job: it only selected
        rows += [("Read Pool", f'"{job.pool.name}"' if job.pool else ""),
                 ("Start time", _clock(job.start_time)), ("End time", _clock(job.end_time)),
                 ("Job triggered by", options.get("triggered_by", "User")),
                 ("Termination", termination_text(job))]
        return _report_text(job, director_name, rows)
    rows += [
        ("Prev Backup JobId", options.get("prior_jobid", "")),
        ("Prev Backup Job", options.get("prior_job", "")),
        ("New Backup JobId", options.get("new_jobid", "")),
        ("Read Pool", f'"{job.pool.name}"' if job.pool else ""),
        ("Read Storage", f'"{options.get("read_storage", "")}"'),
        ("Write Pool", f'"{options.get("write_pool", "")}"'),
        ("Write Storage", f'"{options.get("write_storage", "")}"'),
        ("Start time", _clock(job.start_time)),
        ("End time", _clock(job.end_time)),
        ("Elapsed time", _elapsed_text(elapsed)),
        ("Priority", job.priority),
        ("SD Files Written", thousands(options.get("written_files", 0))),
        ("SD Bytes Written", f"{thousands(options.get('written_bytes', 0))} "
                             f"({human_bytes(options.get('written_bytes', 0))})"),
        ("Rate", f"{rate:.1f} KB/s"),
        ("Volume name(s)", "|".join(options.get("written_volumes", []))),
        ("SD Errors", job.sd_errors),
        ("SD termination status", job.sd_status.text if job.sd_status else ""),
        ("Bareos binary info", "bareos-twisted"),
        ("Job triggered by", options.get("triggered_by", "User")),
        ("Termination", termination_text(job)),
    ]
    return _report_text(job, director_name, rows)


def _compression_text(job, compression):
    if not compression or not job.read_bytes or job.read_bytes == job.fd_bytes:
        return "None"
    ratio = 100.0 * (1 - job.fd_bytes / job.read_bytes)
    return f"{ratio:.1f} % ({compression})"
