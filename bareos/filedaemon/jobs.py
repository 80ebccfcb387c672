"""The file daemon's jobs: state, the director's job commands parsed, replies formatted.

Pure code (no reactor, no sockets): the conversation that uses it lives in
``bareos.filedaemon.dircommands``, the data channel to the storage daemon (and its
append and read conversations) in
``bareos.filedaemon.datachannel``.  Formats follow Bareos ``filed/dir_cmd.cc``,
``filed/status.cc``, ``lib/message.cc`` and ``lib/attr.cc`` (PROTOCOL.md §5, §7.2).
"""

import dataclasses
import functools
import grp
import os
import platform
import pwd
import re
import stat as stat_mod
import time

import bareos
from bareos.protocol.cram import unbash_spaces
from bareos.protocol.jobstatus import JobStatus, prevailing

# --- job message types (lib/message_severity.h) -----------------------------------------
M_ABORT, M_DEBUG, M_FATAL, M_ERROR, M_WARNING, M_INFO = 1, 2, 3, 4, 5, 6
M_SAVED, M_NOTSAVED, M_SKIPPED, M_MOUNT, M_ERROR_TERM, M_TERM = 7, 8, 9, 10, 11, 12
M_RESTORED, M_SECURITY = 13, 14

_MESSAGE_PREFIX = {M_FATAL: "Fatal error: ", M_ERROR: "Error: ", M_WARNING: "Warning: ",
                   M_SECURITY: "Security violation: "}

# --- job types and levels (as in the status output) --------------------------------------
JT_BACKUP, JT_RESTORE, JT_ESTIMATE, JT_VERIFY = "B", "R", "E", "V"
JOB_TYPE_NAMES = {JT_BACKUP: "Backup", JT_RESTORE: "Restore", JT_ESTIMATE: "Estimate",
                  JT_VERIFY: "Verify", None: "Unknown"}
L_FULL, L_INCREMENTAL, L_DIFFERENTIAL, L_BASE, L_SINCE = "F", "I", "D", "B", "S"
LEVEL_NAMES = {L_FULL: "Full", L_INCREMENTAL: "Incremental", L_DIFFERENTIAL: "Differential",
               L_BASE: "Base", L_SINCE: "Since", None: " "}

BTIME_SAMPLES = 10          # the FD polls the director's clock this often (LevelCmd)
BTIME_DISCARDED = 2         # the first two samples are thrown away

# --- replies to the director (filed/dir_cmd.cc) -----------------------------------------
OK_LEVEL = b"2000 OK level\n"
OK_INCLUDE = b"2000 OK include\n"
OK_BACKUP = b"2000 OK backup\n"
OK_RESTORE = b"2000 OK restore\n"
OK_VERIFY = b"2000 OK verify\n"
OK_STORAGE = b"2000 OK storage\n"
OK_STORAGE_END = b"2000 OK storage end\n"
OK_BOOTSTRAP = b"2000 OK bootstrap\n"
OK_SESSION = b"2000 OK session\n"
OK_AUTHORIZATION = b"2000 OK Authorization\n"
OK_BANDWIDTH = b"2000 OK Bandwidth\n"
OK_PLUGIN_OPTIONS = b"2000 OK PluginOptions\n"
OK_RUNSCRIPT = b"2000 OK RunScript\n"
OK_RUN_BEFORE_NOW = b"2000 OK RunBeforeNow\n"
FAILED_RUNSCRIPT = b"2905 Failed RunScript\n"
OK_OBJECT_RESTORED = b"2000 OK ObjectRestored\n"
OK_SECURE_ERASE = b"2000 OK FDSecureEraseCmd *None*\n"
BAD_JOB = b"2901 Bad Job\n"


def bad_command(name):
    """``2902 Bad <name>`` (BADcmd)."""
    return f"2902 Bad {name}\n".encode()


# --- SD dialogue (filed/dir_cmd.cc, stored/fd_cmds.cc) ------------------------------------
APPEND_OPEN = b"append open session\n"
OK_DATA = b"3000 OK data\n"
OK_APPEND = b"3000 OK append data\n"
OK_END = b"3000 OK end\n"
_OK_OPEN = re.compile(rb"^3000 OK open ticket = (-?\d+)")
_OK_CLOSE = re.compile(rb"^3000 OK close Status = (-?\d+)")


def append_data(ticket):
    return f"append data {ticket}\n".encode()


def append_end(ticket):
    return f"append end session {ticket}\n".encode()


def append_close(ticket):
    return f"append close session {ticket}\n".encode()


def read_open(vol_session_id, vol_session_time, start_file=0, end_file=0, start_block=0,
              end_block=0):
    return (f"read open session = DummyVolume {vol_session_id} {vol_session_time} "
            f"{start_file} {end_file} {start_block} {end_block}\n").encode()


def read_data(ticket):
    return f"read data {ticket}\n".encode()


def read_close(ticket):
    return f"read close session {ticket}\n".encode()


def parse_ticket(reply):
    """The ticket of ``3000 OK open ticket = <n>``, or None."""
    match = _OK_OPEN.match(reply) if isinstance(reply, bytes) else None
    return int(match[1]) if match else None


def parse_close_status(reply):
    """The job status (an int, e.g. 84) of ``3000 OK close Status = <n>``, or None."""
    match = _OK_CLOSE.match(reply) if isinstance(reply, bytes) else None
    return int(match[1]) if match else None


def same_line(reply, expected):
    """An SD reply equals the expected line (trailing NUL/newline variations allowed)."""
    return isinstance(reply, bytes) and reply.rstrip(b"\x00\n") == expected.rstrip(b"\n")


def parse_rechdr(packet):
    """``(vol_session_id, vol_session_time, file_index, stream, data_len)`` or None.

    One per record of a restore, so it is kept cheap: split, not a regular expression."""
    if not isinstance(packet, bytes) or not packet.startswith(b"rechdr "):
        return None
    fields = packet.split(b" ", 6)
    try:
        header = tuple(map(int, fields[1:6]))
    except ValueError:
        return None
    if len(header) != 5 or header[4] < 0:
        return None
    return header


# --- director commands ----------------------------------------------------------------------
class CommandError(ValueError):
    """A director command we cannot parse."""


MAX_NUMBER_DIGITS = 20      # a 64-bit number; longer is garbage (and int() refuses 4,300+)


def _number(digits, command):
    """A decimal field of a director command; CommandError naming the command if too long."""
    if len(digits) > MAX_NUMBER_DIGITS:
        raise CommandError(f"Bad {command} command: a number of {len(digits)} digits")
    return int(digits)


@dataclasses.dataclass(frozen=True)
class JobCommand:
    job_id: int
    job: str
    sd_id: int
    sd_time: int
    authorization: str
    ssl: int = None          # None: an old director (no TLS-first)


_JOB = re.compile(r"^JobId=(\d+) Job=(\S+) SDid=(\d+) SDtime=(\d+) Authorization=(\S+)"
                  r"(?: ssl=(\d+))?\s*$")


def parse_job_command(text):
    match = _JOB.match(text.rstrip("\x00"))
    if not match:
        raise CommandError(f"Bad Job Command: {text.strip()}")
    ssl = _number(match[6], "Job") if match[6] is not None else None
    return JobCommand(_number(match[1], "Job"), unbash_spaces(match[2]), _number(match[3], "Job"),
                      _number(match[4], "Job"),
                      match[5], ssl)


@dataclasses.dataclass(frozen=True)
class LevelCommand:
    level: str                # full base incremental differential since_utime (without accurate_)
    accurate: bool = False
    rerunning: bool = False
    since: int = None         # since_utime only
    mtime_only: bool = False
    prev_job: str = None


_LEVEL = re.compile(r"^level = (\S+)")
_SINCE = re.compile(r"^level = since_utime (\d+) mtime_only=(\d+)(?: prev_job=(\S+))?")


def parse_level_command(text):
    match = _LEVEL.match(text)
    if not match:
        raise CommandError(f"Bad level command: {text.strip()}")
    word = match[1]
    accurate = "accurate" in text
    rerunning = "rerunning" in text
    mtime_only = bool(re.search(r"mtime_only=1", text))
    if word == "since_utime":
        since = _SINCE.match(text)
        if not since:
            raise CommandError(f"Bad level command: {text.strip()}")
        return LevelCommand("since_utime", accurate, rerunning, _number(since[1], "level"),
                            since[2] != "0", since[3])
    for level in ("base", "full", "differential", "incremental"):
        if word == level or (level in ("differential", "incremental") and level in word):
            return LevelCommand(level, accurate, rerunning, mtime_only=mtime_only)
    raise CommandError(f"Unknown backup level: {word}")


LEVEL_LETTERS = {"full": L_FULL, "base": L_BASE, "incremental": L_INCREMENTAL,
                 "differential": L_DIFFERENTIAL, "since_utime": L_SINCE}


def clock_adjustment(samples):
    """Seconds to add to the director's since time, from BTIME samples.

    ``samples``: ``(our_send_time_us, director_time_us, our_receive_time_us)`` for
    each poll in order.  As Bareos: the first two are discarded, the rest give
    ``sent - his - round_trip/2``; the average is truncated to whole seconds.
    """
    used = samples[BTIME_DISCARDED:]
    if not used:
        return 0
    total = 0
    for sent, his, received in used:
        total += sent - his - (received - sent) // 2
    adj_us = int(total / len(used))
    return int(adj_us / 1_000_000)


_BTIME = re.compile(rb"^btime (\d+)")


def parse_btime(packet):
    match = _BTIME.match(packet) if isinstance(packet, bytes) else None
    if not match:
        raise CommandError(f"Bad btime reply: {packet!r}")
    return _number(match[1], "btime")


@dataclasses.dataclass(frozen=True)
class StorageCommand:
    address: str
    port: int
    ssl: int
    authorization: str = None


_STORAGE = re.compile(r"^storage address=(\S+) port=(\d+) ssl=(\d+)(?: Authorization=(\S+))?")


def parse_storage_command(text):
    match = _STORAGE.match(text)
    if not match:
        raise CommandError(f"Bad storage command: {text.strip()}")
    port = int(match[2]) if len(match[2]) <= 5 else 0
    if not 0 < port < 65536:         # the resolver would raise OverflowError in its thread
        raise CommandError(f"Bad storage command: port {match[2][:20]} out of range")
    return StorageCommand(match[1], port, _number(match[3], "storage"), match[4])


@dataclasses.dataclass(frozen=True)
class RestoreCommand:
    replace: str              # a w o n
    prefix_links: bool
    where: str = ""
    regexwhere: str = None


_RESTORE = re.compile(r"^restore replace=(\S) prelinks=(\d+) (where|regexwhere)=(.*)$", re.DOTALL)


def parse_restore_command(text):
    match = _RESTORE.match(text.rstrip("\n\x00"))
    if not match:
        raise CommandError(f"Bad replace command. CMD={text.strip()}")
    value = unbash_spaces(match[4])
    if match[3] == "regexwhere":
        if not value:
            raise CommandError("Bad where regexp. where=")
        return RestoreCommand(match[1], match[2] != "0", "", value)
    if value == "/":
        value = ""
    return RestoreCommand(match[1], match[2] != "0", value)


_BACKUP = re.compile(r"^backup FileIndex=(\d+)")


def parse_backup_command(text):
    match = _BACKUP.match(text)
    if not match or len(match[1]) > MAX_NUMBER_DIGITS:
        return 0                     # leniently, as a missing FileIndex
    return int(match[1])


_ESTIMATE = re.compile(r"^estimate listing=(\d+)")


def parse_estimate_command(text):
    match = _ESTIMATE.match(text)
    if not match:
        raise CommandError(f"Bad estimate command: {text.strip()}")
    return match[1] != "0"


_CANCEL = re.compile(r"^cancel Job=(\S+)")


def parse_cancel_command(text):
    match = _CANCEL.match(text)
    return unbash_spaces(match[1]) if match else None


_RUNSCRIPT = re.compile(r"^Run OnSuccess=(\d+) OnFailure=(\d+) AbortOnError=(\d+) When=(\d+) "
                        r"Command=(.*)$", re.DOTALL)
SCRIPT_AFTER, SCRIPT_BEFORE = 1, 2


@dataclasses.dataclass(frozen=True)
class RunScript:
    on_success: bool
    on_failure: bool
    abort_on_error: bool
    when: int
    command: str

    @property
    def before(self):
        return bool(self.when & SCRIPT_BEFORE)

    @property
    def after(self):
        return bool(self.when & SCRIPT_AFTER)


def parse_runscript_command(text):
    match = _RUNSCRIPT.match(text.rstrip("\n\x00"))
    if not match:
        raise CommandError(f"Bad RunScript command: {text.strip()}")
    return RunScript(match[1] != "0", match[2] != "0", match[3] != "0", _number(match[4], "RunScript"),
                     unbash_spaces(match[5]))


# --- regexwhere (lib/breg.cc): "!search!replace!flags,..." ------------------------------------
class RegexWhere:
    """Rewrites restored names with sed-like expressions, as ``regexwhere=``."""

    def __init__(self, text):
        self.rules = []
        for expr in _split_expressions(text):
            if len(expr) < 3:
                raise CommandError(f"Bad where regexp: {expr!r}")
            sep = expr[0]
            parts = expr[1:].split(sep)
            if len(parts) < 3:
                raise CommandError(f"Bad where regexp: {expr!r}")
            search, replace, flags = parts[0], parts[1], parts[2]
            reflags = re.IGNORECASE if "i" in flags else 0
            try:
                pattern = re.compile(os.fsencode(search), reflags)
            except re.error as exc:
                raise CommandError(f"Bad where regexp {search!r}: {exc}") from None
            replacement = re.sub(r"[$\\](\d)", r"\\g<\1>", replace)
            self.rules.append((pattern, os.fsencode(replacement), 0 if "g" in flags else 1))

    def apply(self, name):
        for pattern, replacement, count in self.rules:
            name = pattern.sub(replacement, name, count=count)
        return name


def _split_expressions(text):
    """Split at commas after the third separator of each expression (``!a!b!flags``)."""
    out, pos = [], 0
    while pos < len(text):
        sep = text[pos]
        seen, end = 0, pos + 1
        while end < len(text) and seen < 2:
            if text[end] == sep and text[end - 1] != "\\":
                seen += 1
            end += 1
        while end < len(text) and text[end] != ",":
            end += 1
        out.append(text[pos:end])
        pos = end + 1
    return out


# --- replies ----------------------------------------------------------------------------------
def short_date(version_date=bareos.VERSION_DATE):
    """``26 November 2026`` -> ``26Nov26`` (Bareos' ShortDate)."""
    try:
        return time.strftime("%d%b%y", time.strptime(version_date, "%d %B %Y"))
    except ValueError:
        return version_date


def os_platform():
    try:
        return platform.freedesktop_os_release().get("ID", "unknown")
    except (OSError, AttributeError):
        return platform.system().lower() or "unknown"


def ok_job_reply(os_info):
    """``2000 OK Job <version> (<date>) <os>,<platform>`` — no newline, as Bareos."""
    return f"2000 OK Job {bareos.VERSION} ({short_date()}) {os_info},{os_platform()}".encode()


def with_commas(n):
    """``1234567`` -> ``1,234,567`` (edit_uint64_with_commas)."""
    return f"{int(n):,}"


def ok_estimate(files, nbytes):
    return f"2000 OK estimate files={with_commas(files)} bytes={with_commas(nbytes)}\n".encode()


def end_job_line(status, files, read_bytes, job_bytes, errors, vss=0, encrypt=0):
    return (f"2800 End Job TermCode={ord(status)} JobFiles={files} ReadBytes={read_bytes} "
            f"JobBytes={job_bytes} Errors={errors} VSS={vss} Encrypt={encrypt}\n").encode()


def jmsg_line(job, msg_type, text, fd_name, job_id, when=None):
    """``Jmsg Job=<Job> type=<t> level=<time> <fd> JobId <id>: [Warning: ]<text>\\n``."""
    if when is None:
        when = int(time.time())
    body = f"{fd_name} JobId {job_id}: {_MESSAGE_PREFIX.get(msg_type, '')}{text}"
    if not body.endswith("\n"):
        body += "\n"
    return f"Jmsg Job={job} type={msg_type} level={int(when)} {body}".encode("utf-8", "surrogateescape")


def classify_file_problem(message):
    """The message type for a per-file problem the walk reports.

    Files that vanished or changed while they were saved and files we may not
    read are warnings (the job still ends ``T``; Errors counts them); read errors
    are errors, as in Bareos.
    """
    lowered = message.lower()
    if "read error" in lowered:
        return M_ERROR
    return M_WARNING


# --- ls -l lines (estimate listing; lib/attr.cc attr_to_ls_output) ------------------------------
@functools.cache
def _name_of(lookup, number):
    """The name ``lookup`` (pwd.getpwuid or grp.getgrgid) gives ``number``, else the number."""
    try:
        return lookup(number)[0]
    except (KeyError, OverflowError):
        return str(number)


def ls_line(fname, st, link=b"", is_symlink=None):
    """``-rw-r--r--   1 root     root             42 2026-11-26 05:39:00  /etc/x``."""
    if isinstance(fname, bytes):
        fname = os.fsdecode(fname)
    mode = stat_mod.filemode(st.st_mode)
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(st.st_ctime))
    line = (f"{mode}  {st.st_nlink:2d} {_name_of(pwd.getpwuid, st.st_uid)[:8]:<8} {_name_of(grp.getgrgid, st.st_gid)[:8]:<8}"
            f"{st.st_size:>12d} {when}  {fname}")
    if is_symlink is None:
        is_symlink = stat_mod.S_ISLNK(st.st_mode)
    if is_symlink and link:
        line += " -> " + (os.fsdecode(link) if isinstance(link, bytes) else link)
    return line + "\n"


# --- the job ------------------------------------------------------------------------------------
class Job:
    """One director session's job on this file daemon (Bareos' JCR, FD part).

    Counters are written by the job's worker thread and read by the reactor
    (plain ints: a slightly stale value in ``status`` is fine).
    """

    def __init__(self, started_at=None):
        self.job_id = 0
        self.job = "*Director*"
        self.sd_id = 0
        self.sd_time = 0
        self.sd_key = None
        self.sd_ssl = 0
        self.multi_restore = False
        self.job_type = None
        self.level = None
        self.accurate = False
        self.since = None
        self.mtime_only = False
        self.prev_job = None
        self.fileset = None
        self.scripts = []
        self.max_bandwidth = 0
        self.status = JobStatus.CREATED      # sent as TermCode=ord(status)
        self.files = 0
        self.read_bytes = 0
        self.job_bytes = 0
        self.stream_bytes = 0       # bytes handed to the SD so far (live, for status)
        self.errors = 0
        self.warnings = 0
        self.examined = 0
        self.last_fname = b""
        self.started_at = time.time() if started_at is None else started_at
        self.ended_at = None
        self.canceled = False
        self.busy = 0               # commands of this job being executed right now
        self.sd_connected = False
        self._cancel_hooks = []

    def set_status(self, status):
        """A failure or a cancel is never overwritten by success (``prevailing``)."""
        self.status = prevailing(self.status, status)

    def on_cancel(self, hook):
        self._cancel_hooks.append(hook)

    def remove_cancel_hook(self, hook):
        if hook in self._cancel_hooks:
            self._cancel_hooks.remove(hook)

    def cancel(self):
        """Mark canceled and stop whatever runs (threads, SD connection)."""
        if self.canceled:
            return
        self.canceled = True
        self.set_status(JobStatus.CANCELED)
        for hook in list(self._cancel_hooks):
            hook()

    @property
    def is_running(self):
        return self.ended_at is None

    def note_message(self, msg_type):
        """Count a job message as Bareos' Jmsg does."""
        if msg_type == M_FATAL:
            self.set_status(JobStatus.FATAL)
            if self.errors == 0:
                self.errors = 1
        elif msg_type == M_ERROR:
            self.errors += 1
        elif msg_type == M_WARNING:
            self.warnings += 1

    def end_job_line(self):
        return end_job_line(self.status, self.files, self.read_bytes, self.job_bytes, self.errors)

    def status_lines(self, now=None, format_datetime=None):
        """The ``status`` lines of a running job (filed/status.cc ListRunningJobsPlain)."""
        now = time.time() if now is None else now
        started = format_datetime(self.started_at) if format_datetime else str(self.started_at)
        seconds = max(1, int(now - self.started_at))
        nbytes = max(self.job_bytes, self.stream_bytes)
        lines = [
            f"JobId {self.job_id} Job {self.job} is running.",
            f"    {LEVEL_NAMES.get(self.level, ' ')} {JOB_TYPE_NAMES.get(self.job_type, 'Unknown')}"
            f" Job started: {started}",
            f"    Files={with_commas(self.files)} Bytes={with_commas(nbytes)} "
            f"Bytes/sec={with_commas(nbytes // seconds)} Errors={self.errors}",
            f"    Bwlimit={with_commas(self.max_bandwidth)}",
            f"    Files Examined={with_commas(self.examined or self.files)}",
        ]
        if self.files > 0 and self.last_fname:
            lines.append(f"    Processing file: {os.fsdecode(self.last_fname)}")
        lines.append("    SDSocket connected." if self.sd_connected else "    SDSocket closed.")
        return lines


TERMINATED_HEADER = [
    " JobId  Level    Files      Bytes   Status   Finished        Name ",
    "=" * 70,
]


def terminated_line(job, format_datetime):
    level = "    " if job.job_type in (JT_RESTORE, None) else LEVEL_NAMES.get(job.level, " ")[:4]
    name = job.job
    for _ in range(3):  # the Job name without its three-part timestamp suffix
        name = name.rpartition(".")[0] or name
    status = job.status.ending
    return (f"{job.job_id:6d}  {level:<6} {with_commas(job.files):>8} "
            f"{with_suffix(job.job_bytes):>10}  {status:<7}  "
            f"{format_datetime(job.ended_at or job.started_at):<8} {name}")


def with_suffix(n):
    """``edit_uint64_with_suffix``: 1.234 M style."""
    n = float(n)
    for suffix in ("", " K", " M", " G", " T", " P", " E"):
        if n < 1000:
            return f"{n:.0f}{suffix}" if suffix == "" else f"{n:.3g}{suffix}"
        n /= 1000
    return f"{n:.3g} Z"
