"""Our bconsole, scripted through a pipe, against a real director process."""

import subprocess
import sys
import time
from pathlib import Path

import pytest

from bareos.protocol.conversation import FAILURE_DELAY
from bareos.protocol.handshake import TEST_FAILURE_DELAY_ENV

BCONSOLE = [sys.executable, "-m", "bareos.console.main"]
REPO = Path(__file__).resolve().parents[2]


def run_bconsole(config, commands, *extra):
    return subprocess.run(BCONSOLE + ["-c", str(config), *extra], input=commands, text=True,
                          capture_output=True, timeout=60, cwd=REPO)


def test_default_console_runs_piped_commands(suite):
    suite.start_director()
    result = run_bconsole(suite.write_bconsole(), "status director\nwhoami\nlist clients\nnosuch\n")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "You are connected using the default console" in out
    assert "*status director\n" in out
    assert "Client Initiated Connections (waiting for jobs):" in out
    assert "*whoami\nroot\n" in out
    assert f"| {suite.client_name} " in out
    assert "nosuch: is an invalid command." in out


@pytest.mark.parametrize("tls", ["none", "required"])
def test_named_console_in_cleartext_and_with_tls_psk(suite, tls):
    suite.add_console("operator", tls=tls)
    suite.start_director()
    result = run_bconsole(suite.write_bconsole("operator"), "whoami\n")
    assert result.returncode == 0, result.stderr
    assert "You are logged in as: operator" in result.stdout
    assert "*whoami\noperator\n" in result.stdout
    encryption = [line for line in result.stdout.splitlines() if line.startswith("Encryption:")]
    if tls == "none":
        assert encryption == ["Encryption: None"]
    else:
        assert len(encryption) == 1 and "None" not in encryption[0]


def wrong_password_bconsole(suite):
    config = suite.write_bconsole()
    config.write_text(config.read_text().replace(suite.dir_password, "not-the-password"))
    return config


def test_wrong_password_gives_a_clear_error_and_exit_status(suite, tmp_path):
    director = suite.start_director()
    result = run_bconsole(wrong_password_bconsole(suite), "whoami\n")
    assert result.returncode == 1
    assert "bconsole:" in result.stderr and "Traceback" not in result.stderr
    # the suite shortens the delay before the refusal; the director says so in its log
    assert f"{TEST_FAILURE_DELAY_ENV} is set" in director.log_text()


def test_a_failed_login_is_refused_after_the_delay_that_slows_down_guessing(suite):
    suite.failed_login_delay = None               # the director's own delay, as deployed
    director = suite.start_director()
    started = time.monotonic()
    result = run_bconsole(wrong_password_bconsole(suite), "whoami\n")
    assert result.returncode == 1
    assert time.monotonic() - started >= FAILURE_DELAY      # a lower bound: load only adds
    assert TEST_FAILURE_DELAY_ENV not in director.log_text()


def test_test_config_checks_and_names_the_line_of_an_error(suite, tmp_path):
    good = suite.write_bconsole()
    assert run_bconsole(good, "", "-t").returncode == 0
    bad = tmp_path / "bad-bconsole.conf"
    bad.write_text("Director {\n  Name = x\n  Pasword = y\n}\n")
    result = run_bconsole(bad, "", "-t")
    assert result.returncode == 1
    assert "bad-bconsole.conf:3:" in result.stderr
