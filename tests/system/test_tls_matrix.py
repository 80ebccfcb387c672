"""The TLS matrix over real processes: {cleartext, PSK, certificate, both} offered by the side
that dials x {Enable, Require} on the side that accepts, on every channel.

One set of daemons serves the module.  Each cell of a row is one configuration: the test
rewrites the resource files and reloads (the director by ``reload``, the file and storage
daemons by SIGHUP), then uses every channel once: a console login, ``status`` of the client
and the storage (director -> FD, director -> SD), an active backup (FD -> SD), a passive one
(SD -> FD) and a file daemon that
dials the director (a second file daemon, started for the row: a waiting link keeps the
settings it dialled with, a reload does not redial it).  How each connection was protected
is read from the daemons' log lines ("(TLS-PSK)", "(TLS)", none for cleartext).

Accepting sides always have their certificate and the PSK, so they serve every mode; which
one is used is up to the dialler, and the PSK wins where both have it (on the job channels
the job's key, as Bareos).  A cleartext dialler is turned away by a listener with TLS on
(Enable or Require) before the challenge, as Bareos does, except a client-initiated file
daemon, which Enable lets in; with the director channels refused no job starts, so the job
channels of the cleartext row are refused with them.
"""

import dataclasses
import re
import signal
import subprocess

import pytest

from backup_helpers import run_job
from bareos.config.writer import Quoted, quote, resource
from bareos.testing.certificates import TestCA
from bareos.testing.daemons import (
    PLUGINS, REPO_ROOT, DaemonProcess, Suite, daemon_env, default_python, write_config_tree)
from bareos.testing.ports import free_port
from bareos.testing.waiting import wait_until

MODES = ("cleartext", "PSK", "certificate", "both")
POLICIES = ("Enable", "Require")
CHANNELS = ("console", "dir->FD", "dir->SD", "FD->SD", "client-initiated", "passive SD->FD")

ACTIVE_CLIENT, PASSIVE_CLIENT, INITIATING_CLIENT = "active-fd", "passive-fd", "initiating-fd"
CONSOLE = "matrix"
REFUSED = "refused"


def expected(mode, policy, channel):
    if mode == "cleartext":
        if channel == "client-initiated" and policy == "Enable":
            return "Cleartext"
        return REFUSED
    return "TLS" if mode == "certificate" else "TLS-PSK"


# -- configuration -------------------------------------------------------------------------------

def policy_lines(policy):
    return ["TLS Enable = yes", f"TLS Require = {'yes' if policy == 'Require' else 'no'}"]


def certificate_lines(pki, name):
    return [f"TLS Certificate = {quote(pki / f'{name}.pem')}",
            f"TLS Key = {quote(pki / f'{name}-key.pem')}",
            f"TLS CA Certificate File = {quote(pki / 'ca.pem')}"]


def dialling(pki, name, mode, policy):
    """The TLS lines of a resource that dials, offering ``mode``."""
    if mode == "cleartext":
        return ["TLS Enable = no", "TLS Require = no"]
    lines = policy_lines(policy)
    if mode in ("certificate", "both"):
        lines += certificate_lines(pki, name)
    if mode == "certificate":
        lines.append("TLS PSK Enable = no")
    return lines


def own(pki, name, mode, policy):
    """A daemon's own resource: its certificate for listening, and for the job channels it
    dials the job's PSK unless the row is certificates only."""
    lines = policy_lines(policy) + certificate_lines(pki, name) + ["TLS Verify Peer = no"]
    if mode == "certificate":
        lines.append("TLS PSK Enable = no")
    return lines


def director_files(suite, mode, policy):
    pki = suite.pki
    accepting = policy_lines(policy)
    clients = {
        ACTIVE_CLIENT: ["Passive = no", *dialling(pki, "bareos-dir", mode, policy)],
        PASSIVE_CLIENT: ["Passive = yes", *dialling(pki, "bareos-dir", mode, policy)],
        INITIATING_CLIENT: ["Connection From Client To Director = yes", *accepting],
    }
    files = {
        f"client/{name}.conf": resource("Client", [
            {"Name": name, "Address": suite.host, "Port": suite.fd_port,
             "Password": Quoted(suite.fd_password)}, *lines])
        for name, lines in clients.items()}
    files[f"storage/{suite.storage_name}.conf"] = resource("Storage", [
        {"Name": suite.storage_name, "Address": suite.host, "Port": suite.sd_port,
         "Password": Quoted(suite.sd_password), "Device": "FileStorage", "Media Type": "File"},
        *dialling(pki, "bareos-dir", mode, policy)])
    files[f"console/{CONSOLE}.conf"] = dataclasses.replace(
        suite.consoles[CONSOLE], tls="required" if policy == "Require" else "enabled",
    ).resource().text()
    return files


def daemon_files(suite, which, mode, policy):
    """The file (``fd``) or storage (``sd``) daemon's own resource and its Director resource."""
    own_type, address, name, port, password = {
        "fd": ("Client", "Fd", suite.client_name, suite.fd_port, suite.fd_password),
        "sd": ("Storage", "Sd", suite.storage_daemon_name, suite.sd_port, suite.sd_password),
    }[which]
    return {
        f"{own_type.lower()}/{name}.conf": resource(own_type, [
            {"Name": name, f"{address}Address": suite.host, f"{address}Port": port,
             "Working Directory": getattr(suite, f"{which}_work")},
            *own(suite.pki, f"bareos-{which}", mode, policy)]),
        f"director/{suite.director_name}.conf": resource("Director", [
            {"Name": suite.director_name, "Password": Quoted(password)},
            *policy_lines(policy)])}


def configure(suite, mode, policy):
    """Rewrite every daemon's resources for the cell and reload them."""
    write_config_tree(suite.etc / "dir", "bareos-dir.d", director_files(suite, mode, policy))
    for which in ("fd", "sd"):
        write_config_tree(suite.etc / which, f"bareos-{which}.d",
                          daemon_files(suite, which, mode, policy))
    assert "reloaded" in suite.console("reload\n").lower()
    for which in ("fd", "sd"):
        sighup_reload(suite.daemons[which])


def sighup_reload(daemon):
    before = daemon.log_text().count("configuration reloaded from")
    daemon.send_signal(signal.SIGHUP)
    wait_until(lambda: daemon.log_text().count("configuration reloaded from") > before, 30,
               f"{daemon.name} reloads")


@pytest.fixture(scope="module")
def suite(tmp_path_factory):
    base = tmp_path_factory.mktemp("tls-matrix")
    suite = Suite(base / "daemons")
    suite.pki = base / "pki"
    ca = TestCA(suite.pki)
    for name in ("bareos-dir", "bareos-fd", "bareos-sd", INITIATING_CLIENT, "console"):
        ca.issue(name, ip_addresses=[suite.host])
    source = base / "source"
    source.mkdir()
    (source / "file.txt").write_text("protected on the way\n")
    suite.add_console(CONSOLE)
    jobs = {f"job/{name}.conf": resource("Job", {
        "Name": name, "Type": "Backup", "Level": "Full", "Client": name, "FileSet": "TestSet",
        "Storage": suite.storage_name, "Pool": "Full", "Messages": "Standard"})
        for name in (ACTIVE_CLIENT, PASSIVE_CLIENT)}
    try:
        suite.start_sd(extra_resources=daemon_files(suite, "sd", "PSK", "Enable"))
        suite.start_fd(extra_resources=daemon_files(suite, "fd", "PSK", "Enable"))
        # The default console (which runs the jobs) stays in cleartext: the Director
        # resource only lends the console listener its certificate.
        suite.start_director(director_extra=certificate_lines(suite.pki, "bareos-dir"),
                             extra_resources={**suite.backup_resources(source), **jobs,
                                              **director_files(suite, "PSK", "Enable")})
        yield suite
    finally:
        suite.stop()


# -- observing -----------------------------------------------------------------------------------

class Logs:
    """What the daemons log from now on."""

    def __init__(self, *daemons):
        self.daemons = daemons
        self.offsets = {d: len(d.log_text()) for d in daemons}

    def new(self, daemon):
        return daemon.log_text()[self.offsets[daemon]:]


def protection(log, pattern):
    """How the connection logged by the line matching ``pattern`` was protected, or REFUSED."""
    match = re.search(pattern + r".*?(?:\((TLS-PSK|TLS|Cleartext)\))?$", log, re.MULTILINE)
    if not match:
        return REFUSED
    return match.group(1) or "Cleartext"


def console_login(suite, mode, policy):
    config = suite.etc / "bconsole-matrix.conf"
    config.write_text(
        resource("Director", {"Name": suite.director_name, "Address": suite.host,
                              "DirPort": suite.dir_port, "Password": Quoted("unused")})
        + resource("Console", [{"Name": CONSOLE, "Password": Quoted(suite.consoles[CONSOLE].password)},
                               *dialling(suite.pki, "console", mode, policy)]))
    return subprocess.run([default_python(), "-m", "bareos.console.main", "-c", str(config)],
                          input="whoami\n", text=True, capture_output=True, timeout=120,
                          cwd=REPO_ROOT, env=daemon_env())


def initiating_fd(suite, mode, policy):
    """A second file daemon that dials the director as INITIATING_CLIENT."""
    root = suite.base / "initiating"
    work = root / "work"
    work.mkdir(parents=True, exist_ok=True)
    port = free_port(suite.host)
    write_config_tree(root, "bareos-fd.d", {
        f"client/{INITIATING_CLIENT}.conf": resource("Client", [
            {"Name": INITIATING_CLIENT, "FdAddress": suite.host, "FdPort": port,
             "Working Directory": work}, *own(suite.pki, INITIATING_CLIENT, mode, policy)]),
        f"director/{suite.director_name}.conf": resource("Director", [
            {"Name": suite.director_name, "Password": Quoted(suite.fd_password),
             "Address": suite.host, "Port": suite.dir_port,
             "Connection From Client To Director": "yes",
             "Connection From Director To Client": "no"},
            *dialling(suite.pki, INITIATING_CLIENT, mode, policy)])})
    return DaemonProcess(PLUGINS["fd"], root, port=port, host=suite.host,
                         run_dir=suite.run_dir, name="initiating-fd")


def observe(suite, mode, policy):
    """Every channel once; {channel: protection or REFUSED} and the refusals logged."""
    director, fd, sd = (suite.daemons[d] for d in ("dir", "fd", "sd"))
    logs = Logs(director, fd, sd)
    seen = {}
    login = console_login(suite, mode, policy)
    seen["console"] = protection(logs.new(director), rf"Console {CONSOLE} logged in from") \
        if login.returncode == 0 and CONSOLE in login.stdout else REFUSED
    # The director channels on their own first: a job dials the SD before the FD.
    suite.console(f"status client={ACTIVE_CLIENT}\nstatus storage={suite.storage_name}\n")
    seen["dir->FD"] = protection(logs.new(fd), "director bareos-dir connected from")
    seen["dir->SD"] = protection(logs.new(sd), "director bareos-dir connected from")
    _, active_status, _ = run_job(suite, f"run job={ACTIVE_CLIENT} yes")
    seen["FD->SD"] = protection(logs.new(sd), "file daemon for job .* connected from")
    run_job(suite, f"run job={PASSIVE_CLIENT} yes")
    passive = re.search(r"\(passive client\), encryption: (\S+)$", logs.new(fd), re.MULTILINE)
    seen["passive SD->FD"] = passive.group(1) if passive else REFUSED
    dialler = initiating_fd(suite, mode, policy)
    dialler.start(wait=False)
    try:
        waiting = rf"Client {INITIATING_CLIENT} connected from .* and waits for jobs"
        refused = r"Client-initiated connection from .* refused|Connection from .* refused"
        wait_until(lambda: re.search(f"{waiting}|{refused}", logs.new(director)), 30,
                   "the director takes or refuses the dialling file daemon")
        seen["client-initiated"] = protection(logs.new(director), waiting)
    finally:
        dialler.stop()
    refusals = {daemon.name: [line for line in logs.new(daemon).splitlines() if "refused" in line]
                for daemon in logs.daemons}
    return seen, refusals, active_status


#: Where a refused cell's rule is logged: (daemon, the resource the listener looked up).
REFUSING = {"console": ("dir", CONSOLE), "dir->FD": ("fd", "bareos-dir"),
            "dir->SD": ("sd", "bareos-dir"), "client-initiated": ("dir", INITIATING_CLIENT)}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("policy", POLICIES)
def test_each_channel_is_protected_as_offered_or_refused_never_downgraded(suite, mode, policy):
    configure(suite, mode, policy)
    seen, refusals, active_status = observe(suite, mode, policy)
    assert seen == {channel: expected(mode, policy, channel) for channel in CHANNELS}, refusals
    for channel in (c for c in REFUSING if seen[c] == REFUSED):
        which, name = REFUSING[channel]
        rule = f"cleartext connection refused for '{name}': TLS is enabled for it"
        assert any(rule in line for line in refusals[suite.daemons[which].name]), (channel, refusals)
    # the job channels are refused with the director's: no job starts without them
    assert (active_status == "T") == (seen["FD->SD"] != REFUSED)
