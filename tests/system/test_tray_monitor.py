"""bareos-tray-monitor against our three daemons: the live text view and --check follow a
backup, a storage daemon that stops and comes back; a wrong password is refused."""

from tray_monitor_helpers import (
    TextMonitor, backup_source, finish_backup, run_check, start_daemons, start_slow_backup,
    write_monitor_config)
from bareos.testing.waiting import wait_until
from bareos.traymonitor import check

HANG_GUARD = 60


def test_the_monitor_follows_a_backup_and_a_storage_daemon_that_stops(suite, tmp_path):
    start_daemons(suite, suite.backup_resources(backup_source(tmp_path / "source")))
    config = write_monitor_config(suite, refresh=1)
    director, client = f"director {suite.director_name}", f"client {suite.client_name}"
    storage = f"storage {suite.storage_daemon_name}"
    text = TextMonitor(config, tmp_path / "text-view.out")
    try:
        wait_until(lambda: "BAREOS OK" in text.frame(), HANG_GUARD, "the text view says OK")
        assert [text.line_of(d) for d in (director, client, storage)] == ["idle"] * 3

        # a backup runs: every daemon shows it
        jobid = start_slow_backup(suite)

        def shown_running_everywhere():
            lines = [text.line_of(d) or "" for d in (director, client, storage)]
            return all(f"(JobId {jobid})" in line for line in lines) and lines
        lines = wait_until(shown_running_everywhere, HANG_GUARD,
                           "the text view shows the job on all three daemons")
        job_name = lines[0].split("running: ")[1].split(" (JobId")[0]
        assert all(line == f"running: {job_name} (JobId {jobid})" for line in lines), lines
        code, line = run_check(config)
        assert code == check.OK, line
        assert f"1 job running: {job_name}" in line, line
        assert "| reachable=3;;3;0;3 running=1;;;0 failed_24h=0;1;;0" in line, line

        # the job ends: idle everywhere
        finish_backup(suite, jobid, job_name)
        wait_until(lambda: [text.line_of(d) for d in (director, client, storage)] == ["idle"] * 3,
                   HANG_GUARD, "the text view shows the three daemons idle")
        assert "BAREOS OK" in text.frame()
        code, line = run_check(config)
        assert code == check.OK and "0 jobs running" in line, line

        # the storage daemon stops: CRITICAL, naming it; the other two are still shown
        suite.daemons["sd"].stop()
        wait_until(lambda: "BAREOS CRITICAL" in text.frame(), HANG_GUARD,
                   "the text view turns CRITICAL")
        frame = text.frame()
        assert f"BAREOS CRITICAL - {storage} unreachable" in frame, frame
        assert text.line_of(storage).startswith("UNREACHABLE: "), frame
        assert text.line_of(director) == text.line_of(client) == "idle", frame
        code, line = run_check(config)
        assert code == check.CRITICAL, line
        assert line.startswith(f"BAREOS CRITICAL - {storage} unreachable ("), line
        assert "2/3 daemons reachable" in line and "reachable=2;;3;0;3" in line, line

        # it comes back: the running view turns OK again by itself
        suite.daemons["sd"].start()
        wait_until(lambda: "BAREOS OK" in text.frame(), HANG_GUARD,
                   "the text view is OK again after the storage daemon is back")
        assert text.line_of(storage) == "idle"
        assert text.proc.poll() is None
    finally:
        text.stop()


def test_a_monitor_with_wrong_passwords_is_refused_by_every_daemon(suite):
    start_daemons(suite)
    config = write_monitor_config(suite, passwords={"dir": "wrong", "fd": "wrong", "sd": "wrong"})
    code, line = run_check(config)
    assert code == check.CRITICAL, line
    for label in (f"director {suite.director_name}", f"client {suite.client_name}",
                  f"storage {suite.storage_daemon_name}"):
        assert f"{label} unreachable (" in line, line
    assert "0/3 daemons reachable" in line, line
    for daemon in ("dir", "fd", "sd"):        # each refused the login (TLS-PSK: the key differs)
        assert "refused" in suite.daemons[daemon].log_text(), suite.daemons[daemon].log_text()
