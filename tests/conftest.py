"""Fixtures shared by tests/system and tests/interop (real twistd processes).

* ``suite``: a :class:`bareos.testing.daemons.Suite` in ``tmp_path``: matching
  director / file daemon / storage daemon / bconsole configs on free loopback
  ports with generated passwords.  Start daemons with ``suite.start_director()``,
  ``suite.start_fd()``, ``suite.start_sd()`` (options: TLS policies, named
  consoles via ``suite.add_console()``, ``monitor=True`` for the FD, ...).
  Every daemon it started is stopped by PID at teardown, also when the test
  failed; the daemons' log tails are printed for a failed test.
* ``postgres`` (session): a private PostgreSQL server.
* ``pybareos_venv`` (session): the python-bareos venv (bareos.testing.pybareos).
"""

import os

import pytest

from bareos.testing import pybareos, restapi
from bareos.testing.daemons import Suite, stop_all
from bareos.testing.postgres import postgres_server


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, f"rep_{rep.when}", rep)


def _failed(request) -> bool:
    node = request.node
    return any(getattr(getattr(node, f"rep_{w}", None), "failed", False) for w in ("setup", "call"))


@pytest.fixture
def suite(tmp_path, request):
    s = Suite(tmp_path)
    try:
        yield s
    finally:
        statuses = s.stop()
        if _failed(request) and s.daemons:
            print(f"\n=== daemons of the failed test (exit statuses: {statuses}) ===")
            print(s.describe())


def pytest_sessionfinish(session, exitstatus):
    # Safety net: nothing this test run started may outlive it.
    stop_all()


@pytest.fixture(scope="session")
def postgres():
    """A private PostgreSQL server for the whole test run (see bareos.testing.postgres)."""
    yield from postgres_server()


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
    """The python-bareos venv; skipped when it cannot be made, except in CI."""
    return _venv_or_skip(pybareos.ensure_venv, "python-bareos 25.1.1 + sslpsk3")


@pytest.fixture(scope="session")
def restapi_venv():
    """The bareos-restapi venv (tests/interop/test_restapi.py); as pybareos_venv."""
    return _venv_or_skip(restapi.ensure_venv, "bareos-restapi 25.1.1")
