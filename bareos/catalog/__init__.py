"""The director's catalog (channel 12): one interface, two backends.

* :mod:`bareos.catalog.api` — the contract: :class:`~bareos.catalog.api.ICatalog`
  (every method returns a Deferred), the record types, the status codes and errors.
* :mod:`bareos.catalog.core` — the operations themselves, written once as SQL
  statement generators that both backends drive.
* :mod:`bareos.catalog.sqlite` — the embedded default (``DB Driver = sqlite3``):
  ``<DB Name>.db`` in the Working Directory, all SQLite calls in one worker thread.
* :mod:`bareos.catalog.postgresql` — ``DB Driver = postgresql`` through txpostgres;
  file records by COPY on a separate blocking connection in a worker thread.
* ``sql/<backend>/NNNN_<what>.sql`` — the schema, created on first start and
  upgraded step by step; the step reached is recorded in the Version table, and a
  database with a newer step than this program knows is refused.

Open a catalog from the director's Catalog resource::

    catalog = yield open_catalog(catalog_resource, director.working_directory, reactor)
    client_id = yield catalog.ensure_client("fd1-fd")
    ...
    yield catalog.close()

When the database server is not up yet (PostgreSQL starting after the director,
a network hiccup), ``open_catalog`` fails with a
:class:`~bareos.catalog.api.CatalogConnectionError` that names the server and the
database.  Its ``retryable`` attribute is False for errors only an administrator
can fix (bad password, unknown database or role).  The director should log the
message and either exit (``twistd -t``, first start on a console) or keep trying
with :func:`open_catalog_retrying`, which waits 1, 2, 4, ... 32, 60, 60, ...
seconds on the injected clock between attempts and gives up on a non-retryable
error; jobs must not start until the catalog is open.
"""

from __future__ import annotations

from twisted.internet import defer
from twisted.logger import Logger

from bareos.catalog.api import (  # noqa: F401  (re-exported)
    CatalogClosedError, CatalogConfigError, CatalogConnectionError, CatalogError,
    CatalogIntegrityError, CatalogSchemaError, ClientRecord, FileEntry, FileRecord, ICatalog,
    JobMediaEntry, JobRecord, LogEntry, PoolRecord, RestoreSelection, SelectedFile, VolumeRecord,
)
from bareos.network.retry import backoff, retrying

__all__ = [
    "open_catalog", "open_catalog_retrying", "make_catalog", "DRIVERS", "ICatalog",
    "JobRecord", "ClientRecord", "PoolRecord", "VolumeRecord", "FileRecord", "FileEntry",
    "SelectedFile", "RestoreSelection", "JobMediaEntry", "LogEntry", "CatalogError",
    "CatalogConfigError", "CatalogConnectionError", "CatalogSchemaError", "CatalogIntegrityError",
    "CatalogClosedError", "retry_while_server_down",
]

log = Logger(namespace="bareos.catalog")

DRIVERS = ("sqlite3", "postgresql")


def make_catalog(catalog_resource, working_directory, reactor=None, scripts_dir=None):
    """An unopened backend for a Catalog resource (attributes ``db_driver, db_name,
    db_user, db_password, db_address, db_port, db_socket``, any may be None)."""
    driver = (getattr(catalog_resource, "db_driver", None) or "sqlite3").lower()
    name = getattr(catalog_resource, "db_name", None)
    if not name:
        raise CatalogConfigError("Catalog resource: DB Name is required")
    if driver == "sqlite3":
        from bareos.catalog.sqlite import SQLiteCatalog, sqlite_path
        return SQLiteCatalog(sqlite_path(name, working_directory), reactor=reactor,
                             scripts_dir=scripts_dir)
    if driver == "postgresql":
        from bareos.catalog.postgresql import PostgreSQLCatalog
        socket_dir = getattr(catalog_resource, "db_socket", None)
        address = getattr(catalog_resource, "db_address", None)
        # libpq: a host starting with '/' is a directory holding the unix socket.
        host = socket_dir or address or None
        return PostgreSQLCatalog(
            name, user=getattr(catalog_resource, "db_user", None),
            password=getattr(catalog_resource, "db_password", None), host=host,
            port=getattr(catalog_resource, "db_port", None), reactor=reactor,
            scripts_dir=scripts_dir)
    raise CatalogConfigError(f"Catalog resource: unknown DB Driver {driver!r}; "
                             f"this director supports {' and '.join(DRIVERS)}")


def open_catalog(catalog_resource, working_directory, reactor=None, scripts_dir=None):
    """Open (creating or upgrading the schema) the catalog a Catalog resource names.

    Fires with an :class:`ICatalog` provider; errbacks with CatalogConfigError,
    CatalogConnectionError or CatalogSchemaError.
    """
    try:
        catalog = make_catalog(catalog_resource, working_directory, reactor, scripts_dir)
    except Exception:
        return defer.fail()
    return catalog.open()


RETRY_POLICY = backoff(1, 60)      # seconds between attempts: 1, 2, 4, ... 32, 60, 60, ...


def open_catalog_retrying(catalog_resource, working_directory, reactor, clock=None,
                          policy=RETRY_POLICY, attempts=None, opener=open_catalog):
    """``open_catalog`` that waits (``policy``) and retries while the server is unreachable.

    Stops at the first non-retryable error or after ``attempts`` attempts (None: forever).
    Returns a Deferred, like ``open_catalog``.
    """
    return retry_while_server_down(
        clock or reactor, lambda: opener(catalog_resource, working_directory, reactor),
        policy, attempts=attempts)


def retry_while_server_down(clock, attempt, policy, timeout=None, attempts=None):
    """``attempt()`` (a Deferred) tried again, waiting ``policy`` on ``clock``, while it fails
    with a retryable :class:`CatalogConnectionError`, each failure logged; stops after
    ``timeout`` seconds or ``attempts`` attempts (None: no limit).  Returns a Deferred."""
    def server_down(exc):
        return isinstance(exc, CatalogConnectionError) and exc.retryable

    def log_retry(exc, _failures, delay):
        log.warn("{error}; trying again in {delay:g} s", error=exc, delay=delay)

    return defer.ensureDeferred(retrying(
        clock, lambda _remaining: attempt(), policy, timeout=timeout, attempts=attempts,
        should_retry=server_down, on_retry=log_retry))
