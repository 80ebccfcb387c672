"""Run Bareos' own python-bareos system tests against our three daemons.

``scripts/bareos-systemtests <bareos checkout> [pytest args]`` is :func:`main`; :data:`HELP`
(the end of ``--help``) says what a run does.  The pieces: :func:`placeholder_values` (what each
``@VAR@`` of the templates means in Bareos' ``systemtests/CMakeLists.txt`` and
``cmake/BareosSystemtestFunctions.cmake``), :func:`render_template`/:func:`render_tree`,
:func:`prepare_data` (the test's ``test-setup``), :func:`environment_for_tests` (what
``bareos_unittest.Base.get_env`` reads), :class:`SystemTestRun` (check, start, run each file with
``systemtests_pytest.py`` in the python-bareos venv, stop), :func:`read_junit`/:func:`summary`.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Optional, Sequence

from bareos.protocol.handshake import TEST_FAILURE_DELAY_ENV
from bareos.testing.daemons import PLUGINS, REPO_ROOT, TEST_FAILED_LOGIN_DELAY, DaemonProcess, run_twistd
from bareos.testing.ports import free_ports

#: the test files the issue names (``test_list_jobs.py`` only if present), in the order ctest
#: runs them one after the other against the same daemons: by name (CMake's file GLOB)
DEFAULT_TEST_FILES = tuple(sorted((
    "test_json.py", "test_list_command.py", "test_list_jobs.py", "test_show.py", "test_delete.py",
    "test_acl.py", "test_plaintext.py", "test_tlspsk.py", "test_protocol_124.py", "test_json_config.py",
    "test_bvfs.py", "test_update_all_volumes_all_pools.py",
)))
OPTIONAL_TEST_FILES = frozenset({"test_list_jobs.py"})

TEST_NAME = "python-bareos"
TEST_SOURCE = Path("systemtests") / "tests" / TEST_NAME
CONFIG_SOURCE = TEST_SOURCE / "etc" / "bareos"
UNITTEST_MODULES = Path("systemtests") / "python-modules"
DB_NAME = "regress_" + TEST_NAME.replace("-", "_")  # prepare_test: "regress-<test>" with '-' -> '_'
DB_USER = "regress"  # systemtest_db_user's default
DATA_ARCHIVES = ("small.tgz", "weird-files.tar.gz")  # what test-setup's setup_data unpacks

_BPIPE = ("runs the job backup-bareos-fd-bpipe, whose FileSet bpipe-fileset backs up through the "
          "bpipe file daemon plugin, which we do not have")
_PYTHON_PLUGIN = ("runs the job backup-bareos-fd-pluginoptions, whose FileSet PluginOptionsTest backs up "
                  "through the python3 file daemon plugin (module bareos-fd-pluginoptions), which we do not have")
#: ``<file>::<test>`` -> why it is skipped: each needs a file daemon plugin
PLUGIN_SKIPS = {
    "test_bvfs.py::test_bvfs": _BPIPE,
    "test_bvfs.py::test_bvfs_and_dbcheck": _BPIPE + " (and then Bareos' dbcheck program)",
    **{f"test_python_fd_plugins.py::{test}": _PYTHON_PLUGIN for test in (
        "test_without_extra_pluginoptions", "test_additional_pluginoptions", "test_overwrite_pluginoptions")},
}

#: a CMake ``@VAR@`` placeholder (``configure_file(... @ONLY)`` accepts these characters)
PLACEHOLDER = re.compile(r"@([A-Za-z0-9_/.+-]+)@")

PYTEST_DRIVER = Path(__file__).resolve().with_name("systemtests_pytest.py")


class SystemTestsError(Exception):
    """The run cannot go on (no such checkout, a refused configuration, ...)."""


class UnknownPlaceholder(SystemTestsError):
    def __init__(self, source: str, name: str):
        super().__init__(f"{source}: placeholder @{name}@ has no value here (CMake would make it empty; "
                         f"add what it means to bareos.testing.systemtests.placeholder_values)")
        self.source = source
        self.name = name


# --------------------------------------------------------------------------
# rendering
# --------------------------------------------------------------------------

class Layout:
    """The temporary test directory: Bareos' ``<build>/systemtests/tests/python-bareos``."""

    def __init__(self, root: Path):
        self.root = root
        self.confdir = root / "etc" / "bareos"
        self.working = root / "working"
        self.tmp = root / "tmp"
        self.logdir = root / "log"
        self.storage = root / "storage"  # the device's "Archive Device = storage", relative
        self.scripts = root / "scripts"
        self.fd_plugins = root / "fd-plugins"
        self.backup_data = self.tmp / "data"

    def make(self) -> None:
        for directory in (self.confdir, self.working, self.tmp, self.logdir, self.storage, self.scripts,
                          self.fd_plugins):
            directory.mkdir(parents=True, exist_ok=True)


@dataclass(frozen=True)
class Ports:
    dir: int
    fd: int
    sd: int


def placeholder_values(checkout: Path, layout: Layout, ports: Ports) -> dict[str, str]:
    """What every ``@VAR@`` of the python-bareos templates stands for in Bareos' CMake build
    (``prepare_test``/``prepare_testdir_for_daemon_run``/``prepare_test_python``), here."""
    return {
        # prepare_test: the test's own name is its "basename" (the file daemon calls itself
        # python-bareos-fd, bconsole's Director python-bareos-dir)
        "basename": TEST_NAME,
        "TEST_NAME": TEST_NAME,
        "hostname": "localhost",  # the CMake cache default
        "dir_port": str(ports.dir),
        "fd_port": str(ports.fd),
        "sd_port": str(ports.sd),
        # prepare_test sets each password to its own name
        "dir_password": "dir_password",
        "fd_password": "fd_password",
        "sd_password": "sd_password",
        "db_name": DB_NAME,
        "db_user": DB_USER,
        "db_password": "",  # systemtest_db_password's default
        # prepare_testdir_for_daemon_run
        "confdir": str(layout.confdir),
        "working_dir": str(layout.working),
        "tmp": str(layout.tmp),
        "tmpdir": str(layout.tmp),
        "logdir": str(layout.logdir),
        "archivedir": str(layout.storage),
        "scriptdir": str(layout.scripts),  # holds query.sql, as the build's scripts directory does
        "sd_backend_config": "",  # empty unless Bareos is built with dynamic storage backends
        # the runscript jobs call <build>/systemtests/tests/python-bareos/write.sh; the source
        # tree has the same path
        "PROJECT_BINARY_DIR": str(checkout / "systemtests"),
        # prepare_test_python (a plain test name: neither grpc variant)
        "python_module_name": "python3",
        "dir_python_module_name": "python3",
        "python_plugin_module_src_test_dir": str(checkout / TEST_SOURCE / "python-modules"),
        "python_plugin_module_src_dir": str(checkout / "core" / "src" / "plugins"),
        "sbindir": str(checkout / "systemtests" / "sbin"),  # where the build links its daemons
        "FD_PLUGINS_DIR_TO_TEST": str(layout.fd_plugins),  # an empty directory: we have no plugins
    }


def render_template(text: str, values: Mapping[str, str], source: str = "<template>") -> str:
    """``text`` with every ``@VAR@`` replaced by ``values[VAR]``, as CMake's
    ``configure_file(... @ONLY)`` does (``${VAR}`` stays); a placeholder without a value is an
    error (:class:`UnknownPlaceholder`), not an empty string."""

    def substitute(match: re.Match) -> str:
        name = match.group(1)
        if name not in values:
            raise UnknownPlaceholder(source, name)
        return values[name]

    return PLACEHOLDER.sub(substitute, text)


def render_tree(source: Path, destination: Path, values: Mapping[str, str]) -> list[Path]:
    """Copy *source* to *destination*: ``X.in`` rendered to ``X``, other files unchanged (copied,
    not linked as CMake does, so tests that change the configuration leave the source alone).
    Returns the files written."""
    written = []
    for path in sorted(source.rglob("*")):
        if not path.is_file():
            continue
        relative = path.relative_to(source)
        if path.suffix == ".in":
            target = destination / relative.with_suffix("")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(render_template(path.read_text(), values, str(path)))
        else:
            target = destination / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
        written.append(target)
    return written


def prepare_data(checkout: Path, layout: Layout) -> None:
    """What the test's ``test-setup`` does before it starts the daemons."""
    data = layout.backup_data
    data.mkdir(parents=True, exist_ok=True)
    for name in DATA_ARCHIVES:  # GNU tar, as setup_data: the "weird files" include absolute links
        subprocess.run(["tar", f"--directory={data}", "-xf", str(checkout / "systemtests" / "data" / name)],
                       check=True)
    (layout.tmp / "file-list").write_text(f"{data}\n")
    numbered = layout.tmp / "backup-data-numbered-files"
    numbered.mkdir(exist_ok=True)
    for number in range(1000, 2001):
        (numbered / f"{number}.txt").write_text(f"{number}\n")
    (layout.tmp / "file-list-simple").write_text(f"{data}/build\n")
    query = checkout / "core" / "src" / "dird" / "query.sql"
    if query.is_file():
        shutil.copyfile(query, layout.scripts / "query.sql")


def environment_for_tests(checkout: Path, layout: Layout, values: Mapping[str, str], ports: Ports) -> dict[str, str]:
    """The variables Bareos' ``environment`` exports that the tests read (``Base.get_env``)."""
    return {
        "BAREOS_CONFIG_DIR": str(layout.confdir),
        "BAREOS_DIRECTOR_PORT": str(ports.dir),
        "BAREOS_FD_PORT": str(ports.fd),
        "BAREOS_STORAGE_PORT": str(ports.sd),
        "BAREOS_WORKING_DIR": str(layout.working),
        "BAREOS_LOG_DIR": str(layout.logdir),
        "dir_password": values["dir_password"],
        "fd_password": values["fd_password"],
        "sd_password": values["sd_password"],
        "BackupDirectory": str(layout.backup_data),
        "RestoreDirectory": str(layout.tmp / "bareos-restores"),
        "tmp": str(layout.tmp),
        "db_name": values["db_name"],
        "PYTHON_BAREOS_TLS_VERSION": "v1.2",  # as Bareos' environment sets it
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        # bareos_unittest only; python-bareos itself comes from the venv (not the checkout's)
        "PYTHONPATH": os.pathsep.join([str(checkout / UNITTEST_MODULES),
                                       str(checkout / TEST_SOURCE / "python-modules")]),
        "PYTHONDONTWRITEBYTECODE": "1",  # nothing written into the checkout
    }


# --------------------------------------------------------------------------
# results
# --------------------------------------------------------------------------

@dataclass
class Failure:
    test: str
    message: str


@dataclass
class FileResult:
    name: str
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    failures: list[Failure] = field(default_factory=list)
    skips: list[Failure] = field(default_factory=list)
    problem: Optional[str] = None  # pytest itself failed (no report)


def read_junit(path: Path, name: str) -> FileResult:
    """Counts from pytest's ``--junitxml`` report (an error counts as a failure)."""
    result = FileResult(name)
    for case in ElementTree.parse(path).getroot().iter("testcase"):
        test = f"{case.get('classname', '').rsplit('.', 1)[-1]}::{case.get('name')}"
        outcome = next((child for child in case if child.tag in ("failure", "error", "skipped")), None)
        if outcome is None:
            result.passed += 1
        elif outcome.tag == "skipped":
            result.skipped += 1
            result.skips.append(Failure(test, outcome.get("message") or ""))
        else:
            result.failed += 1
            result.failures.append(Failure(test, _first_lines(outcome.get("message") or outcome.text or "")))
    return result


def _first_lines(message: str, limit: int = 400) -> str:
    text = " | ".join(line.strip() for line in message.strip().splitlines()[:4])
    return text if len(text) <= limit else text[:limit] + "..."


def summary(results: Sequence[FileResult]) -> str:
    width = max([len(r.name) for r in results] + [5])
    lines = [f"{'file':<{width}}  passed  failed  skipped"]
    for r in results:
        note = f"  ({r.problem})" if r.problem else ""
        lines.append(f"{r.name:<{width}}  {r.passed:>6}  {r.failed:>6}  {r.skipped:>7}{note}")
    lines.append(f"{'total':<{width}}  {sum(r.passed for r in results):>6}  "
                 f"{sum(r.failed for r in results):>6}  {sum(r.skipped for r in results):>7}")
    failures = [(r.name, f) for r in results for f in r.failures]
    if failures:
        lines += ["", "failed:"] + [f"  {name}::{f.test}: {f.message}" for name, f in failures]
    skips = [(r.name, s) for r in results for s in r.skips]
    if skips:
        lines += ["", "skipped:"] + [f"  {name}::{s.test}: {s.message}" for name, s in skips]
    return "\n".join(lines)


# --------------------------------------------------------------------------
# the run
# --------------------------------------------------------------------------

class SystemTestRun:
    """One run: render, prepare, check, start, test, stop."""

    def __init__(self, checkout: Path, root: Path, *, venv: Path, postgres=None, out=sys.stdout):
        self.checkout = checkout
        self.layout = Layout(root)
        self.venv = venv
        self.postgres = postgres
        self.out = out
        port_list = free_ports(3)
        self.ports = Ports(*port_list)
        self.values = placeholder_values(checkout, self.layout, self.ports)
        if postgres is not None:  # its database and user are the rendered ones (see main)
            self.values["db_password"] = postgres.password
        self.daemons: list[DaemonProcess] = []

    def say(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    def prepare(self) -> None:
        source = self.checkout / CONFIG_SOURCE
        if not source.is_dir():
            raise SystemTestsError(f"{self.checkout} is not a Bareos checkout: no {CONFIG_SOURCE}")
        self.layout.make()
        render_tree(source, self.layout.confdir, self.values)
        if self.postgres is not None:
            self._use_postgres()
        prepare_data(self.checkout, self.layout)

    def _use_postgres(self) -> None:
        """Point the rendered catalog (database, user and password come from its placeholders)
        at our private PostgreSQL: Bareos' default driver, where ours is SQLite, and its address.
        The one addition to the rendered configuration, made by this option only."""
        catalog = self.layout.confdir / "bareos-dir.d" / "catalog" / "MyCatalog.conf"
        text = catalog.read_text()
        where = text.rindex("}")
        catalog.write_text(text[:where] + f"  DB Driver = postgresql\n  DB Address = {self.postgres.host}\n"
                                          f"  DB Port = {self.postgres.port}\n" + text[where:])
        self.say(f"catalog: PostgreSQL {self.postgres.host}:{self.postgres.port}"
                 f" database {self.postgres.dbname}")

    def check_configuration(self) -> None:
        """``twistd <daemon> -t``: a configuration a daemon refuses ends the run, with its reason."""
        for daemon in ("dir", "sd", "fd"):
            result = run_twistd(PLUGINS[daemon], ["-t", "-c", str(self.layout.confdir)], cwd=self.layout.root)
            output = (result.stdout + result.stderr).strip()
            warnings = [line for line in output.splitlines() if "warning:" in line]
            if result.returncode != 0:
                raise SystemTestsError(f"{PLUGINS[daemon]} refused the configuration in {self.layout.confdir}:\n"
                                       f"{output}")
            self.say(f"{PLUGINS[daemon]}: configuration loads, {len(warnings)} warnings (accepted, not acted on)"
                     + "".join(f"\n  {line.split(f'{self.layout.confdir}/', 1)[-1]}" for line in warnings))

    def start_daemons(self) -> None:
        for daemon in ("sd", "fd", "dir"):
            process = DaemonProcess(
                PLUGINS[daemon], self.layout.confdir, port=getattr(self.ports, daemon),
                run_dir=self.layout.logdir, cwd=self.layout.root,  # "Archive Device = storage" is relative
                env={TEST_FAILURE_DELAY_ENV: str(TEST_FAILED_LOGIN_DELAY)})
            self.daemons.append(process)
            process.start()
            self.say(f"started {process.plugin} pid {process.pid} port {process.port}")

    def stop_daemons(self) -> None:
        for process in reversed(self.daemons):
            status = process.stop()
            self.say(f"stopped {process.plugin} pid {process.pid} (exit status {status})")

    def venv_python(self) -> Path:
        made = subprocess.run([str(REPO_ROOT / "scripts" / "pybareos-venv")], stdout=subprocess.DEVNULL,
                              env={**os.environ, "PYBAREOS_VENV": str(self.venv), "PYBAREOS_WITH_PYTEST": "yes"})
        if made.returncode != 0:
            raise SystemTestsError(f"scripts/pybareos-venv could not make {self.venv} with python-bareos and pytest"
                                   f" (exit status {made.returncode}; its message is above)")
        return self.venv / "bin" / "python"

    def run_file(self, python: Path, name: str, pytest_args: Sequence[str]) -> FileResult:
        test_dir = self.checkout / TEST_SOURCE
        report = self.layout.logdir / f"{name}.junit.xml"
        ini = self.layout.root / "pytest.ini"  # keeps any pytest configuration of the checkout out
        ini.write_text("[pytest]\n")
        argv = [str(python), str(PYTEST_DRIVER), "-p", "no:cacheprovider", "-c", str(ini),
                f"--rootdir={test_dir}", f"--junitxml={report}", "-o", "junit_family=xunit1",
                *pytest_args, str(test_dir / name)]
        env = {**os.environ, **environment_for_tests(self.checkout, self.layout, self.values, self.ports),
               "BAREOS_SYSTEMTESTS_SKIPS": json.dumps(PLUGIN_SKIPS)}
        self.say(f"\n== {name}")
        completed = subprocess.run(argv, cwd=self.layout.root, env=env)
        if not report.is_file():
            return FileResult(name, problem=f"pytest exited {completed.returncode} without a report")
        return read_junit(report, name)

    def run(self, files: Sequence[str], pytest_args: Sequence[str]) -> list[FileResult]:
        self.prepare()
        self.check_configuration()
        python = self.venv_python()
        results: list[FileResult] = []
        try:
            self.start_daemons()
            for name in files:
                results.append(self.run_file(python, name, pytest_args))
                stopped = [p for p in self.daemons if not p.running]
                if stopped:  # the files after this one would only fail to connect
                    results[-1].problem = "; ".join(
                        f"{p.plugin} exited with status {p.returncode} (log: {p.log_path})" for p in stopped)
                    break
            return results
        finally:
            self.stop_daemons()


def choose_test_files(checkout: Path, requested: Sequence[str]) -> list[str]:
    """The files to run: *requested*, else the default list (optional ones only if present)."""
    test_dir = checkout / TEST_SOURCE
    if requested:
        missing = [name for name in requested if not (test_dir / name).is_file()]
        if missing:
            raise SystemTestsError(f"no such test file in {test_dir}: {', '.join(missing)}")
        return list(requested)
    return [name for name in DEFAULT_TEST_FILES
            if name not in OPTIONAL_TEST_FILES or (test_dir / name).is_file()]


HELP = """\
What a run does:
  1. renders CHECKOUT/systemtests/tests/python-bareos/etc/bareos/ into a temporary test
     directory (etc/bareos, working, tmp, log, storage, as Bareos' build lays it out): each
     X.conf.in becomes X.conf with its CMake @VAR@ placeholders replaced by what Bareos'
     systemtests CMake files give them (free loopback ports, the test directory's paths, the
     passwords dir_password/fd_password/sd_password); a placeholder it does not know stops
     the run; other files are copied unchanged;
  2. unpacks the backup data and writes the file lists as the test's test-setup does;
  3. has the director, storage and file daemon check the configuration (twistd ... -t): a
     refused configuration stops the run with the daemon's reason; the directives they
     accept but do not act on are listed;
  4. starts the three daemons (twistd; catalog SQLite, or PostgreSQL with --postgresql);
  5. runs each test file unchanged with pytest in the python-bareos venv (pytest is added
     to it by PYBAREOS_WITH_PYTEST=yes scripts/pybareos-venv), the test directory as the
     working directory and the variables bareos_unittest reads set (BAREOS_DIRECTOR_PORT,
     dir_password, BackupDirectory, ...); tests that need a file daemon plugin are skipped
     with their reason;
  6. prints passed/failed/skipped per file and in total, one line per failing and skipped
     test, and stops the daemons by PID (also on ^C or SIGTERM).
Nothing is written into the checkout. --keep keeps the test directory (daemon logs, JUnit
reports of each file).
"""


def parse_args(argv: Sequence[str]) -> tuple[argparse.Namespace, list[str]]:
    parser = argparse.ArgumentParser(
        prog="bareos-systemtests", usage="%(prog)s [options] CHECKOUT [pytest args]", allow_abbrev=False,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Run Bareos' python-bareos system tests (systemtests/tests/python-bareos of a Bareos "
                    "checkout) unchanged against our director, storage daemon and file daemon, loaded "
                    "with that directory's own configuration.",
        epilog=HELP + "\nAny further arguments go to pytest (e.g. -k list_jobs, -x, -v).\n"
                      "Exit status: 0 all passed, 1 some failed, 2 the run could not be made.")
    parser.add_argument("checkout", type=Path, help="a Bareos source checkout (read only)")
    parser.add_argument("--file", dest="files", action="append", default=[], metavar="test_X.py",
                        help="run this test file (repeatable); default: "
                             + " ".join(DEFAULT_TEST_FILES) + " (test_list_jobs.py only if present)")
    parser.add_argument("--postgresql", action="store_true",
                        help="catalog on a private PostgreSQL cluster started for the run (default: SQLite)")
    parser.add_argument("--keep", action="store_true",
                        help="keep the test directory (configuration, logs, JUnit reports) afterwards")
    parser.add_argument("--venv", type=Path,
                        default=Path(os.environ.get("PYBAREOS_VENV") or REPO_ROOT / ".venv-pybareos"),
                        help="the python-bareos venv (made, or given pytest, by PYBAREOS_WITH_PYTEST=yes "
                             "scripts/pybareos-venv; default $PYBAREOS_VENV or <repo>/.venv-pybareos)")
    return parser.parse_known_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> int:
    args, pytest_args = parse_args(sys.argv[1:] if argv is None else argv)
    # a SIGTERM unwinds like ^C does, so the daemons (and PostgreSQL) started here are stopped
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    checkout = args.checkout.resolve()
    root = Path(tempfile.mkdtemp(prefix="bareos-systemtests-"))
    postgres = None
    results: list[FileResult] = []
    try:
        files = choose_test_files(checkout, args.files)
        if args.postgresql:
            from bareos.testing.postgres import PostgresUnavailable, start_private_postgres
            try:
                postgres = start_private_postgres(dbname=DB_NAME, user=DB_USER)
            except PostgresUnavailable as error:
                raise SystemTestsError(f"--postgresql: {error}") from None
        run = SystemTestRun(checkout, root, venv=args.venv, postgres=postgres)
        print(f"test directory: {root}", flush=True)
        results = run.run(files, pytest_args)
    except SystemTestsError as error:
        print(f"bareos-systemtests: {error}", file=sys.stderr)
        return 2
    finally:
        if postgres is not None:
            postgres.stop()
        if args.keep or any(r.problem for r in results):  # a daemon died: its log is in there
            print(f"kept: {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    print("\n" + summary(results))
    return 0 if all(r.failed == 0 and r.problem is None for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
