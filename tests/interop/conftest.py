"""Interop tests: the official python-bareos client against our daemons.

python-bareos lives in ``.venv-pybareos`` (``scripts/pybareos-venv``) and is
driven in a subprocess (``bareos.testing.pybareos``).  If that venv cannot be
made, the interop tests are skipped with the reason, except in CI
(``CI=true``), where that is a failure.
"""

import os

import pytest

from bareos.testing import pybareos


@pytest.fixture(scope="session")
def pybareos_venv():
    try:
        return pybareos.ensure_venv()
    except pybareos.PyBareosUnavailable as e:
        msg = f"python-bareos 25.1.1 + sslpsk3 venv could not be created (scripts/pybareos-venv): {e}"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(msg, pytrace=False)
        pytest.skip(msg)
