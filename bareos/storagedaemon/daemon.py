"""The storage daemon: director sessions (5a, 11), jobs, and the file daemons' data channels
(6, and 7 for passive clients, which we dial)."""

import collections
import time

from twisted.logger import Logger

import bareos
from bareos.config.schemas import STORAGEDAEMON
from bareos.daemon.director_session import STORAGE_DAEMON, DirectorServedDaemon, status_command
from bareos.daemon.service import format_datetime, os_info
from bareos.daemon.threads import SerialWorker
from bareos.protocol.hello import HelloKind
from bareos.protocol.jobstatus import JobStatus
from bareos.storagedaemon import dir_commands as C
from bareos.storagedaemon import protocol as P
from bareos.storagedaemon.devices import DeviceManager, VolumeRegistry
from bareos.storagedaemon.fd_session import accept_file_daemon, serve_file_daemon
from bareos.storagedaemon.job import StorageJob
from bareos.storagedaemon.passive import FD_RETRY_INTERVAL, passive_command
from bareos.storagedaemon.sd_replicate import listen_command, replicate_command

TerminatedJob = collections.namedtuple(
    "TerminatedJob", "job_id job level job_type files bytes status ended")


class StorageDaemon(DirectorServedDaemon):
    schema = STORAGEDAEMON
    log = Logger(namespace="bareos.storagedaemon")
    dialect = STORAGE_DAEMON
    qualified_type = "R_STORAGE"
    fd_retry_interval = FD_RETRY_INTERVAL       # passive clients: seconds between dial attempts

    def __init__(self, config, reactor=None):
        super().__init__(config, "storage", reactor)
        self.session_time = int(self.started_at)
        self._last_session_id = 0
        self.jobs = {}                                   # unique job name -> StorageJob
        self.terminated = collections.deque(maxlen=10)
        self.devices = DeviceManager(config, self.reactor)
        self.volumes = VolumeRegistry()

    # -- wiring ------------------------------------------------------------------
    def commands(self):
        # Prefix matched in this order (stored/dir_cmd.cc): longer prefixes sharing a start first.
        return [
            ("bootstrap", C.bootstrap_command),
            ("cancel", C.cancel_command),
            ("JobId=", C.job_command),
            ("label", C.label_command),
            ("listen", listen_command),
            ("mount", C.mount_command),
            ("passive", passive_command),
            ("relabel", C.label_command),
            ("release", C.release_command),
            ("replicate", replicate_command),
            ("run", C.run_command),
            ("getSecureEraseCmd", C.secure_erase_command),
            ("status", status_command),
            (".status", status_command),
            ("unmount", C.unmount_command),
            ("use storage=", C.use_command),
        ]

    def hello_handlers(self):
        handlers = super().hello_handlers()
        handlers[HelloKind.START_JOB] = self.serve_file_daemon
        handlers[HelloKind.START_STORAGE_JOB] = self.serve_file_daemon     # the copy's reading SD
        return handlers

    def psk_key(self, resource_type, name):
        if resource_type == "R_JOB":
            job = self.jobs.get(name)
            if job is not None and job.waiting_for_fd and job.session_key:
                return job.session_key.encode()
            return None
        return super().psk_key(resource_type, name)

    async def serve_file_daemon(self, conn, hello):
        await accept_file_daemon(self, conn, hello)

    # -- jobs ----------------------------------------------------------------------
    def next_session_id(self):
        self._last_session_id += 1
        return self._last_session_id

    def new_job(self, command, conn):
        old = self.jobs.get(command.job)
        if old is not None and not old.running:
            self.discard_job(old)
        job = StorageJob(self, command, self.next_session_id(), self.session_time,
                         P.make_session_key(), conn)
        self.jobs[job.job] = job
        self.log.info("{name}: new job {job} (JobId {id}), VolSessionId={sid}",
                      name=self.name, job=job.job, id=job.job_id, sid=job.session_id)
        return job

    def find_job(self, name):
        job = self.jobs.get(name)
        if job is None and name.isdigit():
            job = next((j for j in self.jobs.values() if j.job_id == int(name)), None)
        return job

    def discard_job(self, job):
        """A job that will never run (its director left before ``run``)."""
        if job.running or self.jobs.get(job.job) is not job:
            return
        job.finished = True
        del self.jobs[job.job]
        self.devices.release(job.device)
        job.device = None
        if job.fd_conn is not None and job.fd_conn.is_open:
            job.fd_conn.close()

    async def run_job(self, job, serve=None, peer="File daemon"):
        """``run`` (``listen``): wait for the FD (the reading SD of a copy), ``serve`` its
        session, end with ``3099 Job ... end``.  A peer we dialled (a passive FD, the
        writing SD of a copy) is there already."""
        job.running = True
        job.started_at = time.time()
        job.link.activate()
        self.jobs_run += 1
        worker = SerialWorker(self.reactor, f"sd-job-{job.job_id}")   # the job's disk work, in order
        try:
            if not job.canceled:
                job.set_status(JobStatus.WAIT_FD if peer == "File daemon" else JobStatus.WAIT_SD,
                               announce=True)
                wait = self.resource.client_connect_wait or 1800
                conn = await job.wait_for_fd(wait, self.reactor)
                if conn is not None and not job.canceled:
                    job.link.send(P.format_job_start(job.job))
                    job.set_status(JobStatus.RUNNING, announce=True)
                    await (serve or serve_file_daemon)(job, conn, worker)
                elif not job.canceled and not job.failed:
                    job.fatal(f"No connection from the {peer} within {int(wait)} seconds "
                              f'(Client Connect Wait of Storage "{self.name}").',
                              JobStatus.ERROR_TERMINATED)
            if job.status in (JobStatus.CREATED, JobStatus.WAIT_FD, JobStatus.RUNNING):
                job.set_status(JobStatus.TERMINATED)
        except Exception:
            self.log.failure("{name}: job {job} failed", name=self.name, job=job.job)
            job.fatal("Internal error in the storage daemon; see its log.")
        finally:
            worker.stop()
            job.finished = True
            if job.fd_conn is not None and job.fd_conn.is_open:
                job.fd_conn.close()
            self.devices.release(job.device)
            job.device = None
            if self.jobs.get(job.job) is job:
                del self.jobs[job.job]
            self.terminated.append(TerminatedJob(
                job.job_id, job.job, job.level, job.job_type, job.files, job.bytes, job.status,
                time.time()))
        job.link.send(P.format_job_end(job.job, job.status, job.files, job.bytes, job.errors))
        job.link.send_signal_eod()
        self.log.info("{name}: job {job} ended with status {status}: {files} files, {nbytes} bytes",
                      name=self.name, job=job.job, status=job.status, files=job.files,
                      nbytes=job.bytes)
        self.check_idle()

    # -- stopping ------------------------------------------------------------------
    def has_running_jobs(self):
        return any(job.running for job in self.jobs.values())

    def cancel_jobs(self, reason):
        """Each running job tells its director why it ends, then stops as for a ``cancel``;
        its director gets its end (status canceled) on the job's connection."""
        for job in [j for j in self.jobs.values() if j.running]:
            job.warning(f"{reason}: the job is canceled.")
            job.cancel()

    # -- status --------------------------------------------------------------------
    def status_text(self):
        running = [j for j in self.jobs.values() if j.running]
        lines = [
            f"{self.name} Version: {bareos.VERSION} ({bareos.VERSION_DATE}) {os_info()}",
            f"Daemon started {format_datetime(self.started_at)}. Jobs: run={self.jobs_run}, "
            f"running={len(running)}, bareos-twisted binary",
            "",
            "Running Jobs:",
        ] + [session.describe() for session in self.director_sessions]
        for job in running:
            lines += _describe_job(job)
        if not running:
            lines.append("No Jobs running.")
        lines += ["====", "", "Terminated Jobs:"]
        if self.terminated:
            lines.append(" JobId  Level    Files      Bytes   Status   Finished        Name ")
            lines.append("===================================================================")
            for t in self.terminated:
                lines.append(f"{t.job_id:>6}  {t.level:<4} {t.files:>9,} {_size(t.bytes):>10}   "
                             f"{t.status.ending:<8} {format_datetime(t.ended)} {t.job}")
        else:
            lines.append("No Terminated Jobs.")
        lines += ["====", "", "Device status:"]
        for device in self.devices.devices:
            where = f'"{device.name}" ({device.archive_device})'
            mounted = self.volumes.by_device(device)
            if mounted:
                lines.append(f"Device {where} is mounted with:")
                for ov in mounted:
                    lines += [f"    Volume:      {ov.name}",
                              f"    Media type:  {device.media_type}",
                              f"    Total Bytes={ov.volume.size:,} Blocks={ov.blocks():,}"]
            else:
                lines.append(f"Device {where} is not open.")
            lines.append(f"    Jobs: {self.devices.in_use[device.name]} of "
                         f"{device.maximum_concurrent_jobs} slots in use.")
        lines.append("====")
        return "\n".join(lines) + "\n"


def _describe_job(job):
    kind = {"B": "Backup", "R": "Restore", "V": "Verify", "C": "Copy", "g": "Migrate"}.get(
        job.job_type, job.job_type)
    level = {"F": "Full", "I": "Incremental", "D": "Differential"}.get(job.level, job.level.strip())
    if not job.fd_authenticated:
        peer = "Storage daemon" if job.peer_hello is HelloKind.START_STORAGE_JOB else "Client"
        return [f"{level} {kind} job {job.job} JobId={job.job_id} is waiting for the {peer} "
                f"connection."]
    doing = "Writing" if job.append else "Reading"
    elapsed = max(time.time() - (job.started_at or time.time()), 1)
    pool = job.use[0].pool_name if job.use else ""
    device = f'"{job.device.name}" ({job.device.archive_device})' if job.device else "(none)"
    return [f'{doing}: {level} {kind} job {job.job} JobId={job.job_id} Volume="{job.volume_name or ""}"',
            f'    pool="{pool}" device={device}',
            f"    Files={job.files:,} Bytes={job.bytes:,} AveBytes/sec={int(job.bytes / elapsed):,}"]


def _size(n):
    for unit in ("", "K", "M", "G", "T"):
        if n < 1000:
            return f"{n:.0f} {unit}".strip() if unit == "" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} P"
