"""A complete single-host configuration, and the quickstart that runs it.

``write_single_host_config`` writes the director, file daemon, storage daemon
and bconsole configuration for one machine (everything on loopback, SQLite
catalog, file volumes under one directory) in Bareos' ``<daemon>.d/<type>/``
layout with fresh passwords.  ``python -m bareos.quickstart`` uses it under
``./run/quickstart``, starts the three daemons and shows how to reach them.
"""

import argparse
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

DAEMONS = {"dir": "bareos-dir", "fd": "bareos-fd", "sd": "bareos-sd"}


def _resource(kind, directives):
    body = "".join(f"  {line}\n" for line in directives)
    return f"{kind} {{\n{body}}}\n"


def single_host_resources(root, ports=(9101, 9102, 9103), host="127.0.0.1",
                          backup_source=None, director_name="bareos-dir",
                          client_name="bareos-fd", storage_name="bareos-sd"):
    """``{daemon: {"<type>/<name>.conf": text}}`` plus bconsole's text, for one host."""
    root = Path(root)
    dir_port, fd_port, sd_port = ports
    work = {d: root / "var" / d for d in DAEMONS}
    volumes = root / "var" / "volumes"
    source = backup_source or str(root / "data")
    dir_pw, fd_pw, sd_pw = (secrets.token_urlsafe(24) for _ in range(3))
    director = {
        f"director/{director_name}.conf": _resource("Director", [
            f"Name = {director_name}", f"DirAddress = {host}", f"DirPort = {dir_port}",
            f'Password = "{dir_pw}"', f'Working Directory = "{work["dir"]}"',
            "Messages = Daemon", "Maximum Concurrent Jobs = 10"]),
        f"client/{client_name}.conf": _resource("Client", [
            f"Name = {client_name}", f"Address = {host}", f"Port = {fd_port}",
            f'Password = "{fd_pw}"']),
        "storage/File.conf": _resource("Storage", [
            "Name = File", f"Address = {host}", f"Port = {sd_port}", f'Password = "{sd_pw}"',
            "Device = FileStorage", "Media Type = File"]),
        "catalog/MyCatalog.conf": _resource("Catalog", [
            "Name = MyCatalog", "DB Driver = sqlite3", "DB Name = bareos"]),
        "messages/Daemon.conf": _resource("Messages", [
            "Name = Daemon", "Console = all", f'Append = "{work["dir"]}/bareos.log" = all']),
        "messages/Standard.conf": _resource("Messages", [
            "Name = Standard", "Console = all", "Catalog = all",
            f'Append = "{work["dir"]}/bareos.log" = all']),
        "pool/Full.conf": _resource("Pool", [
            "Name = Full", "Pool Type = Backup", 'Label Format = "Full-"',
            "Maximum Volume Bytes = 50G", "Maximum Volumes = 100"]),
        "pool/Incremental.conf": _resource("Pool", [
            "Name = Incremental", "Pool Type = Backup", 'Label Format = "Incremental-"',
            "Maximum Volume Bytes = 1G", "Maximum Volumes = 100"]),
        "pool/Differential.conf": _resource("Pool", [
            "Name = Differential", "Pool Type = Backup", 'Label Format = "Differential-"',
            "Maximum Volume Bytes = 10G", "Maximum Volumes = 100"]),
        "fileset/SelfTest.conf": (
            "FileSet {\n  Name = SelfTest\n  Include {\n"
            "    Options {\n      Signature = MD5\n    }\n"
            f'    File = "{source}"\n  }}\n}}\n'),
        "schedule/WeeklyCycle.conf": _resource("Schedule", [
            "Name = WeeklyCycle", "Run = Level=Full 1st sat at 21:00",
            "Run = Level=Differential 2nd-5th sat at 21:00",
            "Run = Level=Incremental mon-fri at 21:00"]),
        "jobdefs/DefaultJob.conf": _resource("JobDefs", [
            "Name = DefaultJob", "Type = Backup", "Level = Incremental",
            f"Client = {client_name}", "FileSet = SelfTest", "Schedule = WeeklyCycle",
            "Storage = File", "Messages = Standard", "Pool = Incremental", "Priority = 10",
            "Full Backup Pool = Full", "Differential Backup Pool = Differential",
            "Incremental Backup Pool = Incremental"]),
        f"job/backup-{client_name}.conf": _resource("Job", [
            f"Name = backup-{client_name}", "JobDefs = DefaultJob"]),
        "job/RestoreFiles.conf": _resource("Job", [
            "Name = RestoreFiles", "Type = Restore", f"Client = {client_name}",
            "FileSet = SelfTest", "Storage = File", "Pool = Incremental", "Messages = Standard",
            f'Where = "{root / "restore"}"']),
    }
    filedaemon = {
        f"client/{client_name}.conf": _resource("Client", [
            f"Name = {client_name}", f"FdAddress = {host}", f"FdPort = {fd_port}",
            f'Working Directory = "{work["fd"]}"']),
        f"director/{director_name}.conf": _resource("Director", [
            f"Name = {director_name}", f'Password = "{fd_pw}"']),
        "messages/Standard.conf": _resource("Messages", [
            "Name = Standard", f"Director = {director_name} = all, !skipped, !restored",
            f'Append = "{work["fd"]}/bareos-fd.log" = all, !skipped, !restored']),
    }
    storagedaemon = {
        f"storage/{storage_name}.conf": _resource("Storage", [
            f"Name = {storage_name}", f"SdAddress = {host}", f"SdPort = {sd_port}",
            f'Working Directory = "{work["sd"]}"']),
        f"director/{director_name}.conf": _resource("Director", [
            f"Name = {director_name}", f'Password = "{sd_pw}"']),
        "device/FileStorage.conf": _resource("Device", [
            "Name = FileStorage", "Media Type = File", f'Archive Device = "{volumes}"',
            "Device Type = File", "Label Media = yes", "Random Access = yes",
            "Automatic Mount = yes", "Removable Media = no", "Always Open = no"]),
        "messages/Standard.conf": _resource("Messages", [
            "Name = Standard", f"Director = {director_name} = all"]),
    }
    bconsole = _resource("Director", [
        f"Name = {director_name}", f"Address = {host}", f"DirPort = {dir_port}",
        f'Password = "{dir_pw}"'])
    return {"dir": director, "fd": filedaemon, "sd": storagedaemon}, bconsole, work, volumes


def write_single_host_config(root, **options):
    """Write ``etc/bareos-{dir,fd,sd}.d`` and ``etc/bconsole.conf`` under ``root``."""
    root = Path(root)
    trees, bconsole, work, volumes = single_host_resources(root, **options)
    etc = root / "etc"
    for daemon, files in trees.items():
        for relative, text in files.items():
            path = etc / f"{DAEMONS[daemon]}.d" / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            path.chmod(0o640)
    (etc / "bconsole.conf").write_text(bconsole)
    (etc / "bconsole.conf").chmod(0o640)
    for directory in list(work.values()) + [volumes, root / "data", root / "restore"]:
        directory.mkdir(parents=True, exist_ok=True)
    return etc


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
        if pidfile.exists():
            print(f"{DAEMONS[daemon]} already running (pid {pidfile.read_text().strip()})")
            continue
        subprocess.run(argv, check=True)
        if not _wait_for_port(port):
            print(f"{DAEMONS[daemon]} did not start; see {log}", file=sys.stderr)
            return 1
        print(f"{DAEMONS[daemon]} listening on 127.0.0.1:{port} (log: {log})")
    return 0


def stop(root):
    root = Path(root).resolve()
    for daemon in ("dir", "fd", "sd"):
        pidfile = root / "var" / daemon / f"{DAEMONS[daemon]}.pid"
        if pidfile.exists():
            os.kill(int(pidfile.read_text().strip()), signal.SIGTERM)
            print(f"stopped {DAEMONS[daemon]}")
    return 0


def _seed_sample_data(directory):
    (directory / "README").write_text("Files to back up in the quickstart.\n")
    (directory / "sub").mkdir(exist_ok=True)
    (directory / "sub" / "random.bin").write_bytes(os.urandom(1 << 20))


def main(argv=None):
    parser = argparse.ArgumentParser(description="Run the suite on this host, on loopback.")
    parser.add_argument("action", nargs="?", default="start", choices=("start", "stop"))
    parser.add_argument("--root", default="run/quickstart",
                        help="where configuration, state, volumes and logs go")
    args = parser.parse_args(argv)
    if args.action == "stop":
        return stop(args.root)
    return start(args.root)


if __name__ == "__main__":
    sys.exit(main())
