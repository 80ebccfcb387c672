"""Append destinations of a Messages resource, written off the reactor (bareos.daemon.message_files),
through a real file daemon's FileDaemonMessages on the real reactor."""

import os

import pytest_twisted
from twisted.internet import reactor, task
from twisted.logger import globalLogPublisher

from bareos.config import parse_config_text
from bareos.config.schemas import FILEDAEMON
from bareos.filedaemon.daemon import FileDaemon

CONFIG = """
Client {{ Name = fd1; FdAddress = 127.0.0.1; FdPort = 1; Working Directory = "{work}" }}
Director {{ Name = dir1; Password = pw; Address = 127.0.0.1;
           Connection From Client To Director = yes; Connection From Director To Client = no }}
Messages {{
  Name = Standard
  Director = dir1 = all, !skipped, !restored
  Append = "{log}" = all, !skipped, !restored
  {more}
}}
"""


def file_daemon(tmp_path, log_path=None, more=""):
    config = parse_config_text(CONFIG.format(work=tmp_path, log=log_path or tmp_path / "fd.log",
                                             more=more), FILEDAEMON)
    return FileDaemon(config, reactor)


@pytest_twisted.ensureDeferred
async def test_daemon_messages_are_appended_and_kept_for_the_director(tmp_path):
    fd = file_daemon(tmp_path)
    fd.messages.daemon_message("error", "Cannot keep a connection to Director dir1: refused.")
    fd.messages.daemon_message("skipped", "not wanted anywhere")
    await fd.messages.files.written()
    lines = (tmp_path / "fd.log").read_text().splitlines()
    assert len(lines) == 1 and lines[0].endswith(
        " fd1: Cannot keep a connection to Director dir1: refused.")
    kept = fd.messages.take_for_director("dir1")
    assert [(m.type_name, m.text) for m in kept] == [
        ("error", "Cannot keep a connection to Director dir1: refused.")]
    assert fd.messages.take_for_director("dir1") == []
    fd.messages.files.stopService()


@pytest_twisted.ensureDeferred
async def test_job_messages_reach_the_append_file_in_order_with_their_filter(tmp_path):
    fd = file_daemon(tmp_path)
    fd.messages.job_message(9, 12, "Could not stat x: skipped\n")       # skipped: filtered out
    for n in range(200):
        fd.messages.job_message(4, 12, f"Could not open y{n}: Permission denied\n")
    await fd.messages.files.written()
    lines = (tmp_path / "fd.log").read_text().splitlines()
    assert [line.split(" JobId 12: ")[1] for line in lines] == [
        f"Could not open y{n}: Permission denied" for n in range(200)]
    fd.messages.files.stopService()


@pytest_twisted.ensureDeferred
async def test_a_held_write_does_not_block_the_reactor(tmp_path):
    """A FIFO nobody reads holds the write (its open blocks); the reactor runs on meanwhile,
    and the next message (to another file) waits its turn behind the held one."""
    fifo = tmp_path / "held.fifo"
    os.mkfifo(fifo)
    fd = file_daemon(tmp_path, log_path=fifo, more=f'Append = "{tmp_path / "after.log"}" = all')
    fd.messages.daemon_message("error", "first")          # to the FIFO, then to after.log
    written = fd.messages.files.written()
    try:
        ticked = await task.deferLater(reactor, 0, lambda: "the reactor ran")
        assert ticked == "the reactor ran"
        assert not written.called and not (tmp_path / "after.log").exists()
    finally:
        reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)   # lets the held open go on
    try:
        await written
        assert os.read(reader, 4096).decode().endswith(" fd1: first\n")
    finally:
        os.close(reader)
    assert (tmp_path / "after.log").read_text().endswith(" fd1: first\n")
    fd.messages.files.stopService()


@pytest_twisted.ensureDeferred
async def test_an_unwritable_destination_is_logged_once(tmp_path):
    missing = tmp_path / "no-such-directory" / "fd.log"
    fd = file_daemon(tmp_path, log_path=missing)
    warnings = []

    def observe(event):
        if event.get("log_namespace") == "bareos.daemon.message_files":
            warnings.append(event)
    globalLogPublisher.addObserver(observe)
    try:
        for n in range(5):
            fd.messages.job_message(4, 12, f"message {n}")     # never raises into the job
        await fd.messages.files.written()
    finally:
        globalLogPublisher.removeObserver(observe)
    assert len(warnings) == 1 and str(missing) in str(warnings[0]["path"])
    assert not fd._work                                       # the spawned writes all ended
    fd.messages.files.stopService()
