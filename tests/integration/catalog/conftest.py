"""Fixtures of the catalog suite: every test runs once per backend.

* ``postgres`` (session): a private PostgreSQL cluster from
  :mod:`bareos.testing.postgres` (skipped when PostgreSQL is missing, failed
  when CI=true); started only when a PostgreSQL-backed test runs.
* ``catalog_config``: (Catalog resource, working directory) for a fresh, empty
  catalog of the current backend (param "sqlite" or "postgresql").
* ``catalog``: that catalog, opened; closed after the test.
* ``open_cat``: opens more catalogs on the same database (reopen, upgrades).
"""

import types

import pytest
import pytest_twisted

from bareos.catalog import open_catalog




@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request):
    return request.param


@pytest.fixture
def catalog_config(request, backend, tmp_path):
    if backend == "sqlite":
        resource = types.SimpleNamespace(db_driver="sqlite3", db_name="bareos", db_user=None,
                                         db_password=None, db_address=None, db_port=None,
                                         db_socket=None)
        return resource, str(tmp_path)
    pg = request.getfixturevalue("postgres")
    pg.reset_database()
    return pg.catalog_resource(), str(tmp_path)


@pytest.fixture
def open_cat(catalog_config):
    from twisted.internet import reactor
    opened = []

    def opener(scripts_dir=None, resource=None):
        res, wd = catalog_config
        d = open_catalog(resource or res, wd, reactor, scripts_dir=scripts_dir)
        d.addCallback(lambda cat: opened.append(cat) or cat)
        return d

    yield opener
    for cat in opened:
        pytest_twisted.blockon(cat.close())


@pytest.fixture
def catalog(open_cat):
    return pytest_twisted.blockon(open_cat())
