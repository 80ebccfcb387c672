"""Programs a real FileDaemon runs for a job (real child processes): ``|command`` items of
a FileSet and client RunScripts, split into words as Bareos does, without a shell."""

import os

import pytest
import pytest_twisted
from twisted.internet import reactor

from bareos.filedaemon import programs
from bareos.filedaemon.attributes import AttributeRecord
from bareos.protocol.framing import Signal

from fd_peers import FakeDirector, end_job_fields, fileset_lines

JOB = "programs-test-fd.2026-11-26_05.39.00_05"


def fatal_messages(director):
    return [m for m in director.jmsgs if " type=3 " in m]


@pytest_twisted.ensureDeferred
async def test_a_command_file_list_backs_up_the_files_the_program_prints(fd, storage, tmp_path):
    tree = tmp_path / "src"
    tree.mkdir()
    for name in ("listed-1", "listed-2", "not-listed"):
        (tree / name).write_bytes(name.encode())
    sd = storage("backup")
    director = await FakeDirector.connect(fd)
    # the double-quoted word is one argument: no shell splits the line, the daemon does
    command = f'|sh -c "echo {tree}/listed-1; echo {tree}/listed-2"'
    await director.setup_job(JOB, sd.port, fileset=fileset_lines(command))
    assert await director.command(b"backup FileIndex=0\n") == b"2000 OK backup\n"
    packets = await director.until_terminate()
    await sd.done
    assert end_job_fields(packets[-2])["TermCode"] == ord("T")
    saved = [os.fsdecode(AttributeRecord.decode(data).fname)
             for _, stream, data, _ in sd.records if stream == 1]
    assert saved == [f"{tree}/listed-1", f"{tree}/listed-2"]


@pytest_twisted.ensureDeferred
async def test_no_shell_sees_the_command_line():
    result = await programs.run_program(reactor, "echo $HOME | cat > /dev/null")
    assert result.ok and result.output == b"$HOME | cat > /dev/null\n"


@pytest.mark.parametrize("command, message", [
    ('sh -c "echo /tmp; echo broken >&2; exit 3"',
     'Error running program: sh -c "echo /tmp; echo broken >&2; exit 3". status=3: '
     'ERR=Child exited with code 3'),
    ("/nonexistent/lister --all",
     "Cannot run program: /nonexistent/lister --all. ERR=No such file or directory"),
], ids=["non-zero-exit", "no-such-program"])
@pytest_twisted.ensureDeferred
async def test_a_failing_command_file_list_fails_the_job(fd, command, message):
    director = await FakeDirector.connect(fd)
    reply = await director.command(
        f"JobId=1 Job={JOB} SDid=1 SDtime=1700000000 Authorization=KEY ssl=0\n")
    assert reply.startswith(b"2000 OK Job ")
    director.send(b"fileset\n")
    for line in fileset_lines("|" + command):
        director.send(line)
    director.conn.send_signal(Signal.EOD)
    packets = await director.until_terminate()
    assert b"2000 OK include\n" not in packets
    assert end_job_fields(packets[-2])["TermCode"] == ord("f")
    fatal = fatal_messages(director)
    assert len(fatal) == 1 and fatal[0].endswith(f"Fatal error: {message}\n"), director.jmsgs


async def run_before(director, command, abort_on_error=1):
    reply = await director.command(
        f"JobId=1 Job={JOB} SDid=1 SDtime=1700000000 Authorization=KEY ssl=0\n")
    assert reply.startswith(b"2000 OK Job ")
    reply = await director.command(
        f"Run OnSuccess=1 OnFailure=0 AbortOnError={abort_on_error} When=2 Command={command}\n")
    assert reply == b"2000 OK RunScript\n"
    return await director.command(b"RunBeforeNow\n")


@pytest_twisted.ensureDeferred
async def test_a_client_run_before_job_script_reports_its_output(fd, tmp_path):
    script = tmp_path / "before.sh"
    script.write_text('#!/bin/sh\necho "args: $1|$2"\necho "to stderr" >&2\n')
    script.chmod(0o755)
    director = await FakeDirector.connect(fd)
    reply = await run_before(director, f"{script} 'one two' three")
    assert reply == b"2000 OK RunBeforeNow\n"
    texts = [m.split(": ", 1)[1] for m in director.jmsgs]
    assert texts == [f'shell command: run ClientBeforeJob "{script} \'one two\' three"\n',
                     "ClientBeforeJob: args: one two|three\n",
                     "ClientBeforeJob: to stderr\n"]
    director.close()


@pytest_twisted.ensureDeferred
async def test_a_script_failing_with_abort_on_error_fails_the_job(fd):
    director = await FakeDirector.connect(fd)
    reply = await run_before(director, 'sh -c "echo partial output; exit 5"')
    assert reply == b"2905 Failed RunScript\n"
    packets = await director.until_terminate()
    assert end_job_fields(packets[-2])["TermCode"] == ord("f")
    assert "ClientBeforeJob: partial output\n" in [m.split(": ", 1)[1] for m in director.jmsgs]
    fatal = fatal_messages(director)
    assert len(fatal) == 1 and fatal[0].endswith(
        "Fatal error: Runscript: ClientBeforeJob returned non-zero status=5. "
        "ERR=Child exited with code 5\n"), director.jmsgs


@pytest_twisted.ensureDeferred
async def test_a_script_failing_without_abort_on_error_is_an_error_and_the_job_goes_on(fd):
    director = await FakeDirector.connect(fd)
    reply = await run_before(director, "/nonexistent/script", abort_on_error=0)
    assert reply == b"2000 OK RunBeforeNow\n"
    errors = [m for m in director.jmsgs if " type=4 " in m]
    assert len(errors) == 1 and errors[0].endswith(
        "Error: Runscript: ClientBeforeJob could not execute. "
        "ERR=No such file or directory\n"), director.jmsgs
    director.close()
