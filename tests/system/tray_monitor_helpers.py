"""Our three daemons set up for a tray monitor (as the Bareos manual recommends), and the
monitor itself as a real process."""

import os
import re
import subprocess
import sys
from pathlib import Path

from bareos.config.writer import Quoted, resource, resource_files
from bareos.testing.daemons import REPO_ROOT, daemon_env, director_of_daemon
from bareos.testing.quick_console import QuickDirector
from bareos.traymonitor.text import FRAME_END

MONITOR = "tray-mon"
MONITOR_PASSWORD = "monitor-secret"            # the director's Console for the monitor
FD_MONITOR_PASSWORD = "fd-monitor-secret"      # the FD's Director resource with Monitor = yes
SD_MONITOR_PASSWORD = "sd-monitor-secret"      # the SD's
OPS = "ops"                                    # a full director of the FD, to set its pace
OPS_PASSWORD = "ops-secret"
#: the ACL of the monitor's Console in the director (README, man page)
MONITOR_CONSOLE_ACL = ("Command ACL = status, .status", "Job ACL = *all*")
SLOW_BYTES_PER_SECOND = 100_000


def start_daemons(suite, director_resources=None):
    """Director, file and storage daemon, each with the monitor's identity restricted to status."""
    suite.add_console(MONITOR, MONITOR_PASSWORD, full_access=False, extra=MONITOR_CONSOLE_ACL)
    suite.start_sd(extra_resources=resource_files(
        director_of_daemon(MONITOR, SD_MONITOR_PASSWORD, monitor=True)))
    suite.start_fd(monitors=[{"name": MONITOR, "password": FD_MONITOR_PASSWORD},
                             {"name": OPS, "password": OPS_PASSWORD, "monitor": False}])
    suite.start_director(extra_resources=director_resources)


def backup_source(directory: Path) -> Path:
    """A directory to back up: 2 MB, which the slow pace takes ~20 s to read."""
    directory.mkdir()
    (directory / "data.bin").write_bytes(os.urandom(2_000_000))
    return directory


def set_fd_pace(suite, bytes_per_second, job=""):
    with QuickDirector(suite.fd_port, OPS_PASSWORD, OPS) as ops:
        reply = ops.command(f"setbandwidth={bytes_per_second} Job={job}")
    assert reply.startswith(b"2000 OK"), reply


def start_slow_backup(suite) -> int:
    """Start the backup of ``backup_source`` at the slow pace; its JobId."""
    set_fd_pace(suite, SLOW_BYTES_PER_SECOND)
    queued = suite.console("run job=backup level=Full yes\n")
    return int(queued.split("Job queued. JobId=")[1].split()[0])


def finish_backup(suite, jobid, job_name):
    """Lift the pace of the running backup ``job_name`` and wait for its successful end."""
    set_fd_pace(suite, 0, job_name)
    assert "JobStatus=OK (T)" in suite.console(f"wait jobid={jobid}\n")


def write_monitor_config(suite, *, refresh=1, passwords=None):
    """tray-monitor.conf watching the suite's three daemons (Bareos' TLS defaults: TLS-PSK)."""
    passwords = passwords or {}
    text = "".join([
        resource("Monitor", {"Name": MONITOR,
                             "Password": Quoted(passwords.get("dir", MONITOR_PASSWORD)),
                             "Refresh Interval": refresh}),
        resource("Director", {"Name": suite.director_name, "Address": suite.host,
                              "DirPort": suite.dir_port}),
        resource("Client", {"Name": suite.client_name, "Address": suite.host,
                            "FdPort": suite.fd_port,
                            "Password": Quoted(passwords.get("fd", FD_MONITOR_PASSWORD))}),
        resource("Storage", {"Name": suite.storage_daemon_name, "Address": suite.host,
                             "SdPort": suite.sd_port,
                             "Password": Quoted(passwords.get("sd", SD_MONITOR_PASSWORD))}),
    ])
    path = suite.etc / f"tray-monitor-{len(list(suite.etc.glob('tray-monitor*')))}.conf"
    path.write_text(text)
    return path


def monitor_argv(config, *options):
    return [sys.executable, "-m", "bareos.traymonitor.main", "-c", str(config), *options]


def run_check(config, timeout=60):
    """``bareos-tray-monitor --check``: (exit status, its one line)."""
    done = subprocess.run(monitor_argv(config, "--check"), capture_output=True, text=True,
                          timeout=timeout, cwd=REPO_ROOT, env=daemon_env())
    return done.returncode, done.stdout.strip()


class MonitorProcess:
    """``bareos-tray-monitor`` with ``options`` running, its output going to a file."""

    def __init__(self, config, output: Path, *options, env=None):
        self.output = output
        self._file = open(output, "wb")
        self.proc = subprocess.Popen(monitor_argv(config, *options), stdout=self._file,
                                     stderr=subprocess.STDOUT, cwd=REPO_ROOT,
                                     env=daemon_env(base=env), start_new_session=True)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._file.close()
        return self.proc.returncode


class TextMonitor(MonitorProcess):
    """``bareos-tray-monitor --text``."""

    def __init__(self, config, output: Path):
        super().__init__(config, output, "--text")

    def frame(self):
        """The latest complete frame ("" before the first)."""
        frames = self.output.read_text(errors="replace").split(FRAME_END)
        return frames[-2] if len(frames) > 1 else ""

    def line_of(self, label):
        """The line of the daemon ``label`` ("storage bareos-sd") in the latest frame."""
        for line in self.frame().splitlines():
            if line.startswith(label + " "):
                return line[len(label):].strip()
        return None


class DesktopMonitor(MonitorProcess):
    """``bareos-tray-monitor --window`` (the desktop view) on the X display of ``env``."""

    def __init__(self, config, output: Path, env):
        super().__init__(config, output, "--window", env=env)

    def icon_changes(self):
        """The tray icon's states so far with the headline of each change, as the view
        logs them (``tray icon running: <headline>``)."""
        return re.findall(r"\] tray icon (\w+): (.*)$", self.output.read_text(errors="replace"),
                          re.M)
