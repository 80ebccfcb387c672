"""Hostile input against real ``twistd`` daemons (issue 17 items 5b, 6, 7 and 10's job
messages and doubled full stop); the in-process tests of the same in tests/integration/test_hostile_input.py
look closer (log lines, every peer kind), these show it holds in the daemons as run.

Times are not asserted: ``bench/console_abuse.py`` prints them.
"""

import os
import socket
import struct
import threading

import pytest

from bareos.config.writer import Resource, destination, resource_files
from bareos.protocol.framing import MAX_MESSAGE_LEN, MAX_PACKET_SIZE
from bareos.testing.daemons import director_of_daemon
from bareos.testing.login_flood import CONSOLE_HELLO, director_hello
from bareos.testing.quick_console import QuickConsole
from bareos.testing.waiting import wait_until

from backup_helpers import job_status, queue


def test_a_million_character_line_is_refused_and_another_console_is_served(suite):
    """5b: the longest line a console packet carries, while another console asks ``version``."""
    suite.start_director()
    attacker = QuickConsole(suite.dir_port, suite.dir_password, timeout=60)
    other = QuickConsole(suite.dir_port, suite.dir_password, timeout=60)
    answers = {}
    sender = threading.Thread(target=lambda: answers.update(
        refusal=attacker.command("help " + "x" * (MAX_MESSAGE_LEN - 5))))
    sender.start()
    try:
        version = other.command("version")
    finally:
        sender.join()
    assert "Version:" in version
    assert answers["refusal"].startswith(
        f"Command line too long ({MAX_MESSAGE_LEN} characters, limit 65536); nothing was run.")
    assert "Version:" in attacker.command("version")       # its session goes on
    attacker.close()
    other.close()


def test_numbers_no_catalog_stores_get_an_error_naming_them(suite):
    """7: what the console fuzz found answered "Internal error" with a traceback in the log."""
    director = suite.start_director()
    commands = ["list jobid=99999999999999999999", "llist jobid=99999999999999999999",
                "list files jobid=99999999999999999999", "delete jobid=99999999999999999999"]
    output = suite.console("".join(command + "\n" for command in commands))
    assert output.count('jobid="99999999999999999999" is not valid: give a number from ') == len(
        commands), output
    # a limit of more digits than any catalog holds rows means all of them
    assert "No results to list." in suite.console("list jobs limit=99999999999999999999\n")
    assert "Traceback" not in director.log_text()


def _oversized_frame_after_hello(port, hello):
    """Send the hello, read the CRAM-MD5 challenge, then announce a packet of 2^31-1 bytes;
    return the challenge once the daemon has closed the connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(hello)
        stream = sock.makefile("rb")
        (length,) = struct.unpack("!i", stream.read(4))
        challenge = stream.read(length)
        sock.sendall(struct.pack("!i", 2**31 - 1))
        try:
            while sock.recv(65536):
                pass
        except ConnectionResetError:
            pass
        return challenge


def test_an_oversized_frame_during_cram_md5_is_one_log_line_in_every_daemon(suite):
    """6: a length of 2^31-1 right after the challenge; every daemon logged a traceback."""
    daemons = {"dir": suite.start_director(), "fd": suite.start_fd(), "sd": suite.start_sd()}
    for name, daemon in daemons.items():
        hello = CONSOLE_HELLO if name == "dir" else director_hello(suite.director_name)
        challenge = _oversized_frame_after_hello(suite.port_of(name), hello)
        assert challenge.startswith(b"auth cram-md5 <"), (name, challenge)
        log = daemon.log_text()
        assert f"packet size too big (2147483647 bytes, limit {MAX_PACKET_SIZE})" in log, (name, log)
        assert "Traceback" not in log, (name, log)
    assert "Version:" in suite.console("version\n")           # the director serves on


@pytest.mark.slow       # a backup
def test_job_messages_held_by_their_file_do_not_stop_the_director(suite, tmp_path):
    """10: a job's messages go to a FIFO nobody reads (its open blocks, as a hung disk
    would); the director answers consoles meanwhile, and writes them once it is read."""
    source = tmp_path / "source"
    source.mkdir()
    (source / "file").write_bytes(b"data\n")
    fifo = tmp_path / "messages.fifo"
    os.mkfifo(fifo)
    suite.start_sd()
    suite.start_fd()
    suite.start_director(extra_resources={**suite.backup_resources(source), **resource_files(
        Resource("Messages", {"Name": "Standard", "Console": "all", "Catalog": "all",
                              "Append": destination(fifo)}))})
    try:
        jobid = queue(suite, "run job=backup level=Full yes")
        # held before the fix: the director's only thread waited in open() for a reader
        assert "Version:" in suite.console("version\n", timeout=30)
    finally:
        reader = os.open(fifo, os.O_RDWR | os.O_NONBLOCK)     # a reader from now on
    try:
        suite.console(f"wait jobid={jobid}\n")
        assert job_status(suite, jobid) == "T"
        assert b"Start Backup JobId" in os.read(reader, 1 << 20)
    finally:
        os.close(reader)


def test_a_refused_connection_is_one_sentence_in_the_file_daemons_log(suite, tmp_path):
    """10: "Connection refused.." -- the reason already ended in a full stop; here a file
    daemon dials its director (client-initiated), and no director listens."""
    messages = tmp_path / "fd-messages.log"
    fd = suite.start_fd(extra_resources=resource_files(
        director_of_daemon(suite.director_name, suite.fd_password, extra=[
            "Address = 127.0.0.1", f"Port = {suite.dir_port}",
            "Connection From Client To Director = yes"]),
        Resource("Messages", {"Name": "Standard", "Director": destination(suite.director_name),
                              "Append": destination(messages)})))
    wait_until(lambda: messages.exists() and "Connection refused" in messages.read_text(), 60,
               "a refused dial in the FD's messages")
    refused = [line for line in fd.log_text().splitlines() + messages.read_text().splitlines()
               if "Connection refused" in line]
    assert not [line for line in refused if ".." in line], refused
