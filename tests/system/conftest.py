"""System tests: real twistd processes from config written into tmp_path.

The ``suite`` fixture comes from tests/conftest.py.  Here: ``twistd_check``,
which runs ``twistd -n <plugin> -c <path> -t`` to completion and returns the
exit status and the combined output.
"""

from dataclasses import dataclass

import pytest

from bareos.testing.daemons import run_twistd


@dataclass
class CheckResult:
    argv: list
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def __str__(self) -> str:
        return f"argv: {self.argv}\nexit status: {self.returncode}\n--- stdout\n{self.stdout}\n--- stderr\n{self.stderr}"


@pytest.fixture
def twistd_check():
    """``twistd_check(plugin, config_path, *more_args)`` -> CheckResult (``-t`` run)."""

    def check(plugin, config_path, *more_args, timeout=60.0):
        done = run_twistd(plugin, ["-c", str(config_path), "-t", *more_args], timeout=timeout)
        return CheckResult(list(done.args), done.returncode, done.stdout, done.stderr)

    return check
