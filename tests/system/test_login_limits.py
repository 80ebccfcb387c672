"""Failed logins cost the attacker, not us: a real director under password guessing.

Issue 17 item 5: a guesser giving up after 0.3 s on 8 connections got 26 guesses a second
evaluated, and 100 of 100 concurrent unauthenticated sessions were served.  Here every
count is of connections, never of time: how many of N guesses the director evaluated (sent
a CRAM-MD5 challenge to), not how many per second.
"""

import socket
import threading

import pytest

from bareos.console.login import ConsoleLoginFailed
from bareos.testing.login_flood import CHALLENGED, CONSOLE_HELLO, REFUSED, director_hello, flood
from bareos.testing.quick_console import QuickConsole
from bareos.testing.waiting import wait_until

FAILED_LOGINS_ALLOWED = 5
UNAUTHENTICATED_PER_ADDRESS = 4
OTHER_SOURCE = "127.0.0.2"
GUESSING_CONNECTIONS = 8


def test_a_guesser_gets_few_guesses_and_another_address_logs_in_meanwhile(suite):
    director = suite.start_director(director_extra=[
        f"Maximum Failed Logins Per Address = {FAILED_LOGINS_ALLOWED}",
        f"Maximum Unauthenticated Connections Per Address = {UNAUTHENTICATED_PER_ADDRESS}"])
    # Many connections at once, then one after the other until the lockout holds.
    parallel, _ = flood(suite.host, suite.dir_port, 80, connections=GUESSING_CONNECTIONS)
    sequential, _ = flood(suite.host, suite.dir_port, 20, connections=1)
    outcomes = parallel + sequential
    # At most the allowed failures plus the guesses in flight when the last one was counted
    assert outcomes[CHALLENGED] <= FAILED_LOGINS_ALLOWED + GUESSING_CONNECTIONS, outcomes
    assert outcomes[REFUSED] == 100 - outcomes[CHALLENGED], outcomes
    assert sequential[REFUSED] >= 20 - FAILED_LOGINS_ALLOWED, sequential
    # The locked-out address does not lock out anybody else.
    with QuickConsole(suite.dir_port, suite.dir_password, host=suite.host, source=OTHER_SOURCE,
                      timeout=10) as console:
        assert "Version:" in console.command("version")
    # Over 80 refusals, one log line per reason: not one per refused connection.
    refusal_lines = [line for line in director.log_text().splitlines()
                     if "[bareos.admission#warn]" in line]
    assert len(refusal_lines) <= 2, refusal_lines
    assert any(f"{FAILED_LOGINS_ALLOWED} failed logins from it" in line
               for line in refusal_lines), refusal_lines


def test_a_good_login_from_another_address_is_answered_during_a_flood(suite):
    suite.failed_login_delay = None                      # the real 5 s delay before a refusal
    suite.start_director()
    answered = []

    def log_in_from_another_address():
        with QuickConsole(suite.dir_port, suite.dir_password, host=suite.host,
                          source=OTHER_SOURCE, timeout=10) as console:
            answered.append(console.command("version"))

    flooding = threading.Thread(target=flood, args=(suite.host, suite.dir_port, 200),
                                kwargs={"connections": 16})
    flooding.start()
    try:
        log_in_from_another_address()
    finally:
        flooding.join()
    assert "Version:" in answered[0]


@pytest.mark.parametrize("daemon", ["fd", "sd"])
def test_file_and_storage_daemons_lock_out_a_guessing_address(suite, daemon):
    suite.start(daemon)
    # One guess at a time, as a director with a wrong password; the default limit is 10
    # failures a minute.
    outcomes, _ = flood(suite.host, suite.port_of(daemon), 30, connections=1,
                        hello=director_hello(suite.director_name))
    assert outcomes[CHALLENGED] == 10, outcomes
    assert outcomes[REFUSED] == 30 - outcomes[CHALLENGED], outcomes


def hello_only(host, port):
    """A console connection that sends its hello and reads the challenge, but never answers."""
    sock = socket.create_connection((host, port), timeout=10)
    sock.sendall(CONSOLE_HELLO)
    assert b"auth cram-md5" in sock.recv(4096)
    return sock


def test_maximum_console_connections_counts_consoles_still_logging_in(suite):
    suite.start_director(director_extra=["Maximum Console Connections = 2"])
    pending = [hello_only(suite.host, suite.dir_port) for _ in range(2)]
    try:
        with pytest.raises(ConsoleLoginFailed):
            QuickConsole(suite.dir_port, suite.dir_password, host=suite.host, timeout=10)
    finally:
        for sock in pending:
            sock.close()
    console = wait_until(lambda: _login(suite), 30, "a console login once the others left")
    console.close()


def _login(suite):
    try:
        return QuickConsole(suite.dir_port, suite.dir_password, host=suite.host, timeout=10)
    except ConsoleLoginFailed:
        return None
