"""The README's first command: three daemons on loopback, a first backup and its restore."""

import subprocess
import sys

import pytest

from bareos.testing.ports import is_listening

QUICKSTART = [sys.executable, "-m", "bareos.quickstart"]


@pytest.mark.slow            # the whole quickstart with its sample data: about a minute
def test_quickstart_backs_up_and_restores_its_sample_data(tmp_path):
    if any(is_listening(port) for port in (9101, 9102, 9103)):
        pytest.skip("the quickstart needs the default ports 9101-9103, which are in use")
    root = ["--root", str(tmp_path / "quickstart")]
    try:
        subprocess.run(QUICKSTART + root + ["start"], check=True, timeout=120)
        demo = subprocess.run(QUICKSTART + root + ["demo"], capture_output=True, text=True,
                              timeout=300)
        assert demo.returncode == 0, demo.stdout + demo.stderr
        assert "backup:  JobId 1 " in demo.stdout and "OK (T)" in demo.stdout
        assert "identical to" in demo.stdout
    finally:
        subprocess.run(QUICKSTART + root + ["stop"], timeout=60)
