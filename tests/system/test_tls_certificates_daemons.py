"""Certificate TLS over real twistd processes, started once for the module.

Every daemon has a certificate from a CA made here.  The director dials the file and
storage daemons with certificates alone (TLS PSK Enable = no on its Client and Storage),
and they accept the director's common name and each other's; consoles log in with a
certificate or with TLS-PSK (the default console, which run_job uses, in cleartext).  The
file daemon has no PSK either, so its job channel to the storage daemon, and the storage
daemon's to it as a passive client, are certificate TLS too (Bareos would let the job's PSK
win).  A job held by its file list program runs across a console reload and completes.
SIGHUP reloads the director: a broken file is refused and logged, a good one taken.
"""

import contextlib
import os
import signal
import subprocess

import pytest

from backup_helpers import job_status, queue, run_job
from bareos.testing.certificates import TestCA
from bareos.testing.daemons import REPO_ROOT, Suite, daemon_env, default_python
from bareos.testing.waiting import wait_until


def certificate_lines(pki, name, verify=True, allowed=None, psk=True):
    lines = [f'TLS Certificate = "{pki}/{name}.pem"', f'TLS Key = "{pki}/{name}-key.pem"',
             f'TLS CA Certificate File = "{pki}/ca.pem"', "TLS Enable = yes", "TLS Require = yes"]
    if verify:
        lines.append("TLS Verify Peer = yes")
    if allowed:
        lines.append(f"TLS Allowed CN = {allowed}")
    if not psk:
        lines.append("TLS PSK Enable = no")
    return lines


def block(kind, values, lines):
    body = "".join(f"  {key} = {value}\n" for key, value in values.items())
    return f"{kind} {{\n{body}" + "".join(f"  {line}\n" for line in lines) + "}\n"


@pytest.fixture(scope="module")
def suite(tmp_path_factory):
    base = tmp_path_factory.mktemp("tls-suite")
    pki = base / "pki"
    ca = TestCA(pki)
    for name in ("bareos-dir", "bareos-fd", "bareos-sd", "admin-console"):
        ca.issue(name, ip_addresses=["127.0.0.1"])
    source = base / "source"
    source.mkdir()
    (source / "file.txt").write_text("protected on the way\n")
    # The file list of the job "held" comes from a program that waits for a file: the job
    # runs until the test releases it.
    hold = base / "hold.sh"
    suite_files = {"started": base / "held-started", "release": base / "held-release"}
    hold.write_text(f"#!/bin/sh\ntouch {suite_files['started']}\n"
                    f"while [ ! -e {suite_files['release']} ]; do sleep 0.1; done\n"
                    f"echo {source}\n")
    hold.chmod(0o755)
    suite = Suite(base / "daemons")
    suite.pki = pki
    suite.held = suite_files
    held = (block("FileSet", {"Name": "HeldSet"}, [f'Include {{ File = "|{hold}" }}'])
            + block("Job", {"Name": "held", "Type": "Backup", "Level": "Full",
                            "Client": suite.client_name, "FileSet": "HeldSet",
                            "Storage": suite.storage_name, "Pool": "Full",
                            "Messages": "Standard"}, []))
    suite.add_console("certadmin", tls="required")
    suite.add_console("pskadmin", tls="required")
    client = block("Client", {"Name": suite.client_name, "Address": suite.host,
                              "Port": suite.fd_port, "Password": f'"{suite.fd_password}"'},
                   certificate_lines(pki, "bareos-dir", psk=False))
    storage = block("Storage", {"Name": suite.storage_name, "Address": suite.host,
                                "Port": suite.sd_port, "Password": f'"{suite.sd_password}"',
                                "Device": "FileStorage", "Media Type": "File"},
                    certificate_lines(pki, "bareos-dir", psk=False))
    try:
        suite.start_sd(director_tls="required", storage_tls="required",
                       storage_extra=certificate_lines(pki, "bareos-sd", allowed="bareos-dir")[:3]
                       + ["TLS Verify Peer = yes", "TLS Allowed CN = bareos-dir",
                                         "TLS Allowed CN = bareos-fd"])
        suite.start_fd(director_tls="required", extra_resources={
            f"client/{suite.client_name}.conf": block(
                "Client", {"Name": suite.client_name, "FdAddress": suite.host,
                           "FdPort": suite.fd_port, "Working Directory": suite.fd_work},
                certificate_lines(pki, "bareos-fd", allowed="bareos-dir", psk=False)
                + ["TLS Allowed CN = bareos-sd"])})        # it dials the SD for jobs
        suite.start_director(
            director_extra=certificate_lines(pki, "bareos-dir", verify=False)[:3],
            extra_resources={**suite.backup_resources(source),
                             f"client/{suite.client_name}.conf": client,
                             f"storage/{suite.storage_name}.conf": storage,
                             "job/held.conf": held})
        yield suite
    finally:
        suite.stop()


def bconsole(suite, console, commands, *lines):
    spec = suite.consoles[console]
    text = block("Director", {"Name": suite.director_name, "Address": suite.host,
                              "DirPort": suite.dir_port, "Password": '"unused"'}, [])
    text += block("Console", {"Name": console, "Password": f'"{spec.password}"'},
                  ["TLS Enable = yes", "TLS Require = yes", *lines])
    config = suite.etc / f"bconsole-{console}.conf"
    config.write_text(text)
    return subprocess.run(
        [default_python(), "-m", "bareos.console.main", "-c", str(config)], input=commands,
        text=True, capture_output=True, timeout=120, cwd=REPO_ROOT, env=daemon_env())


def director_log(suite):
    return suite.daemons["dir"].log_text()


def test_a_console_with_a_certificate_logs_in_over_certificate_tls(suite):
    done = bconsole(suite, "certadmin", "whoami\n",
                    f'TLS CA Certificate File = "{suite.pki}/ca.pem"', "TLS Verify Peer = yes",
                    "TLS PSK Enable = no")
    assert done.returncode == 0, done.stderr
    assert "certadmin" in done.stdout
    assert "Console certadmin logged in from" in director_log(suite)
    assert [line for line in director_log(suite).splitlines()
            if "Console certadmin logged in" in line and line.endswith("(TLS)")]


def test_a_psk_console_logs_in_next_to_the_certificate(suite):
    done = bconsole(suite, "pskadmin", "whoami\n")
    assert done.returncode == 0, done.stderr
    assert [line for line in director_log(suite).splitlines()
            if "Console pskadmin logged in" in line and line.endswith("(TLS-PSK)")]


def test_a_console_that_trusts_another_ca_is_refused(suite, tmp_path):
    other = TestCA(tmp_path / "other")
    done = bconsole(suite, "certadmin", "whoami\n",
                    f'TLS CA Certificate File = "{other.certificate}"', "TLS PSK Enable = no")
    assert done.returncode != 0
    assert "Director closed the connection during login" in done.stderr


def test_director_to_both_daemons_and_a_backup_over_certificates_end_to_end(suite):
    jobid, status, output = run_job(suite, "run job=backup yes")
    assert status == "T", output
    fd_log = suite.daemons["fd"].log_text()
    sd_log = suite.daemons["sd"].log_text()
    assert [line for line in fd_log.splitlines()
            if "director bareos-dir connected from" in line and line.endswith("(TLS)")], fd_log
    assert [line for line in sd_log.splitlines()
            if "director bareos-dir connected from" in line and line.endswith("(TLS)")], sd_log
    assert [line for line in sd_log.splitlines()                       # FD->SD
            if "file daemon for job" in line and line.endswith("(TLS)")], sd_log
    assert "Connected Storage daemon at" in output and "encryption: TLS\n" in output, output


def reload_director(suite):
    assert "reloaded" in suite.console("reload\n").lower()


def sighup_reload(suite, which):
    daemon = suite.daemons[which]
    before = daemon.log_text().count("configuration reloaded from")
    os.kill(daemon.pid, signal.SIGHUP)
    wait_until(lambda: daemon.log_text().count("configuration reloaded from") > before, 30,
               f"the {which} reloads")


@contextlib.contextmanager
def changed_client(suite, which, old, new):
    """The Client resource of the director or the file daemon with ``old`` replaced by
    ``new``, reloaded (console reload, SIGHUP) for the ``with`` block and then put back."""
    client_file = next(path for path in suite.etc.rglob(f"client/{suite.client_name}.conf")
                       if f"bareos-{which}.d" in str(path))
    original = client_file.read_text()
    reload = reload_director if which == "dir" else lambda suite: sighup_reload(suite, which)
    client_file.write_text(original.replace(old, new, 1))
    try:
        reload(suite)
        yield
    finally:
        client_file.write_text(original)
        reload(suite)


def test_a_passive_client_is_reached_by_the_storage_daemon_over_certificates(suite):
    with changed_client(suite, "dir", "  Password =", "  Passive = yes\n  Password ="):
        _, status, output = run_job(suite, "run job=backup level=Full yes")
        assert status == "T", output
        fd_log = suite.daemons["fd"].log_text()
        assert [line for line in fd_log.splitlines()
                if line.rstrip().endswith("(passive client), encryption: TLS")], fd_log


def test_a_job_running_across_a_reload_completes(suite):
    jobid = queue(suite, "run job=held yes")
    wait_until(suite.held["started"].exists, 60, "the file daemon runs the held job")
    reload_director(suite)
    suite.held["release"].touch()
    suite.console(f"wait jobid={jobid}\n")
    assert job_status(suite, jobid) == "T"


def test_a_job_channel_certificate_whose_cn_is_not_allowed_fails_the_job_with_the_rule(suite):
    with changed_client(suite, "fd", "TLS Allowed CN = bareos-sd", ""):
        _, status, output = run_job(suite, "run job=backup level=Full yes")
        assert status != "T", output
        assert "common name 'bareos-sd' is not in TLS Allowed CN" in suite.daemons["fd"].log_text()
        assert "Failed to connect to Storage daemon" in output, output


def test_a_job_channel_between_daemons_with_both_psk_and_certificates_uses_the_jobs_psk(suite):
    with changed_client(suite, "fd", "TLS PSK Enable = no", ""):      # as Bareos does
        _, status, output = run_job(suite, "run job=backup level=Full yes")
        assert status == "T", output
        assert "Connected Storage daemon at" in output and "encryption: TLS-PSK\n" in output


def test_sighup_reload_keeps_a_broken_configuration_out_and_takes_a_good_one(suite):
    director = suite.daemons["dir"]
    console_file = next((suite.etc / "dir").rglob("console/pskadmin.conf"))
    good = console_file.read_text()
    console_file.write_text(good + "Console { Name = broken; Pasword = x }\n")
    os.kill(director.pid, signal.SIGHUP)
    wait_until(lambda: "reload failed, the configuration in use stays" in director_log(suite),
               30, "the director logs the refused reload")
    assert bconsole(suite, "pskadmin", "whoami\n").returncode == 0      # still serving
    console_file.write_text(good)
    os.kill(director.pid, signal.SIGHUP)
    wait_until(lambda: "configuration reloaded from" in director_log(suite), 30,
               "the director reloads")
    assert director.running


def test_a_client_and_a_job_added_to_the_files_run_after_a_sighup_without_restart(suite):
    """The new Client (the same file daemon under a second name) and its Job take effect for
    new jobs; removing them and reloading again leaves the configuration as it was."""
    directory = next(path for path in suite.etc.rglob("bareos-dir.d"))
    client = next(directory.rglob(f"client/{suite.client_name}.conf"))
    job = next(directory.rglob("job/backup.conf"))
    added = [client.with_name("added-fd.conf"), job.with_name("added-backup.conf")]
    added[0].write_text(client.read_text().replace(f"Name = {suite.client_name}",
                                                   "Name = added-fd", 1))
    added[1].write_text(job.read_text().replace("Name = backup", "Name = added-backup", 1)
                        .replace(f"Client = {suite.client_name}", "Client = added-fd", 1))
    pid = suite.daemons["dir"].pid
    try:
        sighup_reload(suite, "dir")
        _, status, output = run_job(suite, "run job=added-backup level=Full yes")
        assert status == "T", output
        assert "added-fd" in output, output        # the job ran on the new Client
    finally:
        for path in added:
            path.unlink()
        sighup_reload(suite, "dir")
    assert suite.daemons["dir"].pid == pid          # the same process all along
    assert "added-backup" not in suite.console("show jobs\n")
