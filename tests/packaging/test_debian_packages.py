"""Build the Debian packages, lint them, install them on this machine, run them, purge them.

The whole life of the packages in one test, as an administrator would see it:

1. ``dpkg-buildpackage -us -uc -b`` in a copy of the checkout (Debian's own build
   dependencies), and python3-txpostgres from txpostgres' release with
   debian/txpostgres/build-deb;
2. lintian: no errors (warnings are printed);
3. ``apt-get install ./*.deb``; the user, the configuration and the directories are
   checked;
4. the three daemons are started with the command lines of the systemd units (as
   subprocesses: there is no systemd here), ``status director``, then each is reloaded
   by its unit's ExecReload lines (``-t``, then SIGHUP to $MAINPID, as ``systemctl
   reload``), a Full backup of the default FileSet and its restore go through the
   packaged bconsole;
5. ``apt-get remove`` keeps the configuration, ``apt-get purge`` removes
   /etc/bareos, /var/lib/bareos and /var/log/bareos.

It changes the machine (root only): it refuses to start when a Bareos installation
it did not make is present, and it stops what it started and purges what it
installed, also when it fails.
"""

import filecmp
import os
import pwd
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from packaging_helpers import (IN_CI, IS_ROOT, REPO, SYSTEM_PATH, apt_get,
                               require_debian_packages)

pytestmark = pytest.mark.slow

OUR_PACKAGES = ["bareos-twisted-director", "bareos-twisted-filedaemon", "bareos-twisted-storage",
                "bareos-twisted-bconsole", "bareos-twisted-traymonitor", "python3-bareos-twisted",
                "python3-txpostgres"]
BUILD_DEPENDS = ["build-essential", "dpkg-dev", "debhelper", "dh-python",
                 "pybuild-plugin-pyproject", "python3-all", "python3-setuptools", "lintian"]
UNIT_DIR = Path("/lib/systemd/system")
DAEMONS = [("bareos-twisted-storage.service", 9103), ("bareos-twisted-filedaemon.service", 9102),
           ("bareos-twisted-director.service", 9101)]
STATE_PATHS = [Path("/etc/bareos"), Path("/var/lib/bareos"), Path("/var/log/bareos")]
BACKED_UP = Path("/usr/sbin")            # the default FileSet SelfTest


_log_started = []    # time.monotonic() of the first log line


def log(message):
    if not _log_started:
        _log_started.append(time.monotonic())
    print(f"[{time.monotonic() - _log_started[0]:6.1f}s] {message}", flush=True)


def run(command, *, cwd=None, timeout=600, check=True, **kwargs):
    env = dict(os.environ, PATH=SYSTEM_PATH, LC_ALL="C.UTF-8")
    env.pop("VIRTUAL_ENV", None)
    env.pop("PYTHONPATH", None)
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True,
                            timeout=timeout, **kwargs)
    if check and result.returncode != 0:
        raise AssertionError(f"{command} failed ({result.returncode}):\n"
                             f"{result.stdout[-6000:]}\n{result.stderr[-6000:]}")
    return result


def installed(package):
    result = run(["dpkg-query", "-W", "-f=${db:Status-Status}", package], check=False)
    return result.stdout.strip()


def installed_set():
    out = run(["dpkg-query", "-W", "-f=${Package}\t${db:Status-Status}\n"]).stdout
    return {line.split("\t")[0] for line in out.splitlines() if line.endswith("\tinstalled")}


def port_open(port):
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def refuse(reason):
    if IN_CI:
        pytest.fail(reason)
    pytest.skip(reason)


# -- building ---------------------------------------------------------------------

def copy_checkout(target):
    """Tracked and untracked-but-not-ignored files of the checkout (the work tree as is)."""
    listing = subprocess.run(["git", "ls-files", "-z", "-co", "--exclude-standard"], cwd=REPO,
                             capture_output=True, check=True).stdout.split(b"\0")
    for name in filter(None, listing):
        relative = name.decode()
        source = REPO / relative
        if relative.startswith("run/") or not source.exists():
            continue
        (target / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target / relative, follow_symlinks=False)


def build_packages(tmp_path):
    source = tmp_path / "build" / "bareos-twisted"
    source.mkdir(parents=True)
    copy_checkout(source)
    run(["dpkg-buildpackage", "-us", "-uc", "-b"], cwd=source)
    debs = sorted((tmp_path / "build").glob("*.deb"))
    changes = sorted((tmp_path / "build").glob("*.changes"))

    sdist_dir = tmp_path / "sdist"
    subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                    "--no-binary", ":all:", "--dest", str(sdist_dir), "txpostgres==1.7.0"],
                   check=True, capture_output=True, timeout=300)
    sdist = next(sdist_dir.glob("txpostgres-1.7.0.tar.*"))
    txpg = tmp_path / "txpostgres"
    run([str(source / "debian" / "txpostgres" / "build-deb"), str(txpg), str(sdist)])
    return debs + sorted(txpg.glob("*.deb")), changes + sorted(txpg.glob("*.changes"))


def lint(changes):
    tags = []
    for path in changes:
        result = run(["lintian", "--no-tag-display-limit", str(path)], check=False, timeout=600)
        assert result.returncode in (0, 1, 2), result.stderr
        tags += [line for line in result.stdout.splitlines() if re.match(r"[EWIPNX]: ", line)]
    for line in tags:
        if not line.startswith("N: "):
            print("lintian:", line)
    errors = [line for line in tags if line.startswith("E: ")]
    assert errors == [], "lintian errors:\n" + "\n".join(errors)


# -- running the daemons as their units do ----------------------------------------

def unit_settings(unit):
    settings = {}
    for line in (UNIT_DIR / unit).read_text().splitlines():
        line = line.strip()
        if line and not line.startswith(("#", ";", "[")) and "=" in line:
            key, value = line.split("=", 1)
            settings.setdefault(key.strip(), []).append(value.strip())
    return settings


def as_unit_user(settings):
    """subprocess options that run a command as the unit's User/Group, in its directory."""
    options = {"cwd": settings.get("WorkingDirectory", ["/"])[0]}
    if "User" in settings:
        options.update(user=settings["User"][0], group=settings["Group"][0], extra_groups=[])
    if "UMask" in settings:
        umask = int(settings["UMask"][0], 8)
        options["preexec_fn"] = lambda: os.umask(umask)
    return options


class Daemons:
    def __init__(self, logdir):
        self.logdir = logdir
        self.procs = []

    def start(self, unit, port):
        settings = unit_settings(unit)
        options = as_unit_user(settings)
        for check in settings.get("ExecStartPre", []):
            run(shlex.split(check), **options)
        argv = shlex.split(settings["ExecStart"][0])
        output = open(self.logdir / f"{unit}.log", "w")
        env = dict(os.environ, PATH=SYSTEM_PATH)
        env.pop("VIRTUAL_ENV", None)
        proc = subprocess.Popen(argv, stdout=output, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, env=env, **options)
        self.procs.append((unit, proc))
        deadline = time.monotonic() + 30
        while not port_open(port):
            assert proc.poll() is None, f"{unit} exited:\n{self.tail(unit)}"
            assert time.monotonic() < deadline, f"{unit} did not listen on {port}:\n{self.tail(unit)}"
            time.sleep(0.2)
        log(f"{unit}: {' '.join(argv)} (pid {proc.pid}, user {options.get('user', 'root')})")

    def reload(self, unit):
        """What ``systemctl reload`` does: the unit's ExecReload lines (``-t``, then SIGHUP to
        $MAINPID) as its user; the daemon must log that it read its configuration again."""
        settings = unit_settings(unit)
        proc = dict(self.procs)[unit]
        reloaded = "configuration reloaded from"
        before = self.output(unit).count(reloaded)
        for command in settings["ExecReload"]:
            run([arg.replace("$MAINPID", str(proc.pid)) for arg in shlex.split(command)],
                **as_unit_user(settings))
        deadline = time.monotonic() + 30
        while self.output(unit).count(reloaded) == before:
            assert proc.poll() is None, f"{unit} exited on reload:\n{self.tail(unit)}"
            assert time.monotonic() < deadline, f"{unit} did not reload:\n{self.tail(unit)}"
            time.sleep(0.2)
        log(f"{unit}: reloaded by its ExecReload (pid {proc.pid})")

    def output(self, unit):
        return (self.logdir / f"{unit}.log").read_text()

    def tail(self, unit):
        return self.output(unit)[-3000:]

    def stop(self):
        for unit, proc in reversed(self.procs):
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    os.kill(proc.pid, signal.SIGKILL)
                    proc.wait(5)
        self.procs = []


def bconsole(commands, timeout=300):
    result = run(["/usr/bin/bconsole", "-c", "/etc/bareos/bconsole.conf"],
                 input="".join(c + "\n" for c in commands), timeout=timeout, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def run_and_wait(command):
    output = bconsole([command])
    match = re.search(r"Job queued\. JobId=(\d+)", output)
    assert match, output
    jobid = match.group(1)
    waited = bconsole([f"wait jobid={jobid}", "messages"])
    status = re.search(r"JobStatus=.*\((\w)\)", waited)
    assert status and status.group(1) == "T", output + waited
    return output + waited


def same_tree(left, right):
    """Names, types, modes and regular files' contents of two trees (first difference)."""
    for directory, dirnames, filenames in os.walk(left):
        other = right / Path(directory).relative_to(left)
        for name in sorted(dirnames + filenames):
            a, b = Path(directory) / name, other / name
            if not os.path.lexists(b):
                return f"{b} missing"
            sa, sb = os.lstat(a), os.lstat(b)
            if sa.st_mode != sb.st_mode:
                return f"{b}: mode {oct(sb.st_mode)} != {oct(sa.st_mode)}"
            if os.path.islink(a):
                if os.readlink(a) != os.readlink(b):
                    return f"{b}: link target differs"
            elif os.path.isfile(a) and not filecmp.cmp(a, b, shallow=False):
                return f"{b}: contents differ"
    return None


# -- installing and purging ---------------------------------------------------------

def purge_ours():
    present = [p for p in OUR_PACKAGES if installed(p) not in ("", "not-installed")]
    if present:
        apt_get("purge", *present)


def foreign_bareos():
    """A Bareos installation this test did not make (then it must not touch it)."""
    ours = any(installed(p) not in ("", "not-installed") for p in OUR_PACKAGES)
    if ours:
        return None                      # a leftover of an earlier run: purged below
    if any(p.exists() for p in STATE_PATHS):
        return f"{', '.join(str(p) for p in STATE_PATHS if p.exists())} exist(s)"
    busy = [port for port in (9101, 9102, 9103) if port_open(port)]
    if busy:
        return f"ports {busy} are in use"
    return None


def test_build_lint_install_run_backup_restore_purge(tmp_path):
    if not IS_ROOT:
        refuse("installs Debian packages: needs root")
    log("start")
    require_debian_packages(*BUILD_DEPENDS)
    foreign = foreign_bareos()
    if foreign:
        refuse(f"a Bareos installation not made by this test is present: {foreign}")
    purge_ours()
    log("build dependencies present, no earlier installation left")

    debs, changes = build_packages(tmp_path)
    names = sorted(p.name.split("_")[0] for p in debs)
    assert names == sorted(OUR_PACKAGES), names
    log(f"built {', '.join(p.name for p in debs)}")
    lint(changes)
    log("lintian: no errors")

    before = installed_set()
    daemons = Daemons(tmp_path)
    restored = tmp_path / "restored"
    try:
        # Recommends (the tray monitor's Qt, 38 packages) are optional by definition and
        # not what this test checks: they would only lengthen it.
        apt_get("install", "--no-install-recommends",
                *(f"./{p.relative_to(tmp_path)}" for p in debs), cwd=tmp_path)
        log("installed with apt-get install ./*.deb")
        check_installation()
        log("user, configuration, directories and plugin cache checked")

        for unit, port in DAEMONS:
            daemons.start(unit, port)
        status = bconsole(["status director"])
        assert "bareos-dir Version:" in status and "Scheduled Jobs:" in status, status
        assert "backup-bareos-fd" in status, status
        log("status director through the packaged bconsole")
        for unit, _ in DAEMONS:         # the backup below runs on the reloaded daemons
            daemons.reload(unit)

        backup = run_and_wait("run job=backup-bareos-fd level=Full yes")
        assert "Backup OK" in backup, backup
        log("Full backup of /usr/sbin: OK")
        restore = run_and_wait(f"restore client=bareos-fd select current all done yes "
                               f"where={restored}")
        assert "Restore OK" in restore, restore
        difference = same_tree(BACKED_UP, restored / BACKED_UP.relative_to("/"))
        assert difference is None, difference
        log("restore: OK, identical to /usr/sbin")
        daemons.stop()

        apt_get("remove", *OUR_PACKAGES)
        assert Path("/etc/bareos/bareos-dir.d").is_dir(), "remove must keep the configuration"
        assert installed("bareos-twisted-director") == "config-files"
        log("apt-get remove kept the configuration")
        purge_ours()            # what remove left (packages without conffiles are gone)
        left = [str(p) for p in STATE_PATHS if p.exists()]
        assert left == [], f"purge left {left}"
        assert all(installed(p) in ("", "not-installed") for p in OUR_PACKAGES)
        assert not list(Path("/usr/lib/python3/dist-packages/twisted/plugins").glob("bareos_*"))
        log("apt-get purge removed /etc/bareos, /var/lib/bareos and /var/log/bareos")
    except BaseException:
        for unit, _ in daemons.procs:
            print(f"--- {unit} output\n{daemons.tail(unit)}")
        raise
    finally:
        daemons.stop()
        purge_ours()
        for path in STATE_PATHS:           # what a purge that failed half-way left
            if path.exists() and not any(installed(p) not in ("", "not-installed")
                                         for p in OUR_PACKAGES):
                shutil.rmtree(path, ignore_errors=True)
        added = sorted(installed_set() - before)
        if added:
            apt_get("purge", *added)       # the dependencies this test brought in
            log(f"purged the dependencies the installation added: {' '.join(added)}")


def check_installation():
    user = pwd.getpwnam("bareos")
    assert user.pw_uid < 1000 and user.pw_dir == "/var/lib/bareos"
    etc = Path("/etc/bareos")
    for tree in ("bareos-dir.d", "bareos-fd.d", "bareos-sd.d"):
        assert (etc / tree).is_dir(), tree
    assert (etc / "bconsole.conf").is_file()
    assert oct(os.stat(etc / ".passwords").st_mode & 0o777) == "0o600"
    director_conf = etc / "bareos-dir.d" / "director" / "bareos-dir.conf"
    assert os.stat(director_conf).st_gid == user.pw_gid
    assert oct(os.stat(director_conf).st_mode & 0o777) == "0o640"
    for directory in ("/var/lib/bareos", "/var/log/bareos", "/var/lib/bareos/storage"):
        assert os.stat(directory).st_uid == user.pw_uid, directory
    secrets = dict(line.split("=", 1) for line in (etc / ".passwords").read_text().splitlines()
                   if "=" in line and not line.startswith("#"))
    fd_side = (etc / "bareos-fd.d" / "director" / "bareos-dir.conf").read_text()
    assert secrets["CLIENT_PASSWORD"] in fd_side
    assert secrets["DIRECTOR_PASSWORD"] in (etc / "bconsole.conf").read_text()
    helptext = run(["/usr/bin/twistd3", "--help"]).stdout
    assert all(p in helptext for p in ("bareos-dir", "bareos-fd", "bareos-sd"))
    assert Path("/usr/share/man/man8/bareos-dir.8.gz").exists()
    assert Path("/usr/share/man/man1/bconsole.1.gz").exists()
    for unit, _ in DAEMONS:
        assert (UNIT_DIR / unit).exists(), unit
