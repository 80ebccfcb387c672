"""The FD job commands and replies as pure functions (bareos.filedaemon.jobs)."""

import os
import types

import pytest

from bareos.filedaemon import jobs
from bareos.protocol.framing import Signal
from bareos.protocol.jobstatus import JobStatus
from bareos.filedaemon.jobs import CommandError


def test_job_command_with_and_without_ssl():
    cmd = jobs.parse_job_command(
        "JobId=12 Job=backup.2026-11-26_05.39.00_04 SDid=3 SDtime=1700000000 "
        "Authorization=JMJH-ANIF-HAJM-FDCA-HFHN-BHNF-HLHD-AGLF ssl=4\n")
    assert cmd == jobs.JobCommand(12, "backup.2026-11-26_05.39.00_04", 3, 1700000000,
                                  "JMJH-ANIF-HAJM-FDCA-HFHN-BHNF-HLHD-AGLF", 4)
    old = jobs.parse_job_command("JobId=1 Job=j SDid=0 SDtime=0 Authorization=dummy\n")
    assert old.ssl is None and old.authorization == "dummy"
    with pytest.raises(CommandError):
        jobs.parse_job_command("JobId=x Job=j\n")


def test_level_commands():
    assert jobs.parse_level_command("level = full  mtime_only=0 \n").level == "full"
    assert jobs.parse_level_command("level = base  mtime_only=0 \n").level == "base"
    inc = jobs.parse_level_command("level = accurate_incremental  mtime_only=0 \n")
    assert inc.level == "incremental" and inc.accurate
    assert jobs.parse_level_command("level = differential  mtime_only=1 \n").mtime_only
    since = jobs.parse_level_command("level = since_utime 1700000000 mtime_only=1 prev_job=prev.1\n")
    assert (since.level, since.since, since.mtime_only, since.prev_job) == \
        ("since_utime", 1700000000, True, "prev.1")
    bare = jobs.parse_level_command("level = since_utime 5 mtime_only=0\n")
    assert bare.prev_job is None and not bare.mtime_only
    with pytest.raises(CommandError):
        jobs.parse_level_command("level = weekly  mtime_only=0 \n")


def test_clock_adjustment_discards_two_samples_and_halves_the_round_trip():
    # our clock is 10.5 s ahead; round trip 2 ms (Bareos subtracts half of it)
    samples = [(0, 0, 0), (0, 0, 0)] + [
        (t, t - 10_500_000 + 1_000, t + 2_000) for t in range(10**9, 10**9 + 8)]
    assert jobs.clock_adjustment(samples) == 10
    assert jobs.clock_adjustment([(5, 5, 5)] * 10) == 0
    behind = [(t, t + 700_000_000, t) for t in range(10)]
    assert jobs.clock_adjustment(behind) == -700


def test_btime_reply():
    assert jobs.parse_btime(b"btime 1700000000123456\n") == 1700000000123456
    with pytest.raises(CommandError):
        jobs.parse_btime(b"2000 OK\n")


def test_storage_command_forms():
    assert jobs.parse_storage_command("storage address=sd.example port=9103 ssl=4\n") == \
        jobs.StorageCommand("sd.example", 9103, 4, None)
    assert jobs.parse_storage_command(
        "storage address=10.0.0.1 port=9103 ssl=0 Authorization=KEY-1\n").authorization == "KEY-1"
    with pytest.raises(CommandError):
        jobs.parse_storage_command("storage nothing\n")


def test_restore_command_unbashes_where_and_reads_regexwhere():
    cmd = jobs.parse_restore_command("restore replace=w prelinks=1 where=/tmp/my\x01restore\n")
    assert cmd == jobs.RestoreCommand("w", True, "/tmp/my restore")
    assert jobs.parse_restore_command("restore replace=a prelinks=0 where=/\n").where == ""
    assert jobs.parse_restore_command("restore replace=a prelinks=0 where=\n").where == ""
    regex = jobs.parse_restore_command("restore replace=n prelinks=0 regexwhere=!/a!/b!\n")
    assert regex.regexwhere == "!/a!/b!" and regex.where == ""
    with pytest.raises(CommandError):
        jobs.parse_restore_command("restore everything\n")


def test_regexwhere_rewrites_names():
    rw = jobs.RegexWhere("!/home/(\\w+)/!/restored/$1/!,!\\.txt$!.bak!i")
    assert rw.apply(b"/home/ann/notes.TXT") == b"/restored/ann/notes.bak"
    assert jobs.RegexWhere("!a!b!g").apply(b"/aaa") == b"/bbb"
    assert jobs.RegexWhere("!a!b!").apply(b"/aaa") == b"/baa"
    with pytest.raises(CommandError):
        jobs.RegexWhere("!(!x!")


def test_small_commands():
    assert jobs.parse_backup_command("backup FileIndex=0\n") == 0
    assert jobs.parse_backup_command("backup FileIndex=41\n") == 41
    assert jobs.parse_estimate_command("estimate listing=1\n") is True
    assert jobs.parse_estimate_command("estimate listing=0\n") is False
    assert jobs.parse_cancel_command("cancel Job=a.b.c\n") == "a.b.c"
    assert jobs.parse_cancel_command("cancel JobId=3\n") is None
    script = jobs.parse_runscript_command(
        "Run OnSuccess=1 OnFailure=0 AbortOnError=1 When=2 Command=/bin/echo\x01hi\n")
    assert script.before and not script.after and script.command == "/bin/echo hi"
    assert script.abort_on_error and script.on_success and not script.on_failure


def test_sd_replies():
    assert jobs.parse_ticket(b"3000 OK open ticket = 17\n") == 17
    assert jobs.parse_ticket(b"3901 Error session already open\n") is None
    assert jobs.parse_close_status(b"3000 OK close Status = 84\n") == 84
    assert jobs.same_line(b"3000 OK data\n", jobs.OK_DATA)
    assert jobs.same_line(b"3000 OK data", jobs.OK_DATA)
    assert not jobs.same_line(b"3903 Error append data\n", jobs.OK_DATA)
    assert jobs.parse_rechdr(b"rechdr 1 1700000000 5 2 65536") == (1, 1700000000, 5, 2, 65536)
    assert jobs.parse_rechdr(b"garbage") is None
    assert jobs.parse_rechdr(b"rechdr 1 1700000000 -2 -3 180") == (1, 1700000000, -2, -3, 180)  # a label
    for bad in (b"rechdr 1 2 3 4", b"rechdr 1 2 3 4 -5", b"rechdr 1 2 x 4 5", b"rechdr", Signal.EOD):
        assert jobs.parse_rechdr(bad) is None, bad
    assert jobs.read_open(0, 0) == b"read open session = DummyVolume 0 0 0 0 0 0\n"
    assert jobs.append_close(7) == b"append close session 7\n"


def test_end_job_line_and_estimate_reply():
    assert jobs.end_job_line("T", 6, 1200, 1100, 0) == \
        b"2800 End Job TermCode=84 JobFiles=6 ReadBytes=1200 JobBytes=1100 Errors=0 VSS=0 Encrypt=0\n"
    assert jobs.end_job_line("f", 0, 0, 0, 1).startswith(b"2800 End Job TermCode=102 ")
    assert jobs.end_job_line("A", 0, 0, 0, 0).startswith(b"2800 End Job TermCode=65 ")
    assert jobs.ok_estimate(20455, 1073741824) == \
        b"2000 OK estimate files=20,455 bytes=1,073,741,824\n"
    assert jobs.with_commas(999) == "999"


def test_ok_job_reply_has_version_date_and_no_newline():
    reply = jobs.ok_job_reply("linux 6.1")
    assert reply.startswith(b"2000 OK Job 25.1.1 (26Nov26) linux 6.1,")
    assert not reply.endswith(b"\n")
    assert jobs.short_date("1 January 2025") == "01Jan25"


def test_jmsg_line_format():
    line = jobs.jmsg_line("j.1", jobs.M_WARNING, "x vanished", "fd", 4, when=1700000000)
    assert line == b"Jmsg Job=j.1 type=5 level=1700000000 fd JobId 4: Warning: x vanished\n"
    fatal = jobs.jmsg_line("j.1", jobs.M_FATAL, "boom\n", "fd", 4, when=1)
    assert fatal == b"Jmsg Job=j.1 type=3 level=1 fd JobId 4: Fatal error: boom\n"
    assert jobs.jmsg_line("j", jobs.M_INFO, "hi", "fd", 1, when=1).endswith(b"fd JobId 1: hi\n")


def test_file_problems_are_warnings_except_read_errors():
    assert jobs.classify_file_problem('"/x" vanished during backup: not saved') == jobs.M_WARNING
    assert jobs.classify_file_problem("/x: file changed during backup") == jobs.M_WARNING
    assert jobs.classify_file_problem('Cannot open "/x": ERR=Permission denied.') == jobs.M_WARNING
    assert jobs.classify_file_problem("Read error on file /x. ERR=I/O error") == jobs.M_ERROR


def test_ls_line(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"12345")
    os.chmod(path, 0o640)
    line = jobs.ls_line(os.fsencode(path), os.lstat(path))
    assert line.startswith("-rw-r-----   1 ")
    assert line.endswith(f"           5 {line.split()[-3]} {line.split()[-2]}  {path}\n")
    os.symlink("f", tmp_path / "l")
    link = jobs.ls_line(str(tmp_path / "l"), os.lstat(tmp_path / "l"), b"f")
    assert link.startswith("l") and link.endswith(" -> f\n")


def test_job_status_priority_and_message_counting():
    job = jobs.Job()
    job.set_status(JobStatus.RUNNING)
    job.note_message(jobs.M_WARNING)
    job.note_message(jobs.M_ERROR)
    assert (job.status, job.errors, job.warnings) == ("R", 1, 1)
    job.note_message(jobs.M_FATAL)
    assert job.status == "f" and job.errors == 1
    job.set_status(JobStatus.TERMINATED)
    assert job.status == "f"
    job.cancel()
    assert job.canceled and job.status == "f"
    other = jobs.Job()
    hits = []
    other.on_cancel(lambda: hits.append(1))
    other.cancel()
    other.cancel()
    assert other.status == "A" and hits == [1]
    assert other.end_job_line().startswith(b"2800 End Job TermCode=65 ")


def test_status_lines_of_a_running_job():
    job = jobs.Job(started_at=1000)
    job.job_id, job.job, job.level, job.job_type = 3, "b.1", "F", "B"
    job.files, job.stream_bytes, job.last_fname = 2, 5_000_000, b"/etc/passwd"
    lines = job.status_lines(now=1010, format_datetime=lambda t: "DT")
    assert lines[0] == "JobId 3 Job b.1 is running."
    assert lines[1] == "    Full Backup Job started: DT"
    assert lines[2] == "    Files=2 Bytes=5,000,000 Bytes/sec=500,000 Errors=0"
    assert "    Processing file: /etc/passwd" in lines


def test_terminated_line():
    job = types.SimpleNamespace(job_id=7, job_type="B", level="I", files=1234, job_bytes=5_600_000,
                                status=JobStatus.TERMINATED, ended_at=0, started_at=0,
                                job="nightly.2026-11-26_05.39.00_04")
    line = jobs.terminated_line(job, lambda t: "26-Nov-26 05:39")
    assert line == "     7  Incr      1,234      5.6 M  OK       26-Nov-26 05:39 nightly"
