"""The director's job commands on a file daemon session (PROTOCOL.md §5).

Only the director's command channel lives here; the conversations with the storage
daemon that ``backup`` and ``restore`` start are in ``bareos.filedaemon.datachannel``.

Each handler is a coroutine ``(session, text)``; returning False ends the
session, which then gets ``2800 End Job ...`` (when a JobId was given) and
BNET_TERMINATE, as Bareos' command loop does.  The table order is Bareos'
(``filed/dir_cmd.cc``): the first prefix that matches wins.
"""

import functools
import os
import socket

from twisted.internet import threads
from twisted.logger import Logger

from bareos.daemon.director_session import status_command
from bareos.filedaemon import datachannel, jobs, programs
from bareos.filedaemon.fileset import FileSetError, FileSetSpec, Options
from bareos.filedaemon.jobs import (
    JT_BACKUP, JT_ESTIMATE,
    JT_RESTORE, M_ERROR, M_FATAL, M_INFO, M_WARNING, CommandError,
)
from bareos.filedaemon.messages import jmsg_from_thread, send_jmsg
from bareos.filedaemon.restore import RestoreError, Restorer, RestoreWhereRefused
from bareos.network.tls import job_channel_settings, session_kind
from bareos.protocol.connection import ConnectionClosed, ReceiveTimeout
from bareos.protocol.cram import unbash_spaces
from bareos.protocol.framing import Signal
from bareos.protocol.jobstatus import SUCCESSFUL, JobStatus

log = Logger(namespace="bareos.filedaemon")

DIRECTOR_REPLY_TIMEOUT = 180     # BTIME answers, fileset lines
LISTING_BATCH = 256              # estimate listing lines per reactor call


# --- plumbing ---------------------------------------------------------------------------------
def job_of(session):
    """The Job of a director session (created on first use)."""
    return session.daemon.job_for(session)


async def end_session(session):
    """End the command loop the Bareos way: ``2800 End Job ...`` and TERMINATE, then close."""
    daemon = session.daemon
    job = daemon.job_for(session, create=False)
    if job is not None and job.job_id and job.is_running:
        await run_scripts(session, job, before=False)
        if job.status in (JobStatus.CREATED, JobStatus.RUNNING, JobStatus.BLOCKED):
            job.set_status(JobStatus.TERMINATED)
        datachannel.close_connection(getattr(job, "sd_conn", None))
        job.sd_connected = False
        if session.conn.is_open:
            session.conn.send(job.end_job_line())
        daemon.job_ended(job)
    if session.conn.is_open:
        session.conn.close()


def handler(fn):
    """Wrap a command: errors become a fatal job message; False ends the session."""
    async def run(session, text):
        job = session.daemon.job_for(session)
        job.busy += 1
        try:
            result = await fn(session, text)
        except (ConnectionClosed, ReceiveTimeout) as exc:
            job.set_status(JobStatus.FATAL)
            log.warn("{job}: director connection lost: {reason}", job=job.job, reason=exc)
            result = False
        except Exception as exc:
            log.failure("Command {command!r} failed", command=text[:60])
            send_jmsg(session, job, M_FATAL, f"{text.split(' ')[0]} failed: {exc}\n")
            result = False
        finally:
            job.busy -= 1
        if result is False:
            await end_session(session)
            return False
        return result
    run.__name__ = fn.__name__
    return run


async def _read_until_eod(session, timeout=DIRECTOR_REPLY_TIMEOUT):
    lines = []
    while True:
        packet = await session.conn.receive(timeout)
        if packet == Signal.EOD or packet == Signal.TERMINATE:
            return lines, packet
        if isinstance(packet, bytes):
            lines.append(packet)


# --- commands ---------------------------------------------------------------------------------
@handler
async def accurate_command(session, text):
    """``accurate files=N`` + one packet per file + EOD; no reply (see ``accurate``)."""
    from bareos.filedaemon.accurate import parse_entry
    job = job_of(session)
    job.accurate = True
    listed = {}
    while True:
        packet = await session.conn.receive(DIRECTOR_REPLY_TIMEOUT)
        if packet == Signal.EOD:
            break
        if packet == Signal.TERMINATE:
            return False
        if isinstance(packet, bytes):
            entry = parse_entry(packet)
            if entry is not None:
                listed[entry[0]] = entry[1]
    job.accurate_list = listed
    return True


@handler
async def backup_command(session, text):
    job = job_of(session)
    first_index = jobs.parse_backup_command(text) + 1
    job.job_type = JT_BACKUP
    if job.fileset is None:
        send_jmsg(session, job, M_FATAL, "No fileset was sent before the backup command.\n")
        session.conn.send(jobs.bad_command("backup"))
        return False
    sd = getattr(job, "sd_conn", None)
    if sd is None or not sd.is_open:
        send_jmsg(session, job, M_FATAL, "Cannot contact Storage daemon\n")
        session.conn.send(jobs.bad_command("backup"))
        return False
    job.set_status(JobStatus.BLOCKED)
    session.conn.send(jobs.OK_BACKUP)
    await datachannel.run_backup(session, job, sd, first_index)
    return False


@handler
async def bootstrap_command(session, text):
    """``bootstrap`` + bsr lines + EOD (older directors) -> ``2000 OK bootstrap``."""
    lines, end = await _read_until_eod(session)
    job_of(session).bootstrap = lines
    session.conn.send(jobs.OK_BOOTSTRAP)
    return end != Signal.TERMINATE


@handler
async def cancel_command(session, text):
    name = jobs.parse_cancel_command(text)
    conn = session.conn
    if name is None:
        conn.send(b"2902 Error scanning cancel command.\n")
    else:
        target = session.daemon.running_job(name)
        if target is None:
            conn.send(f"2901 Job {name} not found.\n".encode())
        else:
            log.info("Job {job} canceled by director {director}", job=name, director=session.name)
            target.cancel()
            conn.send(f"2001 Job {name} marked to be canceled.\n".encode())
    conn.send_signal(Signal.EOD)
    return True


@handler
async def endrestore_command(session, text):
    job = job_of(session)
    await finish_restore(session, job)
    return False


async def finish_restore(session, job):
    worker = getattr(job, "restore_worker", None)
    if worker is None:
        return
    job.restore_worker = None
    # after a failure or a cancel the last file may be cut short: it is dropped
    complete = not job.canceled and job.status not in (JobStatus.FATAL, JobStatus.CANCELED)
    try:
        stats = await worker.call(functools.partial(job.restorer.finish, complete),
                                  after_failure=True)
        job.files = stats.files
        job.job_bytes = stats.bytes
    except RestoreError:
        job.set_status(JobStatus.FATAL)  # the Restorer sent its own message (a full disk)
    except Exception as exc:
        send_jmsg(session, job, M_FATAL, f"Restore could not be completed: {exc}\n")
    finally:
        worker.close()
    if job.errors:
        job.set_status(JobStatus.ERROR_TERMINATED)     # unless it failed or was canceled before


@handler
async def estimate_command(session, text):
    job = job_of(session)
    conn = session.conn
    try:
        listing = jobs.parse_estimate_command(text)
    except CommandError as exc:
        send_jmsg(session, job, M_FATAL, f"{exc}\n")
        conn.send(b"2992 Bad estimate command.\n")
        return False
    if job.fileset is None:
        job.fileset = FileSetSpec()
    job.job_type = job.job_type or JT_ESTIMATE
    reactor = session.daemon.reactor
    spec, since = job.fileset, job.since

    def send_lines(lines):
        if conn.is_open:
            for line in lines:
                conn.send(line)

    def estimate():
        from bareos.filedaemon.attributes import FT_LNK, FT_LNKSAVED
        from bareos.filedaemon.walk import walk
        files = nbytes = 0
        pending = []
        for item in walk(spec, since):
            if job.canceled:
                break
            files += 1
            if item.file_type != FT_LNKSAVED and item.has_data:
                nbytes += max(0, item.stat.st_size)
            if listing:
                line = jobs.ls_line(item.fname, item.stat, item.link, item.file_type == FT_LNK)
                pending.append(line.encode("utf-8", "surrogateescape"))
                if len(pending) >= LISTING_BATCH:
                    reactor.callFromThread(send_lines, pending)
                    pending = []
        if pending:
            reactor.callFromThread(send_lines, pending)
        return files, nbytes

    files, nbytes = await threads.deferToThreadPool(reactor, reactor.getThreadPool(), estimate)
    job.examined = files
    conn.send(jobs.ok_estimate(files, nbytes))
    conn.send_signal(Signal.EOD)
    return True


@handler
async def fileset_command(session, text):
    job = job_of(session)
    lines, end = await _read_until_eod(session)
    if end == Signal.TERMINATE:
        return False
    try:
        spec = FileSetSpec.parse(lines)
        await expand_file_lists(session.daemon.reactor, spec)
    except (FileSetError, OSError) as exc:
        send_jmsg(session, job, M_FATAL, f"{exc}\n")
        return False
    job.fileset = spec
    _apply_mtime_only(job)
    session.conn.send(jobs.OK_INCLUDE)
    return True


async def expand_file_lists(reactor, spec):
    """``|command`` (its output lines) and ``<file`` (its lines) in File lists, as the FD does
    (filed/fileset.cc), before the walk starts: the programs run from the reactor, the
    files are read in a thread."""
    for block in spec.includes + spec.excludes:
        expanded = []
        for item in block.files:
            if item.startswith("|"):
                expanded += await _program_file_list(reactor, item[1:])
            elif item.startswith("<"):
                expanded += await threads.deferToThreadPool(reactor, reactor.getThreadPool(),
                                                            _read_file_list, item[1:])
            else:
                expanded.append(item)
        block.files = expanded


async def _program_file_list(reactor, command):
    try:
        result = await programs.run_program(reactor, command)
    except programs.ProgramNotFound as exc:
        raise FileSetError(f"Cannot run program: {command}. ERR={exc}") from None
    if not result.ok:
        raise FileSetError(f"Error running program: {command}. status={result.status}: "
                           f"ERR={result.reason()}")
    return [line for line in result.lines() if line]


def _read_file_list(path):
    with open(path, "rb") as f:
        return [line.rstrip("\r") for line in os.fsdecode(f.read()).splitlines() if line.strip()]


def _apply_mtime_only(job):
    """``mtime_only=1`` of the level command: judge changes by mtime alone."""
    if not job.mtime_only or job.fileset is None:
        return
    for block in job.fileset.includes:
        if not block.options:
            block.options.append(Options())
        for options in block.options:
            options.mtime_only = True


@handler
async def job_command(session, text):
    daemon = session.daemon
    job = job_of(session)
    try:
        command = jobs.parse_job_command(text)
    except CommandError as exc:
        send_jmsg(session, job, M_FATAL, f"{exc}\n")
        session.conn.send(jobs.BAD_JOB)
        return False
    job.job_id = command.job_id
    job.job = command.job
    job.sd_id, job.sd_time = command.sd_id, command.sd_time
    _set_sd_key(job, command.authorization, command.ssl if command.ssl is not None else 0)
    daemon.job_started(job)
    from bareos.daemon.service import os_info
    session.conn.send(jobs.ok_job_reply(os_info()))
    return True


def _set_sd_key(job, key, ssl):
    """SetStorageAuthKeyAndTlsPolicy: a second key means a multi-part restore."""
    if not key:
        return
    if job.sd_key:
        job.multi_restore = True
    job.sd_key = key
    job.sd_ssl = ssl


@handler
async def level_command(session, text):
    job = job_of(session)
    conn = session.conn
    try:
        level = jobs.parse_level_command(text)
    except CommandError as exc:
        send_jmsg(session, job, M_FATAL, f"{exc}\n")
        return False
    job.accurate = job.accurate or level.accurate
    if level.level in ("incremental", "differential"):
        job.level = jobs.LEVEL_LETTERS[level.level]
        job.mtime_only = job.mtime_only or level.mtime_only
        return True  # no reply: since_utime follows
    if level.level != "since_utime":
        job.level = jobs.LEVEL_LETTERS[level.level]
        conn.send(jobs.OK_LEVEL)
        return True
    if job.level is None:
        job.level = jobs.L_SINCE
    job.mtime_only = level.mtime_only
    job.prev_job = level.prev_job
    clock = session.daemon.reactor
    samples = []
    try:
        for _ in range(jobs.BTIME_SAMPLES):
            sent = int(clock.seconds() * 1_000_000)
            conn.send_signal(Signal.BTIME)
            reply = await conn.receive(DIRECTOR_REPLY_TIMEOUT)
            his = jobs.parse_btime(reply)
            samples.append((sent, his, int(clock.seconds() * 1_000_000)))
    except CommandError:
        send_jmsg(session, job, M_FATAL, f"Bad level command: {text.strip()}\n")
        return False
    adjustment = jobs.clock_adjustment(samples)
    if abs(adjustment) > 3:
        kind = M_WARNING if abs(adjustment) > 600 else M_INFO
        send_jmsg(session, job, kind, f"DIR and FD clocks differ by {adjustment} seconds, "
                                      f"FD automatically compensating.\n")
    job.since = level.since + adjustment
    job.clock_adjustment = adjustment
    _apply_mtime_only(job)
    conn.send_signal(Signal.EOD)
    conn.send(jobs.OK_LEVEL)
    return True


@handler
async def pluginoptions_command(session, text):
    job_of(session).plugin_options = unbash_spaces(text[len("pluginoptions "):].strip())
    session.conn.send(jobs.OK_PLUGIN_OPTIONS)
    return True


@handler
async def runbeforenow_command(session, text):
    job = job_of(session)
    ok = await run_scripts(session, job, before=True)
    if not ok:
        session.conn.send(jobs.FAILED_RUNSCRIPT)
        return False
    session.conn.send(jobs.OK_RUN_BEFORE_NOW)
    return True


@handler
async def runscript_command(session, text):
    job = job_of(session)
    try:
        job.scripts.append(jobs.parse_runscript_command(text))
    except CommandError as exc:
        send_jmsg(session, job, M_FATAL, f"{exc}\n")
        session.conn.send(jobs.bad_command("RunScript"))
        return False
    session.conn.send(jobs.OK_RUNSCRIPT)
    return True


async def run_scripts(session, job, before):
    """Run the client scripts of one phase; False when one failed with AbortOnError."""
    reactor = session.daemon.reactor
    label = "ClientBeforeJob" if before else "ClientAfterJob"  # Bareos' labels
    ok = True
    for script in list(job.scripts):
        if before and not script.before:
            continue
        if not before:
            if not script.after:
                continue
            # not failed so far: ended well, or still running (the scripts end the job)
            success = job.status in SUCCESSFUL or job.status in (JobStatus.RUNNING,
                                                                 JobStatus.CREATED)
            if (success and not script.on_success) or (not success and not script.on_failure):
                continue
        job.scripts.remove(script)
        send_jmsg(session, job, M_INFO, f'shell command: run {label} "{script.command}"\n')
        try:
            result = await programs.run_program(reactor, script.command)
        except programs.ProgramNotFound as exc:
            failed = f"Runscript: {label} could not execute. ERR={exc}\n"
        else:
            for line in result.lines():
                send_jmsg(session, job, M_INFO, f"{label}: {line}\n")
            failed = None if result.ok else (f"Runscript: {label} returned non-zero "
                                             f"status={result.status}. ERR={result.reason()}\n")
        if failed is not None:
            if script.abort_on_error:
                send_jmsg(session, job, M_FATAL, failed)
                ok = False
            else:
                send_jmsg(session, job, M_ERROR, failed)
    return ok


@handler
async def restoreobject_command(session, text):
    if text.startswith("restoreobject end"):
        session.conn.send(jobs.OK_OBJECT_RESTORED)
        return True
    # header line, then the object name and the object data (plugins only: ignored)
    await session.conn.receive(DIRECTOR_REPLY_TIMEOUT)
    await session.conn.receive(DIRECTOR_REPLY_TIMEOUT)
    return True


@handler
async def restore_command(session, text):
    daemon = session.daemon
    job = job_of(session)
    try:
        command = jobs.parse_restore_command(text)
        regexwhere = jobs.RegexWhere(command.regexwhere) if command.regexwhere else None
    except CommandError as exc:
        send_jmsg(session, job, M_FATAL, f"{exc}\n")
        return False
    job.job_type = JT_RESTORE
    if getattr(job, "restorer", None) is None:
        def on_message(level, message):
            kind = {"fatal": M_FATAL, "error": M_ERROR, "warning": M_WARNING}.get(level, M_INFO)
            if not message.endswith("\n"):
                message += "\n"
            if kind == M_ERROR:  # the Restorer counts its errors itself
                daemon.reactor.callFromThread(_restore_error, session, job, message)
            else:
                jmsg_from_thread(session, job, kind, message)

        try:
            job.restorer = Restorer(where=command.where or None, replace=command.replace,
                                    on_message=on_message, prefix_links=command.prefix_links)
        except RestoreWhereRefused as exc:  # a relative where, or one with ".."
            send_jmsg(session, job, M_FATAL, f"{exc}\n")
            return False
        if regexwhere is not None:
            _install_regexwhere(job.restorer, regexwhere)
        job.restore_worker = datachannel.RestoreWorker(daemon.reactor, job.restorer,
                                                       daemon.job_threads, lambda: job.canceled)
    session.conn.send(jobs.OK_RESTORE)
    job.set_status(JobStatus.BLOCKED)
    sd = getattr(job, "sd_conn", None)
    if sd is None or not sd.is_open:
        send_jmsg(session, job, M_FATAL, "Improper calling sequence.\n")
    else:
        await datachannel.run_restore_part(session, job, sd)
    if job.errors:
        job.set_status(JobStatus.ERROR_TERMINATED)     # unless it failed or was canceled before
    if job.multi_restore and not job.canceled:
        session.conn.send(jobs.OK_STORAGE_END)
        return True
    await finish_restore(session, job)
    return False


def _restore_error(session, job, message):
    send_jmsg(session, job, M_ERROR, message)


def _install_regexwhere(restorer, regexwhere):
    """Rewrite names with ``regexwhere`` before the Restorer builds its output names."""
    original = restorer.output_name

    def output_name(fname):
        return original(regexwhere.apply(fname))
    restorer.output_name = output_name


@handler
async def resolve_command(session, text):
    host = text[len("resolve "):].strip()
    name = session.daemon.name
    reactor = session.daemon.reactor
    try:
        infos = await threads.deferToThreadPool(reactor, reactor.getThreadPool(),
                                                socket.getaddrinfo, host, None,
                                                0, socket.SOCK_STREAM)
    except OSError:
        session.conn.send(f"{name}: Failed to resolve {host}\n")
    else:
        addresses = []
        for family, _type, _proto, _name, sockaddr in infos:
            kind = "ipv6" if family == socket.AF_INET6 else "ipv4"
            entry = f"[{kind};{sockaddr[0]};0]"
            if entry not in addresses:
                addresses.append(entry)
        session.conn.send(f"{name} resolves {host} to {' '.join(addresses)}\n")
    session.conn.send_signal(Signal.EOD)
    return True


@handler
async def secure_erase_command(session, text):
    session.conn.send(jobs.OK_SECURE_ERASE)
    return True


@handler
async def session_command(session, text):
    session.conn.send(jobs.OK_SESSION)
    return True


@handler
async def setauthorization_command(session, text):
    job = job_of(session)
    parts = text.split("Authorization=", 1)
    key = parts[1].split()[0] if len(parts) == 2 and parts[1].split() else None
    if not key:
        session.conn.send(jobs.bad_command("setauthorization"))
        return False
    _set_sd_key(job, key, job.sd_ssl)
    session.conn.send(jobs.OK_AUTHORIZATION)
    return True


@handler
async def setbandwidth_command(session, text):
    import re
    match = re.match(rf"^setbandwidth=(\d{{1,{jobs.MAX_NUMBER_DIGITS}}}) Job=(\S*)", text)
    if not match:
        session.conn.send(f"2991 Bad setbandwidth command: {text.strip()}\n")
        return False
    limit, name = int(match[1]), match[2]
    if name:
        target = session.daemon.running_job(name)
        if target is None:
            session.conn.send(f"2901 Job {name} not found.\n")
            return True
        target.max_bandwidth = limit
    else:
        session.daemon.max_bandwidth_per_job = limit
    session.conn.send(jobs.OK_BANDWIDTH)
    return True


@handler
async def setdebug_command(session, text):
    import re
    tracefile = os.path.join(str(getattr(session.daemon.resource, "working_directory", "") or "/tmp"),
                             f"{session.daemon.name}.trace")
    number = rf"(-?\d{{1,{jobs.MAX_NUMBER_DIGITS}}})"       # not a 5,000-digit int()
    match = re.match(rf"^setdebug={number} trace={number} hangup={number} timestamp={number}", text)
    if match:
        level, trace, hangup, stamp = (int(x) for x in match.groups())
        session.conn.send(f"2000 OK setdebug={level} trace={trace} hangup={hangup} "
                          f"timestamp={stamp} tracefile={tracefile}\n")
        return True
    match = (re.match(rf"^setdebug={number} trace={number} hangup={number}", text)
             or re.match(rf"^setdebug={number} trace={number}", text))
    if not match:
        session.conn.send(f"2991 Bad setdebug command: {text.strip()}\n")
        return False
    values = [int(x) for x in match.groups()] + [-1]
    session.conn.send(f"2000 OK setdebug={values[0]} trace={values[1]} hangup={values[2]} "
                      f"tracefile={tracefile}\n")
    return True


@handler
async def storage_command(session, text):
    daemon = session.daemon
    job = job_of(session)
    try:
        command = jobs.parse_storage_command(text)
    except CommandError as exc:
        send_jmsg(session, job, M_FATAL, f"{exc}\n")
        session.conn.send(jobs.bad_command("storage"))
        return False
    _set_sd_key(job, command.authorization, command.ssl)
    if not job.sd_key:
        send_jmsg(session, job, M_FATAL, "No authorization key for the storage daemon.\n")
        session.conn.send(jobs.bad_command("storage"))
        return False
    old = getattr(job, "sd_conn", None)
    if old is not None:
        datachannel.close_connection(old)
    timeout = daemon.sd_connect_timeout()
    try:
        sd = await datachannel.connect_storage(
            daemon.reactor, command.address, command.port, job.job, job.sd_key,
            job_channel_settings(command.ssl, daemon.resource),
            daemon.qualified_name, timeout, retry_interval=daemon.sd_retry_interval,
            is_canceled=lambda: job.canceled)
    except datachannel.StorageConnectFailed as exc:
        send_jmsg(session, job, M_FATAL, f"Failed to connect to Storage daemon: "
                                         f"{command.address}:{command.port} ({exc})\n")
        session.conn.send(jobs.bad_command("storage"))
        return False
    datachannel.widen_socket_buffer(sd)
    job.sd_conn = sd
    job.sd_connected = True
    if job.canceled:
        datachannel.close_connection(sd)
        session.conn.send(jobs.bad_command("storage"))
        return False
    if job.job_id:
        cipher = session_kind(sd)
        send_jmsg(session, job, M_INFO, f"Connected Storage daemon at {command.address}:"
                                        f"{command.port}, encryption: {cipher}\n")
    session.conn.send(jobs.OK_STORAGE)
    return True


@handler
async def verify_command(session, text):
    """``verify level=<init|catalog|disk_to_catalog|volume|data>``: report files to the director
    (``bareos.filedaemon.verify``); the session then ends with ``2800 End Job``."""
    from bareos.filedaemon import verify
    from bareos.filedaemon.walk import BackupStats
    daemon = session.daemon
    job = job_of(session)
    job.job_type = jobs.JT_VERIFY
    level = text.partition("level=")[2].strip()
    if level not in verify.DISK_LEVELS + verify.VOLUME_LEVELS:
        send_jmsg(session, job, M_FATAL, f"Unsupported verify level: {level!r}.\n")
        session.conn.send(f"2994 Bad verify command: {text.strip()}\n")
        return False
    if level in verify.DISK_LEVELS and job.fileset is None:
        send_jmsg(session, job, M_FATAL, "No fileset was sent before the verify command.\n")
        session.conn.send(f"2994 Bad verify command: {text.strip()}\n")
        return False
    session.conn.send(jobs.OK_VERIFY)
    job.set_status(JobStatus.RUNNING)

    def on_error(path, message):
        jmsg_from_thread(session, job, jobs.classify_file_problem(message), message + "\n",
                         count=False)

    if level in verify.DISK_LEVELS:
        stats = BackupStats()

        def gather():           # in a thread (the walk reads every file); a cancel stops it
            packets = []
            for packet in verify.disk_reports(job.fileset, on_error, on_error, stats):
                if job.canceled:
                    break
                packets.append(packet)
            return packets
        packets = await threads.deferToThreadPool(daemon.reactor, daemon.reactor.getThreadPool(),
                                                  gather)
        for packet in packets:
            session.conn.send(packet)
        job.files, job.read_bytes = stats.files, stats.read_bytes
        return False
    sd = getattr(job, "sd_conn", None)
    if sd is None or not sd.is_open:
        send_jmsg(session, job, M_FATAL, "Improper calling sequence.\n")
        return False
    report = lambda packet: daemon.reactor.callFromThread(session.conn.send, packet)  # noqa: E731
    job.restorer = verify.VolumeVerifier(
        report if level == "volume" else None,
        lambda message: jmsg_from_thread(session, job, M_ERROR, message + "\n"))
    job.restore_worker = datachannel.RestoreWorker(daemon.reactor, job.restorer,
                                                   daemon.job_threads, lambda: job.canceled)
    await datachannel.run_restore_part(session, job, sd)
    await finish_restore(session, job)
    return False


def command_table():
    """``(prefix, handler)`` in Bareos' order (``filed/dir_cmd.cc`` cmds[])."""
    return [
        ("accurate", accurate_command),
        ("backup", backup_command),
        ("bootstrap", bootstrap_command),
        ("cancel", cancel_command),
        ("endrestore", endrestore_command),
        ("estimate", estimate_command),
        ("fileset", fileset_command),
        ("JobId=", job_command),
        ("level = ", level_command),
        ("pluginoptions", pluginoptions_command),
        ("RunBeforeNow", runbeforenow_command),
        ("Run", runscript_command),
        ("restoreobject", restoreobject_command),
        ("restore ", restore_command),
        ("resolve ", resolve_command),
        ("getSecureEraseCmd", secure_erase_command),
        ("session", session_command),
        ("setauthorization", setauthorization_command),
        ("setbandwidth=", setbandwidth_command),
        ("setdebug=", setdebug_command),
        ("status", status_command),
        (".status", status_command),
        ("storage ", storage_command),
        ("verify", verify_command),
    ]
