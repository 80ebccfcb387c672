"""Interop tests: official Bareos clients against our daemons.

python-bareos lives in ``.venv-pybareos`` (``scripts/pybareos-venv``), bareos-restapi in
``.venv-restapi`` (``scripts/pybareos-venv restapi``); both are driven in subprocesses
(``bareos.testing.pybareos``, ``bareos.testing.restapi``).  If a venv cannot be made, its
tests are skipped with the reason, except in CI (``CI=true``), where that is a failure.
"""

import os

import pytest

from bareos.testing import pybareos, restapi


def _venv_or_skip(ensure, what):
    try:
        return ensure()
    except pybareos.PyBareosUnavailable as e:
        msg = f"{what} venv could not be created (scripts/pybareos-venv): {e}"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(msg, pytrace=False)
        pytest.skip(msg)


@pytest.fixture(scope="session")
def pybareos_venv():
    return _venv_or_skip(pybareos.ensure_venv, "python-bareos 25.1.1 + sslpsk3")


@pytest.fixture(scope="session")
def restapi_venv():
    return _venv_or_skip(restapi.ensure_venv, "bareos-restapi 25.1.1")
