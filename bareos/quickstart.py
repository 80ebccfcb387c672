"""A complete single-host configuration, and the quickstart that runs it.

``write_single_host_config`` writes the director, file daemon, storage daemon
and bconsole configuration for one machine (everything on loopback, SQLite
catalog, file volumes under one directory) in Bareos' ``<daemon>.d/<type>/``
layout with fresh passwords.  ``python -m bareos.quickstart`` uses it under
``./run/quickstart``, starts the three daemons and shows how to reach them.

``write_system_config`` (``python -m bareos.quickstart config -c /etc/bareos
--system --daemon dir``) writes the same defaults for an installed system, one
daemon's part at a time, with the passwords all parts share kept in one
root-only file (``<config>/.passwords``): the Debian packages' postinst scripts
call it, whatever order they are configured in.
"""

import argparse
import filecmp
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from bareos.config.writer import (Quoted, Resource, Verbatim, destination, resource,
                                  resource_files, write_file, write_tree)

DAEMONS = {"dir": "bareos-dir", "fd": "bareos-fd", "sd": "bareos-sd"}


def single_host_resources(root, ports=(9101, 9102, 9103), host="127.0.0.1",
                          backup_source=None, director_name="bareos-dir",
                          client_name="bareos-fd", storage_name="bareos-sd", *,
                          passwords=None, working_directory=None, volumes=None,
                          log_directory=None, restore_where=None):
    """``{daemon: {"<type>/<name>.conf": text}}`` plus bconsole's text, for one host.

    By default everything lives under ``root``.  The keyword-only options place it
    elsewhere (an installed system): ``passwords`` is ``{"dir", "fd", "sd": str}``
    (fresh ones when omitted), ``working_directory`` is shared by the three daemons,
    ``volumes`` is the storage daemon's volume directory, ``log_directory`` receives
    the Append files of the Messages resources, ``restore_where`` is RestoreFiles' Where.
    """
    root = Path(root)
    dir_port, fd_port, sd_port = ports
    if working_directory is None:
        work = {d: root / "var" / d for d in DAEMONS}
    else:
        work = {d: Path(working_directory) for d in DAEMONS}
    volumes = Path(volumes) if volumes is not None else root / "var" / "volumes"
    logs = ({d: Path(log_directory) for d in DAEMONS} if log_directory is not None
            else work)
    source = Path(backup_source or root / "data")
    where = Path(restore_where or root / "restore")
    passwords = passwords or {}
    dir_pw, fd_pw, sd_pw = (Quoted(passwords.get(d) or secrets.token_urlsafe(24))
                            for d in ("dir", "fd", "sd"))
    fd_messages = "all, !skipped, !restored"
    pools = [Resource("Pool", {"Name": name, "Pool Type": "Backup",
                               "Label Format": Quoted(f"{name}-"),
                               "Maximum Volume Bytes": size, "Maximum Volumes": 100})
             for name, size in (("Full", "50G"), ("Incremental", "1G"), ("Differential", "10G"))]
    director = resource_files(
        Resource("Director", {
            "Name": director_name, "DirAddress": host, "DirPort": dir_port,
            "Password": dir_pw, "Working Directory": work["dir"], "Messages": "Daemon",
            "Maximum Concurrent Jobs": 10}),
        Resource("Client", {"Name": client_name, "Address": host, "Port": fd_port,
                            "Password": fd_pw}),
        Resource("Storage", {"Name": "File", "Address": host, "Port": sd_port,
                             "Password": sd_pw, "Device": "FileStorage", "Media Type": "File"}),
        Resource("Catalog", {"Name": "MyCatalog", "DB Driver": "sqlite3", "DB Name": "bareos"}),
        Resource("Messages", {"Name": "Daemon", "Console": "all",
                              "Append": destination(logs["dir"] / "bareos.log")}),
        Resource("Messages", {"Name": "Standard", "Console": "all", "Catalog": "all",
                              "Append": destination(logs["dir"] / "bareos.log")}),
        *pools,
        Resource("FileSet", {"Name": "SelfTest",
                             "Include": {"Options": {"Signature": "MD5"}, "File": source}}),
        Resource("Schedule", {"Name": "WeeklyCycle", "Run": [
            Verbatim("Level=Full 1st sat at 21:00"),
            Verbatim("Level=Differential 2nd-5th sat at 21:00"),
            Verbatim("Level=Incremental mon-fri at 21:00")]}),
        Resource("JobDefs", {
            "Name": "DefaultJob", "Type": "Backup", "Level": "Incremental",
            "Client": client_name, "FileSet": "SelfTest", "Schedule": "WeeklyCycle",
            "Storage": "File", "Messages": "Standard", "Pool": "Incremental", "Priority": 10,
            "Full Backup Pool": "Full", "Differential Backup Pool": "Differential",
            "Incremental Backup Pool": "Incremental"}),
        Resource("Job", {"Name": f"backup-{client_name}", "JobDefs": "DefaultJob"}),
        Resource("Job", {"Name": "RestoreFiles", "Type": "Restore", "Client": client_name,
                         "FileSet": "SelfTest", "Storage": "File", "Pool": "Incremental",
                         "Messages": "Standard", "Where": where}),
    )
    filedaemon = resource_files(
        Resource("Client", {"Name": client_name, "FdAddress": host, "FdPort": fd_port,
                            "Working Directory": work["fd"]}),
        Resource("Director", {"Name": director_name, "Password": fd_pw}),
        Resource("Messages", {
            "Name": "Standard", "Director": destination(director_name, fd_messages),
            "Append": destination(logs["fd"] / "bareos-fd.log", fd_messages)}),
    )
    storagedaemon = resource_files(
        Resource("Storage", {"Name": storage_name, "SdAddress": host, "SdPort": sd_port,
                             "Working Directory": work["sd"]}),
        Resource("Director", {"Name": director_name, "Password": sd_pw}),
        Resource("Device", {
            "Name": "FileStorage", "Media Type": "File", "Archive Device": volumes,
            "Device Type": "File", "Label Media": True, "Random Access": True,
            "Automatic Mount": True, "Removable Media": False, "Always Open": False}),
        Resource("Messages", {"Name": "Standard", "Director": destination(director_name)}),
    )
    bconsole = resource("Director", {"Name": director_name, "Address": host,
                                      "DirPort": dir_port, "Password": dir_pw})
    return {"dir": director, "fd": filedaemon, "sd": storagedaemon}, bconsole, work, volumes


def write_single_host_config(root, **options):
    """Write ``etc/bareos-{dir,fd,sd}.d`` and ``etc/bconsole.conf`` under ``root``."""
    root = Path(root)
    trees, bconsole, work, volumes = single_host_resources(root, **options)
    etc = root / "etc"
    for daemon, files in trees.items():
        write_tree(etc / f"{DAEMONS[daemon]}.d", files)
    write_file(etc / "bconsole.conf", bconsole)
    for directory in list(work.values()) + [volumes, root / "data", root / "restore"]:
        directory.mkdir(parents=True, exist_ok=True)
    return etc


# -- an installed system (the Debian packages' postinst) -------------------------

#: Debian's places, as the packages create them.
SYSTEM_LAYOUT = {
    "working_directory": "/var/lib/bareos",
    "volumes": "/var/lib/bareos/storage",
    "log_directory": "/var/log/bareos",
    "restore_where": "/tmp/bareos-restores",
    "backup_source": "/usr/sbin",
}
PASSWORDS_FILE = ".passwords"
_PASSWORD_KEYS = {"dir": "DIRECTOR_PASSWORD", "fd": "CLIENT_PASSWORD", "sd": "STORAGE_PASSWORD"}
CONFIG_PARTS = ("dir", "fd", "sd", "bconsole")


def shared_passwords(path):
    """The passwords every part of one host's configuration shares, from ``path``.

    The first caller creates the file (mode 0600, ``KEY=value`` lines) with fresh
    passwords; later callers read it, so the director, file daemon, storage daemon
    and bconsole configurations written at different times still match.  Keys
    missing from an existing file are added.
    """
    path = Path(path)
    values = {}
    if path.exists():
        for line in path.read_text().splitlines():
            key, sep, value = line.strip().partition("=")
            if sep and not key.startswith("#"):
                values[key.strip()] = value.strip()
    missing = [k for k in _PASSWORD_KEYS.values() if not values.get(k)]
    if missing:
        for key in missing:
            values[key] = secrets.token_urlsafe(24)
        text = ("# Passwords shared by this host's Bareos configuration "
                "(written once, read by every package's setup).\n"
                + "".join(f"{k}={values[k]}\n" for k in _PASSWORD_KEYS.values()))
        tmp = path.with_name(path.name + ".new")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.replace(tmp, path)
    return {daemon: values[key] for daemon, key in _PASSWORD_KEYS.items()}


def write_system_config(config_dir="/etc/bareos", parts=CONFIG_PARTS, group=None,
                        **options):
    """Write the single-host defaults of ``parts`` under ``config_dir``.

    ``parts`` names some of ``dir``, ``fd``, ``sd`` and ``bconsole``.  A part whose
    configuration already exists (``bareos-dir.d/``, ``bconsole.conf``, ...) is left
    alone, so running this again (a package upgrade) changes nothing.  Passwords
    come from ``shared_passwords(config_dir/.passwords)``.  ``group`` (a group name
    or gid) owns the written files and directories (mode 0640/0750) when given.
    ``options`` go to ``single_host_resources``.  Returns the paths written.
    """
    import grp

    config_dir = Path(config_dir)
    config_dir.mkdir(parents=True, exist_ok=True)
    gid = None
    if group is not None:
        gid = group if isinstance(group, int) else grp.getgrnam(group).gr_gid
    options.setdefault("passwords", shared_passwords(config_dir / PASSWORDS_FILE))
    trees, bconsole, _work, _volumes = single_host_resources(config_dir, **options)
    written = []
    for part in parts:
        if part == "bconsole":
            target = config_dir / "bconsole.conf"
            if not target.exists():
                write_file(target, bconsole, group=gid)
                written.append(target)
            continue
        if part not in DAEMONS:
            raise ValueError(f"unknown part {part!r} (one of {', '.join(CONFIG_PARTS)})")
        tree = config_dir / f"{DAEMONS[part]}.d"
        if tree.exists() or (config_dir / f"{DAEMONS[part]}.conf").exists():
            continue
        staging = config_dir / f".{DAEMONS[part]}.d.new"
        write_tree(staging, trees[part], group=gid)
        for directory in [staging] + [p for p in staging.rglob("*") if p.is_dir()]:
            if gid is not None:
                os.chown(directory, 0, gid)
            directory.chmod(0o750)
        os.replace(staging, tree)
        written.append(tree)
    return written


def config_main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python3 -m bareos.quickstart config",
        description="Write single-host default configuration (director, file daemon, "
                    "storage daemon, bconsole on loopback, SQLite catalog) with shared "
                    "fresh passwords; parts that exist already are left alone.")
    parser.add_argument("-c", "--config", default="/etc/bareos",
                        help="configuration directory (default: %(default)s)")
    parser.add_argument("-d", "--daemon", dest="parts", action="append",
                        choices=CONFIG_PARTS,
                        help="part to write (repeatable; default: all)")
    parser.add_argument("--system", action="store_true",
                        help="Debian's places: state in /var/lib/bareos, volumes in "
                             "/var/lib/bareos/storage, logs in /var/log/bareos")
    parser.add_argument("--group", help="group owning the files (e.g. bareos)")
    for option in SYSTEM_LAYOUT:
        parser.add_argument("--" + option.replace("_", "-"), dest=option)
    args = parser.parse_args(argv)
    options = dict(SYSTEM_LAYOUT) if args.system else {}
    options.update({k: getattr(args, k) for k in SYSTEM_LAYOUT if getattr(args, k)})
    for path in write_system_config(args.config, tuple(args.parts or CONFIG_PARTS),
                                    args.group, **options):
        print(f"wrote {path}")
    return 0


# -- the quickstart command -----------------------------------------------------

def _twistd(root, daemon, etc):
    log = root / "var" / daemon / f"{DAEMONS[daemon]}.log"
    pidfile = root / "var" / daemon / f"{DAEMONS[daemon]}.pid"
    return [sys.executable, "-c", "from twisted.scripts.twistd import run; run()",
            f"--pidfile={pidfile}", f"--logfile={log}", DAEMONS[daemon], "-c", str(etc)], pidfile, log


def _wait_for_port(port, seconds=30):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return True
        time.sleep(0.2)
    return False


def start(root):
    root = Path(root).resolve()
    etc = root / "etc"
    if not etc.exists():
        write_single_host_config(root)
        _seed_sample_data(root / "data")
    for daemon, port in zip(("sd", "fd", "dir"), (9103, 9102, 9101)):
        argv, pidfile, log = _twistd(root, daemon, etc)
        if _running(pidfile):
            print(f"{DAEMONS[daemon]} already running (pid {pidfile.read_text().strip()})")
            continue
        subprocess.run(argv, check=True)
        if not _wait_for_port(port):
            print(f"{DAEMONS[daemon]} did not start; see {log}", file=sys.stderr)
            return 1
        print(f"{DAEMONS[daemon]} listening on 127.0.0.1:{port} (log: {log})")
    return 0


def _running(pidfile):
    try:
        return _alive(int(pidfile.read_text().strip()))
    except (OSError, ValueError):
        return False


def stop(root):
    root = Path(root).resolve()
    for daemon in ("dir", "fd", "sd"):
        pidfile = root / "var" / daemon / f"{DAEMONS[daemon]}.pid"
        if _running(pidfile):
            pid = int(pidfile.read_text().strip())
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + 15
            while _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.1)
            print(f"stopped {DAEMONS[daemon]}")
    return 0


def _alive(pid):
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def _bconsole(root, commands):
    result = subprocess.run(
        [sys.executable, "-m", "bareos.console.main", "-c", str(root / "etc" / "bconsole.conf")],
        input=commands, text=True, capture_output=True, timeout=600)
    if result.returncode != 0:
        raise RuntimeError(f"bconsole failed: {result.stderr.strip()}")
    return result.stdout


def _run_and_wait(root, command):
    output = _bconsole(root, command + "\n")
    if "Job queued. JobId=" not in output:
        raise RuntimeError(f"{command!r} did not start a job:\n{output}")
    jobid = output.split("Job queued. JobId=")[1].split()[0]
    waited = _bconsole(root, f"wait jobid={jobid}\n")
    status = waited.split("JobStatus=")[1].split("\n")[0] if "JobStatus=" in waited else "?"
    return jobid, status


def first_backup_and_restore(root):
    """Back up the sample data, restore it under ``restore/`` and compare the two trees."""
    root = Path(root).resolve()
    data, restored = root / "data", root / "restore"
    jobid, status = _run_and_wait(root, "run job=backup-bareos-fd level=Full yes")
    print(f"backup:  JobId {jobid} of {data}: {status}")
    rjobid, rstatus = _run_and_wait(root, "restore client=bareos-fd select current all done yes")
    copy = Path(str(restored) + str(data))
    same = _same_tree(data, copy)
    print(f"restore: JobId {rjobid} into {copy}: {rstatus}; "
          f"{'identical to' if same else 'DIFFERENT from'} {data}")
    return 0 if same and "OK" in status and "OK" in rstatus else 1


def _same_tree(left, right):
    comparison = filecmp.dircmp(left, right)
    if comparison.left_only or comparison.right_only or comparison.funny_files:
        return False
    _, mismatch, errors = filecmp.cmpfiles(left, right, comparison.common_files, shallow=False)
    if mismatch or errors:
        return False
    return all(_same_tree(left / name, right / name) for name in comparison.common_dirs)


def _seed_sample_data(directory):
    (directory / "README").write_text("Files to back up in the quickstart.\n")
    (directory / "sub").mkdir(exist_ok=True)
    (directory / "sub" / "random.bin").write_bytes(os.urandom(1 << 20))


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["config"]:
        return config_main(argv[1:])
    parser = argparse.ArgumentParser(description="Run the suite on this host, on loopback.")
    parser.add_argument("action", nargs="?", default="start", choices=("start", "stop", "demo"),
                        help="start or stop the daemons, or run the demo backup and restore; "
                             "'config -h' tells about writing a system configuration")
    parser.add_argument("--root", default="run/quickstart",
                        help="where configuration, state, volumes and logs go")
    args = parser.parse_args(argv)
    if args.action == "stop":
        return stop(args.root)
    if args.action == "demo":
        return first_backup_and_restore(args.root)
    return start(args.root)


if __name__ == "__main__":
    sys.exit(main())
