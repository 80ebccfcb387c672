"""The embedded SQLite catalog: the default, needs no setup.

The database is one file, ``<DB Name>.db`` in the director's Working Directory
(or ``DB Name`` itself when it is an absolute path).  A sqlite3 connection
belongs to the thread that uses it, so the backend owns ONE worker thread (a
:class:`~bareos.daemon.threads.SerialWorker`, a one-thread pool) and every SQLite
call happens there: the reactor never waits for the disk (ARCHITECTURE
principle 6), and calls are naturally serialised, one transaction at a time.
"""

from __future__ import annotations

import os
import sqlite3

from twisted.internet import defer
from twisted.logger import Logger
from zope.interface import implementer

from bareos.catalog import core
from bareos.catalog.api import (
    CatalogClosedError, CatalogConnectionError, CatalogError, CatalogIntegrityError, ICatalog,
)
from bareos.daemon.threads import SerialWorker

log = Logger(namespace="bareos.catalog.sqlite")

#: Oldest SQLite library with everything the shared SQL uses (upsert 3.24, window functions 3.25).
MIN_SQLITE = (3, 25, 0)


def sqlite_path(db_name, working_directory):
    """Where the catalog of ``DB Name`` lives: ``<Working Directory>/<DB Name>.db``,
    or ``DB Name`` itself when absolute (or ``:memory:``)."""
    if db_name == ":memory:" or os.path.isabs(db_name):
        return db_name
    if not working_directory:
        raise CatalogError(f"SQLite catalog {db_name!r}: the director has no Working Directory "
                           f"to put {db_name}.db in; set one or give DB Name as an absolute path")
    return os.path.join(working_directory, db_name + ".db")


def _sqlite_param(value):
    if hasattr(value, "isoformat") and not isinstance(value, str):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return value


def _split_script(text):
    """A script -> its statements (sqlite3.complete_statement knows about strings, triggers)."""
    statements, current = [], []
    for line in text.splitlines(keepends=True):
        current.append(line)
        chunk = "".join(current)
        if sqlite3.complete_statement(chunk):
            if chunk.strip():
                statements.append(chunk)
            current = []
    rest = "".join(current)
    if rest.strip() and not all(l.strip().startswith("--") or not l.strip()
                                for l in rest.splitlines()):
        statements.append(rest)
    return statements


@implementer(ICatalog)
class SQLiteCatalog(core.SQLCatalog):
    driver = "sqlite3"
    schema_dir = "sqlite"

    def __init__(self, path, reactor=None, scripts_dir=None, clock=None):
        super().__init__(reactor, scripts_dir, clock)
        self.path = path
        self._conn = None
        self._worker = None
        self._closed = False

    def __repr__(self):
        return f"<SQLiteCatalog {self.path}>"

    # --- lifecycle --------------------------------------------------------

    @defer.inlineCallbacks
    def open(self):
        if self._closed:
            raise CatalogClosedError("this catalog was closed; open a new one")
        scripts = core.discover_scripts(self._scripts_dir)
        self._worker = SerialWorker(self._reactor, "bareos-catalog-sqlite")
        try:
            yield self._in_thread(self._connect)
            old, new = yield self._run(
                core.op_upgrade, scripts,
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND lower(name) = 'version'")
        except BaseException:
            yield self.close()
            raise
        if old != new:
            log.info("SQLite catalog {path}: schema {old} -> {new}", path=self.path, old=old, new=new)
        return self

    def close(self):
        if self._worker is None:
            self._closed = True
            return defer.succeed(None)
        d = self._in_thread(self._disconnect)
        d.addBoth(self._after_close)
        return d

    def _after_close(self, result):
        self._stop_worker()
        self._closed = True
        return result

    def _in_thread(self, f, *args, **kwargs):
        if self._worker is None:
            return defer.fail(CatalogClosedError(f"SQLite catalog {self.path} is not open"))
        return self._worker.call(f, *args, **kwargs)

    # --- in the database thread ---------------------------------------------

    def _connect(self):
        if sqlite3.sqlite_version_info < MIN_SQLITE:
            raise CatalogError(f"SQLite {sqlite3.sqlite_version} is too old for the catalog; "
                               f"need {'.'.join(map(str, MIN_SQLITE))} or newer")
        try:
            # isolation_level=None: we issue BEGIN/COMMIT ourselves.  check_same_thread=False:
            # the connection is created and used only in our single worker thread, but
            # close() may run in a different pool thread after a restart.
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None,
                                   check_same_thread=False)
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")   # durable enough with WAL, much faster
            conn.execute("PRAGMA foreign_keys = ON")
        except sqlite3.Error as e:
            raise CatalogConnectionError(
                f"cannot open the SQLite catalog {self.path}: {e}", server="sqlite3",
                database=self.path, retryable=False) from e
        self._conn = conn

    def _disconnect(self):
        if self._conn is not None:
            conn, self._conn = self._conn, None
            conn.close()

    def _execute(self, cur, stmt):
        if stmt.mode == "script":
            for statement in _split_script(stmt.sql):
                cur.execute(statement)
            return None
        params = [_sqlite_param(p) for p in stmt.params]
        cur.execute(stmt.sql, params)
        if stmt.mode == "all":
            return cur.fetchall()
        if stmt.mode == "one":
            return cur.fetchone()
        if stmt.mode == "count":
            return cur.rowcount
        if stmt.mode == "table":
            columns = [column[0] for column in cur.description or ()]
            return columns, cur.fetchall() if columns else []
        if stmt.mode == "id":
            return cur.lastrowid
        raise ValueError(stmt.mode)

    def _transaction(self, body):
        if self._conn is None:
            raise CatalogClosedError(f"SQLite catalog {self.path} is not open")
        try:
            cur = self._conn.cursor()
            cur.execute("BEGIN IMMEDIATE")
            try:
                result = body(cur)
            except BaseException:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise
            cur.execute("COMMIT")
            return result
        except sqlite3.IntegrityError as e:
            raise CatalogIntegrityError(str(e)) from e
        except (sqlite3.ProgrammingError, sqlite3.InterfaceError, sqlite3.NotSupportedError):
            raise                                   # a mistake in our SQL, not the database's
        except sqlite3.DatabaseError as e:
            # database is locked, disk I/O error, database or disk is full, ...: name the file
            raise CatalogError(f"SQLite catalog {self.path}: {e}") from e

    def _run_sync(self, op, args, kwargs):
        return self._transaction(
            lambda cur: core.drive_sync(op(*args, **kwargs), lambda s: self._execute(cur, s)))

    def _run(self, op, *args, **kwargs):
        return self._in_thread(self._run_sync, op, args, kwargs)

    # --- file records ------------------------------------------------------

    def _store_files(self, job_id, rows):
        return self._in_thread(self._transaction, lambda cur: self._store_files_sync(cur, job_id, rows))

    def _store_files_sync(self, cur, job_id, rows):
        # The same shape as the PostgreSQL COPY path: load the batch into a
        # temporary table in one executemany, then two set-based statements add
        # the new paths and the File rows with their PathIds.  One transaction.
        core.drive_sync(core.op_require_job(job_id), lambda s: self._execute(cur, s))
        cur.execute("CREATE TEMPORARY TABLE IF NOT EXISTS batch (FileIndex integer, Path blob, "
                    "Name blob, LStat text, MD5 text, DeltaSeq integer)")
        cur.execute("DELETE FROM batch")
        cur.executemany("INSERT INTO batch VALUES (?, ?, ?, ?, ?, ?)", rows)
        cur.execute("INSERT INTO Path (Path) SELECT DISTINCT b.Path FROM batch b "
                    "WHERE NOT EXISTS (SELECT 1 FROM Path p WHERE p.Path = b.Path)")
        cur.execute("INSERT INTO File (FileIndex, JobId, PathId, Name, LStat, MD5, DeltaSeq) "
                    "SELECT b.FileIndex, ?, p.PathId, b.Name, b.LStat, b.MD5, b.DeltaSeq "
                    "FROM batch b JOIN Path p ON p.Path = b.Path ORDER BY b.rowid", (job_id,))
        stored = cur.rowcount
        cur.execute("DELETE FROM batch")
        return stored
