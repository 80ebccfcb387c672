"""Director -> SD commands of a job (PROTOCOL.md §7.1) and the device commands.

Each handler is ``coroutine(session, text)``; returning False ends the director
session.  The job announced by ``JobId=`` belongs to its session
(``session.sd_job``) until ``run`` hands the session over to the job.
"""

import os
import socket
import time

from twisted.internet import threads
from twisted.logger import Logger

import bareos
from bareos.protocol.connection import ConnectionClosed, ReceiveTimeout
from bareos.protocol.cram import unbash_spaces
from bareos.protocol.framing import Signal
from bareos.storagedaemon import protocol as P
from bareos.storagedaemon.devices import NoSuchDevice
from bareos.volume import PRE_LABEL, FileVolume, VolumeError, VolumeLabel, btime_now

log = Logger(namespace="bareos.storagedaemon")

COMMAND_TIMEOUT = 300          # waiting for the rest of a multi-packet command
# Waiting for a busy device lasts as long as the job does, as in Bareos; meanwhile the
# director gets a heartbeat this often (it takes silence as a dead storage daemon) and the
# job's log a line this often.
DEVICE_HEARTBEAT = 60
DEVICE_WAIT_NOTICE = 300


def _job(session):
    return getattr(session, "sd_job", None)


async def _lines_until_signal(conn):
    lines = []
    while True:
        packet = await conn.receive(COMMAND_TIMEOUT)
        if not isinstance(packet, bytes):
            if packet == Signal.TERMINATE:
                raise ConnectionClosed("the director terminated the connection")
            return lines
        lines.append(packet)


async def job_command(session, text):
    daemon, conn = session.daemon, session.conn
    try:
        command = P.parse_job_command(text)
    except P.CommandError as exc:
        log.warn("{daemon}: bad job command from {director}: {reason}", daemon=daemon.name,
                 director=session.name, reason=exc)
        conn.send(P.format_bad_job(exc.fields, text))
        conn.close()
        return False
    old = _job(session)
    if old is not None and not old.running:
        daemon.discard_job(old)
    job = daemon.new_job(command, conn)
    session.sd_job = job
    conn.closed.addBoth(lambda reason: (daemon.discard_job(job) if not job.running else None,
                                        reason)[1])
    conn.send(P.format_job_ok(job.session_id, job.session_time, job.session_key))
    return True


async def use_command(session, text):
    daemon, conn = session.daemon, session.conn
    job = _job(session)
    uses = []
    line = text
    try:
        while True:
            use = P.parse_use_storage(line)
            for packet in await _lines_until_signal(conn):
                use.devices.append(P.parse_use_device(packet))
            uses.append(use)
            packet = await conn.receive(COMMAND_TIMEOUT)
            if not isinstance(packet, bytes):
                break
            line = packet.decode("utf-8", "replace")
    except P.CommandError:
        if job is not None:
            job.fatal(f"Failed command: {line.strip()}")
        conn.send(P.format_bad_use(line))
        return False
    except (ConnectionClosed, ReceiveTimeout):
        return False
    if job is None:
        conn.send(P.format_bad_use(text))
        return False
    job.use = uses
    use, device = await _reserve_device(daemon, job, conn, uses)
    if device is None:
        if not conn.closed.called:
            last = uses[-1]
            if not job.canceled:
                job.fatal(f"Device reservation failed for JobId={job.job_id}: no device of "
                          f'Media Type "{uses[0].media_type}" for Storage "{uses[0].storage}" '
                          f"in this storage daemon's configuration.")
            conn.send(P.format_no_device(last.devices[-1] if last.devices else last.storage))
        return False
    job.append = use.append
    job.use = [use] + [u for u in uses if u is not use]
    if job.device is not None:
        daemon.devices.release(job.device)
    job.device = device
    conn.send(P.format_use_ok(device.name))
    return True


async def _reserve_device(daemon, job, conn, uses):
    """(use, device): the first of ``uses`` with a device that has a free slot.  While every
    device is busy it waits, without end, as Bareos does, until a slot frees; (None, None)
    when no device of the uses exists, or the job is canceled or its director leaves."""
    devices, clock = daemon.devices, daemon.devices.clock
    conn.closed.addBoth(lambda reason: (devices.wake(), reason)[1])
    next_heartbeat = clock.seconds() + DEVICE_HEARTBEAT
    next_notice = clock.seconds() + DEVICE_WAIT_NOTICE
    while not (job.canceled or conn.closed.called):
        exists = False
        for use in uses:
            try:
                device = devices.try_reserve(use.media_type, use.devices)
            except NoSuchDevice:
                continue
            exists = True
            if device is not None:
                return use, device
        if not exists:
            break
        now = clock.seconds()
        if now >= next_heartbeat:
            conn.send_signal(Signal.HEARTBEAT)
            next_heartbeat = now + DEVICE_HEARTBEAT
        if now >= next_notice:
            job.info(f"JobId={job.job_id}, Job {job.job} waiting to reserve a device.")
            next_notice = now + DEVICE_WAIT_NOTICE
        await devices.released(next_heartbeat - now)
    return None, None


async def bootstrap_command(session, text):
    conn = session.conn
    job = _job(session)
    try:
        lines = await _lines_until_signal(conn)
    except (ConnectionClosed, ReceiveTimeout):
        return False
    try:
        entries = P.parse_bootstrap(lines)
    except P.BootstrapError as exc:
        log.warn("{daemon}: bad bootstrap: {reason}", daemon=session.daemon.name, reason=exc)
        entries = None
    if job is None or not entries:
        conn.send(P.ERROR_BOOTSTRAP)
        return True
    job.bootstrap = entries
    conn.send(P.OK_BOOTSTRAP)
    return True


async def secure_erase_command(session, text):
    session.conn.send(P.OK_SECURE_ERASE)
    return True


async def run_command(session, text):
    job = _job(session)
    if job is None:
        session.conn.send("3900 Invalid command: run (no job)\n")
        session.conn.close()
        return False
    session.sd_job = None
    if job.serve_peer is not None:          # a copy's reading side: we dialled the writing SD
        await session.daemon.run_job(job, serve=job.serve_peer, peer="Storage daemon")
    else:
        await session.daemon.run_job(job)
    session.conn.close()
    return False


async def cancel_command(session, text):
    daemon, conn = session.daemon, session.conn
    try:
        name = P.parse_cancel(text)
    except P.CommandError:
        conn.send("3903 Error scanning cancel command.\n")
        conn.send_signal(Signal.EOD)
        return True
    job = daemon.find_job(name)
    if job is None:
        conn.send(f"3904 Job {name} not found.\n")
    else:
        log.info("{daemon}: canceling job {job} (asked by {director})", daemon=daemon.name,
                 job=job.job, director=session.name)
        job.cancel()
        conn.send(P.format_canceled(job.job_id, job.job))
    conn.send_signal(Signal.EOD)
    return True


def _find_label_device(daemon, command):
    """The named Device; without one (``storage=`` form) the first Device of the media type."""
    devices = daemon.devices
    if command.device:
        return devices.get(command.device)
    candidates = devices.with_media_type(command.media_type)
    return candidates[0] if candidates else None


def _new_label(device, command, sd_name):
    now = btime_now()
    return VolumeLabel(
        volume_name=command.volume, pool_name=command.pool, pool_type="Backup",
        media_type=command.media_type or device.media_type, host_name=socket.gethostname()[:127],
        label_prog=sd_name[:49], prog_version=f"Ver. {bareos.VERSION} {bareos.VERSION_DATE}"[:49],
        prog_date=time.strftime("Build %b %d %Y %H:%M:%S")[:49], label_btime=now, write_btime=now)


def label_volume(device, command, sd_name):
    """Create ``<Archive Device>/<volume>`` holding only a (pre-)label; its size in bytes."""
    path = os.path.join(device.archive_device, command.volume)
    if os.path.exists(path):
        raise FileExistsError(path)
    with FileVolume.create(device.archive_device, command.volume,
                           _new_label(device, command, sd_name), label_type=PRE_LABEL) as vol:
        return vol.size


class RelabelRefused(Exception):
    """The new name of a relabelled volume is taken by another file (Bareos' 3920)."""


def relabel_volume(device, command, sd_name):
    """Rewrite the volume file ``OldName`` as a volume holding only the label of
    ``NewName`` (the same name: the volume is truncated to its label); its size in bytes.
    The old file must carry the label of ``OldName`` (else VolumeError), and a different
    new name must not be taken by another file."""
    directory = device.archive_device
    FileVolume.open(directory, command.old_volume, writable=False).close()  # checks the label
    renamed = command.volume != command.old_volume
    if renamed and os.path.exists(os.path.join(directory, command.volume)):
        raise RelabelRefused(f'Cannot label Volume because it is already labeled: '
                             f'"{command.volume}"')
    with FileVolume.create(directory, command.volume, _new_label(device, command, sd_name),
                           overwrite=True) as vol:
        size = vol.size
    if renamed:
        os.unlink(os.path.join(directory, command.old_volume))
    return size


async def label_command(session, text):
    daemon, conn = session.daemon, session.conn
    try:
        command = P.parse_label_command(text)
    except P.CommandError:
        conn.send(f"3903 Error scanning label command: {text.strip()}\n")
        conn.send_signal(Signal.EOD)
        return True
    device = _find_label_device(daemon, command)
    if device is None:
        conn.send(f'3999 Device "{command.device or command.storage}" not found or could not '
                  f"be opened.\n")
        conn.send_signal(Signal.EOD)
        return True
    if command.old_volume and daemon.volumes.get(device, command.old_volume) is not None:
        conn.send(f'3920 Cannot relabel Volume "{command.old_volume}": a job has it open on '
                  f'device {device.name}\n')
        conn.send_signal(Signal.EOD)
        return True
    write = relabel_volume if command.old_volume else label_volume
    try:
        # Under the directory's lock: no job mounts the volume while its file is rewritten.
        size = await daemon.volumes.lock_for(device).run(
            threads.deferToThread, write, device, command, daemon.name)
    except FileExistsError:
        conn.send(f'3920 Cannot label Volume because it is already labeled: "{command.volume}"\n')
    except RelabelRefused as exc:
        conn.send(f"3920 {exc}\n")
    except (VolumeError, OSError, ValueError) as exc:
        conn.send(f"3912 Failed to label Volume: ERR={exc}\n")
    else:
        log.info("{daemon}: labeled volume {volume} (was {old}) on device {device}",
                 daemon=daemon.name, volume=command.volume, old=command.old_volume or "new",
                 device=device.name)
        conn.send(P.format_label_ok(size, command.volume, device.name, device.archive_device))
    conn.send_signal(Signal.EOD)
    return True


def _named_device(session, text):
    tokens = text.split()
    name = tokens[1] if len(tokens) > 1 else ""
    return session.daemon.devices.get(unbash_spaces(name)), unbash_spaces(name)


async def mount_command(session, text):
    device, name = _named_device(session, text)
    if device is None:
        session.conn.send(f'3999 Device "{name}" not found or could not be opened.\n')
    else:
        session.conn.send(f'3906 File device "{device.name}" ({device.archive_device}) '
                          f"is always mounted.\n")
    session.conn.send_signal(Signal.EOD)
    return True


async def unmount_command(session, text):
    device, name = _named_device(session, text)
    if device is None:
        session.conn.send(f'3999 Device "{name}" not found or could not be opened.\n')
    else:
        session.conn.send(f'3002 Device "{device.name}" ({device.archive_device}) unmounted.\n')
    session.conn.send_signal(Signal.EOD)
    return True


async def release_command(session, text):
    device, name = _named_device(session, text)
    if device is None:
        session.conn.send(f'3999 Device "{name}" not found or could not be opened.\n')
    else:
        session.conn.send(f'3022 Device "{device.name}" ({device.archive_device}) released\n')
    session.conn.send_signal(Signal.EOD)
    return True
