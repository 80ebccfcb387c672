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

Several workers: ``./scripts/test`` runs pytest-xdist's ``-n 3``.  Each worker has its
own temporary directories, free ports and PostgreSQL server (``postgres`` is per
session, that is per worker, so a test may restart it); the tests that share a
module-scoped fixture run on one worker, so its daemons start once; the tests that use
the machine itself run one after the other (``MACHINE_WIDE``).
"""

import functools
import os
import re
from pathlib import Path

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


# -- several workers (pytest-xdist) ----------------------------------------------------------------

#: Tests that use the machine itself, not a temporary directory and free ports: the Debian
#: packaging tests install packages system-wide (apt, /etc/bareos), and they and the quickstart
#: run the daemons on the default ports 9101-9103.  One worker runs them one after the other.
MACHINE_WIDE = ("tests/packaging/", "tests/system/test_quickstart.py")

#: Files whose tests each start their own daemons (the per-test ``suite`` fixture): a test there
#: is a unit of work by itself, so the long ones of one file run side by side.
ONE_UNIT_PER_TEST = ("tests/system/", "tests/interop/")

#: Where a test comes in the order the units are handed out: the long ones first (they would
#: make the run's tail), short unit tests last, where they fill the gaps.
STARTS_EARLIER = ONE_UNIT_PER_TEST + ("tests/integration/",)

#: A fixture set up once for several tests of a file: a ``scope=`` in the file itself, or one
#: made by bareos.testing's module-scoped fixture factory (``module_director(...)``).
_SHARED_FIXTURE = re.compile(r"""scope\s*=\s*["'](module|class|package)["']|\bmodule_director\(""")


@functools.cache
def _file_shares_fixtures(path: Path) -> bool:
    """Does the test file define a fixture set up once for several of its tests?"""
    return bool(_SHARED_FIXTURE.search(Path(path).read_text()))


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """Units of work: the MACHINE_WIDE tests together; a test in ONE_UNIT_PER_TEST by itself,
    unless its file has a module-scoped fixture (then its daemons start once, on one worker);
    otherwise a test file.  Handed out in the order of pytest_collection_modifyitems.  (Not
    xdist's ``loadgroup``: its group marker renames node ids, which pytest 9 no longer allows.)"""
    from xdist.scheduler import LoadScopeScheduling

    rootdir = config.rootpath

    class Units(LoadScopeScheduling):
        def _split_scope(self, nodeid):
            path = nodeid.split("::", 1)[0]
            if nodeid.startswith(MACHINE_WIDE):
                return "machine-wide"
            if nodeid.startswith(ONE_UNIT_PER_TEST) and not _file_shares_fixtures(rootdir / path):
                return nodeid
            return path

    config.option.loadscopereorder = False
    return Units(config, log)


def pytest_collection_modifyitems(config, items):
    if hasattr(config, "workerinput"):  # an xdist worker: every worker orders the tests alike
        def rank(item):
            if item.nodeid.startswith(MACHINE_WIDE):
                return -2
            if item.get_closest_marker("slow"):
                return -1
            return next((i for i, prefix in enumerate(STARTS_EARLIER) if item.nodeid.startswith(prefix)),
                        len(STARTS_EARLIER))
        items.sort(key=rank)            # stable: the tests of a file keep their order
