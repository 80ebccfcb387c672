"""Real daemons as separate ``twistd`` processes, for system and interop tests.

* :class:`DaemonProcess` runs ``twistd -n --pidfile= --logfile=<run>/<name>.log
  <plugin> -c <config>`` with the repository on ``PYTHONPATH`` (so the dropins
  in ``twisted/plugins/`` are found), waits until it listens, and stops it by
  PID (SIGTERM, then SIGKILL after a bounded wait; always reaped).
* :func:`write_config_tree` writes a Bareos-style ``bareos-dir.d/<type>/<name>.conf``
  tree (the text comes from :mod:`bareos.config.writer`).
* :class:`Suite` makes matching director / file daemon / storage daemon /
  bconsole configurations on free loopback ports with generated passwords,
  and starts and stops the daemons.

Every process started here is registered; :func:`stop_all` (called by the
test fixtures and at interpreter exit) stops whatever is still running.
"""

from __future__ import annotations

import atexit
import os
import secrets
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping, Optional, Sequence, Union

from bareos.config.writer import (
    Block, Quoted, Resource, destination, resource, resource_files, write_file, write_tree)
from bareos.protocol.handshake import TEST_FAILURE_DELAY_ENV
from bareos.testing.ports import LOOPBACK, DaemonNotListening, free_ports, log_tail, wait_for_port

__all__ = [
    "REPO_ROOT",
    "PLUGINS",
    "DaemonNotListening",
    "DaemonProcess",
    "CATALOG",
    "ConsoleSpec",
    "FULL_ACCESS_ACLS",
    "Suite",
    "TLS_NONE",
    "TLS_ENABLED",
    "TLS_REQUIRED",
    "run_twistd",
    "stop_all",
    "tls_directives",
    "twistd_command",
    "director_of_daemon",
    "file_device",
    "messages_to_director",
    "write_config_tree",
]

REPO_ROOT = Path(__file__).resolve().parents[2]

#: short daemon name -> twistd plugin name
PLUGINS = {"dir": "bareos-dir", "fd": "bareos-fd", "sd": "bareos-sd"}

#: default time a daemon gets to start listening (a hang guard, not a measurement)
START_TIMEOUT = float(os.environ.get("BAREOS_TEST_START_TIMEOUT", "60"))
#: how long stop() waits after SIGTERM before SIGKILL
STOP_TIMEOUT = 10.0
#: seconds the daemons of a Suite wait before refusing a failed login (Bareos: 5 s, to slow
#: down guessing; a test of that delay itself passes ``failed_login_delay=None``)
TEST_FAILED_LOGIN_DELAY = 0.1

PathLike = Union[str, os.PathLike]


# --------------------------------------------------------------------------
# the command line
# --------------------------------------------------------------------------

def default_python() -> str:
    """The interpreter that runs the daemons: ``$BAREOS_TEST_PYTHON``, else ours."""
    return os.environ.get("BAREOS_TEST_PYTHON") or sys.executable


def twistd_command(
    plugin: str,
    plugin_args: Sequence[str] = (),
    *,
    logfile: Optional[PathLike] = None,
    python: Optional[str] = None,
) -> list[str]:
    """argv for ``twistd -n --pidfile= [--logfile=F] <plugin> <plugin_args>``.

    Note: ``python -m twisted`` runs ``twist``, not ``twistd`` (it has no
    ``-n``/``--pidfile``), so twistd's entry point is called explicitly.
    """
    argv = [
        python or default_python(),
        "-c",
        "import sys; sys.argv[0] = 'twistd'; "
        "from twisted.scripts.twistd import run; sys.exit(run())",
        "--nodaemon",
        "--pidfile=",
    ]
    if logfile is not None:
        argv.append(f"--logfile={logfile}")
    argv.append(plugin)
    argv.extend(str(a) for a in plugin_args)
    return argv


def daemon_env(extra_pythonpath: Iterable[PathLike] = (), base: Optional[Mapping[str, str]] = None) -> dict:
    """Environment for a daemon: the repository (and *extra_pythonpath*) first on PYTHONPATH."""
    env = dict(os.environ if base is None else base)
    parts = [str(p) for p in extra_pythonpath] + [str(REPO_ROOT)]
    if env.get("PYTHONPATH"):
        parts.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(parts)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def run_twistd(
    plugin: str,
    plugin_args: Sequence[str] = (),
    *,
    timeout: float = 60.0,
    cwd: PathLike = REPO_ROOT,
    extra_pythonpath: Iterable[PathLike] = (),
    logfile: Optional[PathLike] = None,
) -> subprocess.CompletedProcess:
    """Run twistd to completion (e.g. ``-t``) and return its output (text).

    ``stdout`` and ``stderr`` are captured separately.  The process is killed
    by PID if it has not exited after *timeout* seconds (then
    ``subprocess.TimeoutExpired`` is raised).
    """
    argv = twistd_command(plugin, plugin_args, logfile=logfile)
    proc = subprocess.Popen(
        argv,
        cwd=str(cwd),
        env=daemon_env(extra_pythonpath),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        errors="replace",
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except BaseException:
        _kill_and_reap(proc)
        raise
    return subprocess.CompletedProcess(argv, proc.returncode, out, err)


def _kill_and_reap(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        try:
            os.kill(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    try:
        proc.communicate(timeout=30)
    except Exception:
        proc.wait()


# --------------------------------------------------------------------------
# DaemonProcess
# --------------------------------------------------------------------------

_LIVE: "set[DaemonProcess]" = set()
_LIVE_LOCK = threading.Lock()


def stop_all() -> None:
    """Stop every DaemonProcess of this interpreter that is still running."""
    with _LIVE_LOCK:
        live = list(_LIVE)
    for d in live:
        try:
            d.stop()
        except Exception:  # pragma: no cover - best effort at teardown
            pass


atexit.register(stop_all)


class DaemonProcess:
    """One real daemon: ``twistd -n <plugin> -c <config>`` in its own process.

    :param plugin: twistd plugin name (``bareos-dir``, ``bareos-fd``, ``bareos-sd``)
    :param config: path passed to ``-c`` (a file or a directory)
    :param port: the TCP port it must listen on (``None``: do not wait)
    :param run_dir: where ``<name>.log`` (twistd's log) and ``<name>.out``
        (stdout+stderr) go
    :param env: environment variables set for the daemon on top of ours
    """

    def __init__(
        self,
        plugin: str,
        config: Optional[PathLike],
        *,
        port: Optional[int],
        run_dir: PathLike,
        name: Optional[str] = None,
        host: str = LOOPBACK,
        extra_args: Sequence[str] = (),
        cwd: PathLike = REPO_ROOT,
        extra_pythonpath: Iterable[PathLike] = (),
        start_timeout: float = START_TIMEOUT,
        command_prefix: Sequence[str] = (),
        env: Optional[Mapping[str, str]] = None,
    ):
        self.plugin = plugin
        self.config = Path(config) if config is not None else None
        self.port = port
        self.host = host
        self.name = name or plugin
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.run_dir / f"{self.name}.log"
        self.output_path = self.run_dir / f"{self.name}.out"
        self.extra_args = list(extra_args)
        self.cwd = Path(cwd)
        self.extra_pythonpath = [Path(p) for p in extra_pythonpath]
        self.start_timeout = start_timeout
        #: e.g. ``["ip", "netns", "exec", "<ns>"]``: the daemon runs in that network namespace
        #: (``ip netns exec`` execs the command, so the PID stays the daemon's).
        self.command_prefix = list(command_prefix)
        self.env = dict(env or {})
        self.proc: Optional[subprocess.Popen] = None
        self.returncode: Optional[int] = None
        self.starts = 0
        self.killed_after_timeout = False
        self._log_offset = 0
        self._out_file = None

    # -- introspection ------------------------------------------------------

    def __repr__(self) -> str:
        state = "running" if self.running else f"exited {self.returncode}"
        return f"<DaemonProcess {self.name} pid={self.pid} port={self.port} {state}>"

    @property
    def pid(self) -> Optional[int]:
        return self.proc.pid if self.proc is not None else None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def argv(self) -> list[str]:
        args = []
        if self.config is not None:
            args += ["-c", str(self.config)]
        args += self.extra_args
        return self.command_prefix + twistd_command(self.plugin, args, logfile=self.log_path)

    def log_text(self, since_start: bool = False) -> str:
        """twistd's log file (all runs, or only since the latest start)."""
        try:
            with open(self.log_path, "rb") as f:
                if since_start:
                    f.seek(self._log_offset)
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def output_text(self) -> str:
        """What the process wrote to stdout/stderr (all runs)."""
        try:
            return self.output_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def describe(self) -> str:
        """Log and output tails, for error messages."""
        return (
            f"--- {self.name}: argv {self.argv}\n"
            f"--- {self.name}: log tail ({self.log_path})\n{log_tail(self.log_path)}\n"
            f"--- {self.name}: stdout/stderr tail ({self.output_path})\n{log_tail(self.output_path)}"
        )

    # -- life cycle ---------------------------------------------------------

    def start(self, wait: bool = True) -> "DaemonProcess":
        if self.running:
            raise RuntimeError(f"{self!r} is already running")
        self._reap()
        try:
            self._log_offset = self.log_path.stat().st_size
        except FileNotFoundError:
            self._log_offset = 0
        self._out_file = open(self.output_path, "ab")
        self.returncode = None
        self.proc = subprocess.Popen(
            self.argv,
            cwd=str(self.cwd),
            env={**daemon_env(self.extra_pythonpath), **self.env},
            stdin=subprocess.DEVNULL,
            stdout=self._out_file,
            stderr=subprocess.STDOUT,
            # own session: a ^C at the terminal reaches pytest, whose teardown
            # then stops the daemon by PID; the daemon is never signalled twice
            start_new_session=True,
        )
        self.starts += 1
        with _LIVE_LOCK:
            _LIVE.add(self)
        if wait:
            try:
                self.wait_listening()
            except BaseException:
                self.stop()
                raise
        return self

    def wait_listening(self, timeout: Optional[float] = None) -> None:
        """Block until the daemon's socket listens on its port (owned by its PID)."""
        if self.port is None:
            return
        assert self.proc is not None, "not started"
        wait_for_port(
            self.port,
            self.host,
            timeout=self.start_timeout if timeout is None else timeout,
            process=self.proc,
            log_path=self.log_path,
            name=f"{self.plugin} ({self.name})",
            describe=lambda: f"--- stdout/stderr ({self.output_path})\n{log_tail(self.output_path)}",
            # in another network namespace: read that namespace's socket table
            own_namespace=bool(self.command_prefix),
        )

    def wait(self, timeout: float = 30.0) -> int:
        """Wait for the process to exit on its own; return its exit status.

        Raises ``subprocess.TimeoutExpired`` (the process keeps running; the
        fixture's teardown stops it).
        """
        assert self.proc is not None, "not started"
        rc = self.proc.wait(timeout=timeout)
        self._reap()
        return rc

    def send_signal(self, sig: int) -> None:
        """Send *sig* to the daemon's PID (only while it runs)."""
        if self.running:
            os.kill(self.proc.pid, sig)

    def stop(self, timeout: float = STOP_TIMEOUT) -> Optional[int]:
        """SIGTERM by PID, wait up to *timeout* s, then SIGKILL; always reap.

        Returns the exit status as ``subprocess`` reports it (negative = killed
        by that signal), or ``None`` if the daemon was never started.
        """
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.killed_after_timeout = True
                try:
                    os.kill(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait()
        self._reap()
        return self.returncode

    def kill(self) -> Optional[int]:
        """SIGKILL by PID (a crash), reap, return the exit status."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait()
        self._reap()
        return self.returncode

    def restart(self, wait: bool = True) -> "DaemonProcess":
        """stop() then start() with the same config, port and log file."""
        self.stop()
        return self.start(wait=wait)

    def _reap(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            self.returncode = self.proc.returncode
            with _LIVE_LOCK:
                _LIVE.discard(self)
        if self._out_file is not None and (self.proc is None or self.proc.poll() is not None):
            self._out_file.close()
            self._out_file = None

    def __enter__(self) -> "DaemonProcess":
        if self.proc is None:
            self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


# --------------------------------------------------------------------------
# config files
# --------------------------------------------------------------------------

def write_config_tree(root: PathLike, daemon_dir_name: str, files: Mapping[str, str]) -> Path:
    """Write ``<root>/<daemon_dir_name>/<type>/<name>.conf`` files; return that directory.

    ``daemon_dir_name`` is ``bareos-dir.d`` (``.d`` is appended if missing);
    ``files`` maps ``"director/bareos-dir.conf"``-style relative paths to text.
    Pass *root* (the directory that contains ``bareos-dir.d``) to ``-c``, like
    ``-c /etc/bareos``.
    """
    if not daemon_dir_name.endswith(".d"):
        daemon_dir_name += ".d"
    return write_tree(Path(root) / daemon_dir_name, files)


# --------------------------------------------------------------------------
# resource text
# --------------------------------------------------------------------------

TLS_NONE = "none"
TLS_ENABLED = "enabled"
TLS_REQUIRED = "required"

TlsPolicy = Union[None, bool, str]


def _norm_tls(tls: TlsPolicy) -> str:
    if tls in (None, False, TLS_NONE, "no"):
        return TLS_NONE
    if tls in (True, TLS_ENABLED, "yes"):
        return TLS_ENABLED
    if tls == TLS_REQUIRED:
        return TLS_REQUIRED
    raise ValueError(f"TLS policy must be none/enabled/required (or a bool), not {tls!r}")


def tls_directives(tls: TlsPolicy) -> list[str]:
    """``TLS Enable``/``TLS Require`` lines for a policy.

    ``None``/``False``/``"none"`` → Enable = no (and Require = no, since
    Bareos' default for both is yes); ``True``/``"enabled"`` → Enable = yes,
    Require = no; ``"required"`` → both yes.
    """
    policy = _norm_tls(tls)
    if policy == TLS_NONE:
        return ["TLS Enable = no", "TLS Require = no"]
    if policy == TLS_ENABLED:
        return ["TLS Enable = yes", "TLS Require = no"]
    return ["TLS Enable = yes", "TLS Require = yes"]


def generate_password() -> str:
    return secrets.token_urlsafe(18)


#: ACL lines that give a named console everything (as Bareos' admin console does);
#: a named console without ACLs may run only exit/quit/whoami.
FULL_ACCESS_ACLS = tuple(
    f"{kind} ACL = *all*"
    for kind in ("Command", "Job", "Client", "Storage", "Schedule", "Pool", "FileSet", "Catalog", "Where",
                 "Plugin Options")
)


#: the catalog of every test director: SQLite in its Working Directory
CATALOG = Resource("Catalog", {"Name": "MyCatalog", "DB Driver": "sqlite3", "DB Name": "bareos"})


def director_of_daemon(name: str, password: str, tls: TlsPolicy = TLS_NONE, *, monitor: bool = False,
                       extra: Sequence[str] = ()) -> Resource:
    """A file or storage daemon's Director resource: who may connect, with which password."""
    return Resource("Director", [{"Name": name, "Password": Quoted(password), "Monitor": monitor or None},
                                 *tls_directives(tls), *extra])


def messages_to_director(director_name: str) -> Resource:
    """A file or storage daemon's ``Messages Standard``: everything goes to the director."""
    return Resource("Messages", {"Name": "Standard", "Director": destination(director_name)})


def file_device(archive_device: PathLike, media_type: str = "File", extra: Sequence[str] = ()) -> Resource:
    """The storage daemon's ``FileStorage`` device: volumes are files in *archive_device*."""
    return Resource("Device", [
        {"Name": "FileStorage", "Media Type": media_type, "Archive Device": Path(archive_device),
         "Device Type": "File", "Label Media": True, "Random Access": True, "Automatic Mount": True,
         "Removable Media": False, "Always Open": False},
        *extra])


@dataclass
class ConsoleSpec:
    """A named console in the director (and optionally a bconsole.conf for it)."""

    name: str
    password: str = field(default_factory=generate_password)
    tls: TlsPolicy = TLS_NONE
    extra: Sequence[str] = ()  # extra directive lines, e.g. ACLs or Profile
    full_access: bool = True  # add FULL_ACCESS_ACLS

    def resource(self) -> Resource:
        """The director's Console resource."""
        return Resource("Console", [
            self.credentials(), *tls_directives(self.tls),
            *(FULL_ACCESS_ACLS if self.full_access else ()), *self.extra])

    def credentials(self) -> dict:
        return {"Name": Quoted(self.name), "Password": Quoted(self.password)}


class Suite:
    """Matching dir/fd/sd/bconsole configs on free loopback ports, and their daemons.

    Everything lives under *tmp_path*: ``etc/`` (configs), ``run/`` (logs),
    ``dir-work``, ``fd-work``, ``sd-work``, ``storage``.  Attributes worth
    reading in tests: ``dir_port``, ``fd_port``, ``sd_port``,
    ``director_name``, ``client_name``, ``storage_daemon_name``,
    ``dir_password`` (the Director's = default console's), ``fd_password``
    (director↔fd), ``sd_password`` (director↔sd), ``consoles`` (name →
    :class:`ConsoleSpec`), ``daemons`` (started :class:`DaemonProcess`es).

    TLS options take ``"none"`` / ``"enabled"`` / ``"required"`` (or a bool).
    The defaults are cleartext everywhere (``TLS Enable = no``).

    ``failed_login_delay``: the daemons refuse a failed login after this many seconds
    (``BAREOS_TEST_FAILED_LOGIN_DELAY``), not Bareos' 5; ``None`` keeps the real delay.
    """

    def __init__(
        self,
        tmp_path: PathLike,
        *,
        director_name: str = "bareos-dir",
        client_name: str = "bareos-fd",
        storage_daemon_name: str = "bareos-sd",
        storage_name: str = "File",
        host: str = LOOPBACK,
        failed_login_delay: Optional[float] = TEST_FAILED_LOGIN_DELAY,
    ):
        self.base = Path(tmp_path)
        self.host = host
        self.etc = self.base / "etc"
        self.run_dir = self.base / "run"
        self.dir_work = self.base / "dir-work"
        self.fd_work = self.base / "fd-work"
        self.sd_work = self.base / "sd-work"
        self.storage_dir = self.base / "storage"
        for d in (self.etc, self.run_dir, self.dir_work, self.fd_work, self.sd_work, self.storage_dir):
            d.mkdir(parents=True, exist_ok=True)
        self.dir_port, self.fd_port, self.sd_port = free_ports(3, host)
        self.director_name = director_name
        self.client_name = client_name
        self.storage_daemon_name = storage_daemon_name
        self.storage_name = storage_name
        self.dir_password = generate_password()
        self.fd_password = generate_password()
        self.sd_password = generate_password()
        self.consoles: dict[str, ConsoleSpec] = {}
        self.daemons: dict[str, DaemonProcess] = {}
        self.failed_login_delay = failed_login_delay

    # -- consoles -----------------------------------------------------------

    def add_console(
        self,
        name: str,
        password: Optional[str] = None,
        tls: TlsPolicy = TLS_NONE,
        extra: Sequence[str] = (),
        full_access: bool = True,
    ) -> ConsoleSpec:
        """Declare a named console (goes into the next director_config()).

        ``full_access=True`` grants every ACL (``*all*``); pass ``False`` and
        your own ACL/Profile lines in *extra* for a restricted console.
        """
        spec = ConsoleSpec(
            name=name, password=password or generate_password(), tls=tls, extra=tuple(extra), full_access=full_access
        )
        self.consoles[name] = spec
        return spec

    # -- config text --------------------------------------------------------

    def director_resources(self, *, tls: TlsPolicy = TLS_NONE, client_tls: TlsPolicy = TLS_NONE,
                           storage_tls: TlsPolicy = TLS_NONE, consoles: Optional[Iterable[ConsoleSpec]] = None,
                           clients: Sequence[Mapping] = (), director_extra: Sequence[str] = (),
                           extra_resources: Optional[Mapping[str, str]] = None) -> dict[str, str]:
        """Director configuration as ``{"<type>/<name>.conf": text}``.

        *tls* is the Director resource's policy (it governs the default
        console ``*UserAgent*``); named consoles carry their own (see
        :meth:`add_console`).  *clients* adds further Client resources
        (mappings with ``name``, ``port``, ``password``, optional ``address``,
        ``tls``, ``extra``).  *extra_resources* is merged in last.
        """
        all_clients = [
            {"name": self.client_name, "port": self.fd_port, "password": self.fd_password, "tls": client_tls}
        ] + list(clients)
        return resource_files(
            Resource("Director", [
                {"Name": self.director_name, "DirAddress": self.host, "DirPort": self.dir_port,
                 "Password": Quoted(self.dir_password), "Working Directory": self.dir_work,
                 "Messages": "Daemon"},
                *tls_directives(tls), *director_extra]),
            *(spec.resource() for spec in (self.consoles.values() if consoles is None else consoles)),
            *(Resource("Client", [
                {"Name": c["name"], "Address": c.get("address", self.host), "Port": c["port"],
                 "Password": Quoted(c["password"])},
                *tls_directives(c.get("tls", TLS_NONE)), *c.get("extra", ())])
              for c in all_clients),
            Resource("Storage", [
                {"Name": self.storage_name, "Address": self.host, "Port": self.sd_port,
                 "Password": Quoted(self.sd_password), "Device": "FileStorage", "Media Type": "File"},
                *tls_directives(storage_tls)]),
            Resource("Messages", {"Name": "Daemon", "Console": "all"}),
            CATALOG,
        ) | dict(extra_resources or {})

    def fd_resources(self, *, director_tls: TlsPolicy = TLS_NONE, client_tls: TlsPolicy = TLS_NONE,
                     monitor: bool = False, monitors: Sequence[Mapping] = (),
                     extra_resources: Optional[Mapping[str, str]] = None) -> dict[str, str]:
        """File daemon configuration as ``{"<type>/<name>.conf": text}``.

        *monitor* puts ``Monitor = yes`` in the Director resource; *monitors*
        adds further Director resources (mappings with ``name``, ``password``,
        optional ``tls``, ``monitor`` (default yes), ``extra``).
        """
        return resource_files(
            Resource("Client", [
                {"Name": self.client_name, "FdAddress": self.host, "FdPort": self.fd_port,
                 "Working Directory": self.fd_work},
                *tls_directives(client_tls)]),
            director_of_daemon(self.director_name, self.fd_password, director_tls, monitor=monitor),
            *(director_of_daemon(m["name"], m["password"], m.get("tls", TLS_NONE),
                                 monitor=m.get("monitor", True), extra=m.get("extra", ()))
              for m in monitors),
            messages_to_director(self.director_name),
        ) | dict(extra_resources or {})

    def sd_resources(self, *, director_tls: TlsPolicy = TLS_NONE, storage_tls: TlsPolicy = TLS_NONE,
                     monitor: bool = False, storage_extra: Sequence[str] = (),
                     extra_resources: Optional[Mapping[str, str]] = None) -> dict[str, str]:
        """Storage daemon configuration as ``{"<type>/<name>.conf": text}``; ``storage_extra``:
        more directive lines for its Storage resource."""
        return resource_files(
            Resource("Storage", [
                {"Name": self.storage_daemon_name, "SdAddress": self.host, "SdPort": self.sd_port,
                 "Working Directory": self.sd_work},
                *tls_directives(storage_tls), *storage_extra]),
            director_of_daemon(self.director_name, self.sd_password, director_tls, monitor=monitor),
            file_device(self.storage_dir),
            messages_to_director(self.director_name),
        ) | dict(extra_resources or {})

    def backup_resources(self, source, *, accurate: bool = True, options: Sequence[str] = ("Signature = MD5",),
                         pool_extra: Sequence[str] = (), restore_where: Optional[str] = None) -> dict[str, str]:
        """Director resources for backing up *source* (a path or a list of paths): a FileSet,
        three pools with Label Formats, the Job ``backup`` (Full/Incremental/Differential
        pools) and the Restore job ``RestoreFiles``.  Merge them with ``extra_resources=``."""
        sources = [source] if isinstance(source, (str, Path)) else list(source)
        return resource_files(
            Resource("FileSet", {"Name": "TestSet", "Include": {
                "Options": Block(options), "File": [Path(path) for path in sources]}}),
            *(Resource("Pool", [{"Name": name, "Pool Type": "Backup", "Label Format": Quoted(f"{name}-")},
                                *pool_extra])
              for name in ("Full", "Incremental", "Differential")),
            Resource("Job", {
                "Name": "backup", "Type": "Backup", "Level": "Full", "Client": self.client_name,
                "FileSet": "TestSet", "Storage": self.storage_name, "Pool": "Full",
                "Full Backup Pool": "Full", "Incremental Backup Pool": "Incremental",
                "Differential Backup Pool": "Differential", "Messages": "Standard",
                "Accurate": accurate}),
            Resource("Job", {
                "Name": "RestoreFiles", "Type": "Restore", "Client": self.client_name,
                "FileSet": "TestSet", "Storage": self.storage_name, "Pool": "Full",
                "Messages": "Standard", "Where": Path(restore_where or self.base / "restores")}),
            Resource("Messages", {"Name": "Standard", "Console": "all", "Catalog": "all"}),
        )

    def console(self, commands: str, console: Optional[str] = None, timeout: float = 600) -> str:
        """Run our bconsole with *commands* on its standard input; return what it printed."""
        config = self.write_bconsole(console)
        result = subprocess.run(
            [default_python(), "-m", "bareos.console.main", "-c", str(config)], input=commands,
            text=True, errors="surrogateescape", capture_output=True, timeout=timeout,
            cwd=REPO_ROOT, env=daemon_env())
        if result.returncode != 0:
            raise AssertionError(f"bconsole failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
        return result.stdout

    def director_config(self, **kw) -> str:
        """The director configuration as one text (see :meth:`director_resources`)."""
        return _join(self.director_resources(**kw))

    def fd_config(self, **kw) -> str:
        return _join(self.fd_resources(**kw))

    def sd_config(self, **kw) -> str:
        return _join(self.sd_resources(**kw))

    def bconsole_config(self, console: Optional[str] = None, *, tls: TlsPolicy = TLS_NONE) -> str:
        """bconsole.conf for the default console, or for the named *console*."""
        text = resource("Director", [
            {"Name": self.director_name, "Address": self.host, "DirPort": self.dir_port,
             "Password": Quoted(self.dir_password)},
            *tls_directives(tls)])
        if console is not None:
            spec = self.consoles[console]
            text += resource("Console", [spec.credentials(), *tls_directives(spec.tls)])
        return text

    # -- writing ------------------------------------------------------------

    def write(self, daemon: str, layout: str = "tree", **kw) -> Path:
        """Write the config of *daemon* (``dir``/``fd``/``sd``) and return the ``-c`` path.

        ``layout="tree"``: ``etc/<daemon>/bareos-<daemon>.d/<type>/<name>.conf``,
        returns ``etc/<daemon>`` (the directory that holds the ``.d`` tree, like
        ``/etc/bareos``).  ``layout="file"``: ``etc/bareos-<daemon>.conf``.
        """
        resources = {"dir": self.director_resources, "fd": self.fd_resources, "sd": self.sd_resources}[daemon](**kw)
        plugin = PLUGINS[daemon]
        if layout == "tree":
            root = self.etc / daemon
            write_config_tree(root, f"{plugin}.d", resources)
            return root
        if layout == "file":
            return write_file(self.etc / f"{plugin}.conf", _join(resources))
        raise ValueError(f"layout must be 'tree' or 'file', not {layout!r}")

    def write_bconsole(self, console: Optional[str] = None, **kw) -> Path:
        name = f"bconsole-{console}.conf" if console else "bconsole.conf"
        return write_file(self.etc / name, self.bconsole_config(console, **kw))

    # -- daemons ------------------------------------------------------------

    def port_of(self, daemon: str) -> int:
        return {"dir": self.dir_port, "fd": self.fd_port, "sd": self.sd_port}[daemon]

    def daemon(self, daemon: str, config: PathLike, *, extra_args: Sequence[str] = ()) -> DaemonProcess:
        """A (not yet started) DaemonProcess for *daemon* with the -c path *config*."""
        return DaemonProcess(
            PLUGINS[daemon],
            config,
            port=self.port_of(daemon),
            host=self.host,
            run_dir=self.run_dir,
            name=PLUGINS[daemon],
            extra_args=extra_args,
            env={} if self.failed_login_delay is None else
            {TEST_FAILURE_DELAY_ENV: str(self.failed_login_delay)},
        )

    def start(self, daemon: str, layout: str = "tree", *, wait: bool = True, **kw) -> DaemonProcess:
        """Write *daemon*'s config (options as for the ``*_resources`` methods) and start it."""
        if daemon in self.daemons and self.daemons[daemon].running:
            raise RuntimeError(f"{daemon} is already running: {self.daemons[daemon]!r}")
        config = self.write(daemon, layout, **kw)
        proc = self.daemon(daemon, config)
        self.daemons[daemon] = proc
        return proc.start(wait=wait)

    def start_director(self, layout: str = "tree", **kw) -> DaemonProcess:
        return self.start("dir", layout, **kw)

    def start_fd(self, layout: str = "tree", **kw) -> DaemonProcess:
        return self.start("fd", layout, **kw)

    def start_sd(self, layout: str = "tree", **kw) -> DaemonProcess:
        return self.start("sd", layout, **kw)

    def start_all(self, layout: str = "tree") -> "Suite":
        for d in ("sd", "fd", "dir"):
            self.start(d, layout)
        return self

    def stop(self) -> dict[str, Optional[int]]:
        """Stop every daemon this suite started; return their exit statuses."""
        result = {}
        for key, proc in list(self.daemons.items()):
            result[key] = proc.stop()
        return result

    def describe(self) -> str:
        return "\n".join(p.describe() for p in self.daemons.values())

    def __enter__(self) -> "Suite":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def _join(resources: Mapping[str, str]) -> str:
    return "\n".join(resources.values())
