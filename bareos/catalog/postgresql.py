"""The PostgreSQL catalog: txpostgres for everything, plus COPY for file records.

Ordinary catalog operations run on a :class:`txpostgres.ConnectionPool` — psycopg2
*asynchronous* connections polled by the reactor, so no thread and no blocking.

File records are different.  PROTOCOL.md §9 loads them the way Bareos does, by
``COPY batch FROM STDIN`` into a temporary table followed by two set-based INSERTs.
psycopg2 cannot run COPY on an asynchronous connection (``copy_expert`` raises
"ProgrammingError: copy_expert cannot be used in asynchronous mode"), so this
backend keeps ONE extra, ordinary (blocking) psycopg2 connection and uses it only
from one dedicated worker thread.  The temporary ``batch`` table lives in that
connection's session, which is why the COPY and both INSERTs run there too.
Batches of concurrent jobs queue on that thread; they would serialise on the
Path lock anyway.
"""

from __future__ import annotations

import re

import psycopg2
from twisted.internet import defer
from twisted.logger import Logger
from txpostgres import txpostgres
from zope.interface import implementer

from bareos.catalog import core
from bareos.catalog.api import (
    CatalogClosedError, CatalogConnectionError, CatalogIntegrityError, ICatalog,
)
from bareos.daemon.threads import SerialWorker

log = Logger(namespace="bareos.catalog.postgresql")

SESSION_SETTINGS = (
    "SET datestyle TO 'ISO, YMD'",
    "SET client_min_messages TO WARNING",
    "SET cursor_tuple_fraction = 1",
)

_VERSION_TABLE_EXISTS = ("SELECT 1 FROM information_schema.tables "
                         "WHERE table_schema = current_schema() AND table_name = 'version'")
# Two directors upgrading the same database at once: the second waits, then finds it done.
_UPGRADE_LOCK = "SELECT pg_advisory_xact_lock(5142250)"

# COPY text format: backslash, tab, newline, CR and the other control escapes
# become backslash sequences; everything else (quotes, spaces, non-ASCII) is literal.
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r",
                               "\b": "\\b", "\f": "\\f", "\v": "\\v"})


_NEEDS_ESCAPE = re.compile(r"[\\\t\n\r\b\f\v]").search


def copy_escape(text):
    # str.translate with a dict costs ~50 ns per character; most fields need no
    # escaping at all, and the regular expression finds that out in C.
    if _NEEDS_ESCAPE(text) is None:
        return text
    return text.translate(_COPY_ESCAPES)


def copy_bytea(raw):
    """Bytes as a bytea field of COPY text: the hex form ``\\x...`` with its backslash doubled."""
    return "\\\\x" + raw.hex()


class _CopyReader:
    """A file-like object producing the COPY text of a batch lazily, chunk by chunk,
    so that a batch is never held twice in memory."""

    def __init__(self, job_id, rows):
        self._rows = iter(rows)
        self._job = str(job_id)

    def read(self, size=65536):
        if size is None or size < 0:
            size = 1 << 62
        out, n = [], 0
        job, esc = self._job, copy_escape
        for fi, path, name, lstat, md5, delta in self._rows:
            line = (f"{fi}\t{job}\t{copy_bytea(path)}\t{copy_bytea(name)}\t{esc(lstat)}\t"
                    f"{esc(md5)}\t{delta}\n")
            out.append(line)
            n += len(line)
            if n >= size:
                break
        return "".join(out).encode("utf-8")

    readline = read


def _first_line(error):
    text = str(error).strip()
    return text.splitlines()[0].strip() if text else error.__class__.__name__


def _not_retryable(message):
    m = message.lower()
    return any(s in m for s in ("password authentication failed", "does not exist",
                                "no pg_hba.conf entry", "authentication failed",
                                "no password supplied", "permission denied"))


@implementer(ICatalog)
class PostgreSQLCatalog(core.SQLCatalog):
    driver = "postgresql"
    schema_dir = "postgresql"

    def __init__(self, dbname, user=None, password=None, host=None, port=None, reactor=None,
                 scripts_dir=None, clock=None, pool_size=3, connect_timeout=10):
        super().__init__(reactor, scripts_dir, clock)
        self.dbname = dbname
        self.user = user
        self.host = host
        self.port = port
        self._connargs = {k: v for k, v in dict(
            dbname=dbname, user=user, password=password, host=host,
            port=int(port) if port else None, connect_timeout=connect_timeout,
            application_name="bareos-dir").items() if v is not None}
        self._pool_size = pool_size
        self._pool = None
        self._worker = None
        self._copy_conn = None

    @property
    def server(self):
        """Human words for where we connect: "127.0.0.1:5432", "socket /run/postgresql (port 5432)"."""
        port = self.port or 5432
        if not self.host:
            return f"the default local socket (port {port})"
        if self.host.startswith("/"):
            return f"socket {self.host} (port {port})"
        return f"{self.host}:{port}"

    def __repr__(self):
        return f"<PostgreSQLCatalog {self.dbname} on {self.server}>"

    def _connection_error(self, error, doing="connect to"):
        message = _first_line(error)
        return CatalogConnectionError(
            f"cannot {doing} the PostgreSQL catalog: database {self.dbname!r} on {self.server}"
            f"{' as user ' + repr(self.user) if self.user else ''}: {message}",
            server=self.server, database=self.dbname, retryable=not _not_retryable(message))

    # --- lifecycle --------------------------------------------------------

    @defer.inlineCallbacks
    def open(self):
        scripts = core.discover_scripts(self._scripts_dir)
        pool_class = type("_CatalogConnectionPool", (txpostgres.ConnectionPool,),
                          {"reactor": self._reactor, "min": self._pool_size})
        pool = pool_class(None, **self._connargs)
        connected = []
        try:
            for connection in list(pool.connections):
                yield connection.connect(**self._connargs)
                connected.append(connection)
                for setting in SESSION_SETTINGS:
                    yield connection.runOperation(setting)
        except psycopg2.Error as e:
            for connection in connected:
                connection.close()
            raise self._connection_error(e) from e
        self._pool = pool
        self._worker = SerialWorker(self._reactor, "bareos-catalog-pg-copy")
        try:
            old, new = yield self._run(core.op_upgrade, scripts, _VERSION_TABLE_EXISTS, _UPGRADE_LOCK)
        except BaseException:
            yield self.close()
            raise
        if old != new:
            log.info("PostgreSQL catalog {db} on {server}: schema {old} -> {new}",
                     db=self.dbname, server=self.server, old=old, new=new)
        return self

    @defer.inlineCallbacks
    def close(self):
        if self._worker is not None:
            yield self._worker.call(self._close_copy_conn)
        self._stop_worker()
        if self._pool is not None:
            pool, self._pool = self._pool, None
            pool.close()

    # --- ordinary operations on txpostgres ------------------------------------

    def _run(self, op, *args, **kwargs):
        if self._pool is None:
            return defer.fail(CatalogClosedError(f"PostgreSQL catalog {self.dbname} is not open"))
        d = self._pool.runInteraction(self._interaction, op, args, kwargs)
        d.addErrback(self._map_failure)
        return d

    def _map_failure(self, failure):
        error = failure.value
        if isinstance(error, txpostgres.RollbackFailed):
            error = error.originalFailure.value
        mapped = self._map_error(error)
        if mapped is failure.value:
            return failure
        raise mapped

    def _map_error(self, error):
        if isinstance(error, psycopg2.IntegrityError):
            return CatalogIntegrityError(_first_line(error))
        if isinstance(error, (psycopg2.OperationalError, psycopg2.InterfaceError)):
            return self._connection_error(error, "use")
        return error

    @defer.inlineCallbacks
    def _interaction(self, cursor, op, args, kwargs):
        gen = op(*args, **kwargs)
        result, error = None, None
        while True:
            try:
                if error is None:
                    stmt = gen.send(result)
                else:
                    stmt, error = gen.throw(error), None
            except StopIteration as stop:
                return stop.value
            try:
                result = yield self._execute(cursor, stmt)
            except Exception as e:
                result, error = None, self._map_error(e)

    @staticmethod
    def _execute(cursor, stmt):
        if stmt.mode == "script":
            return cursor.execute(stmt.sql).addCallback(lambda _: None)
        sql, params = stmt.sql, stmt.params
        if stmt.mode == "id":
            sql += f" RETURNING {stmt.id_column}"
        if params:
            sql = sql.replace("%", "%%").replace("?", "%s")
        else:
            params = None
        d = cursor.execute(sql, params)
        if stmt.mode == "all":
            return d.addCallback(lambda _: cursor.fetchall())
        if stmt.mode == "one":
            return d.addCallback(lambda _: cursor.fetchone())
        if stmt.mode == "count":
            return d.addCallback(lambda _: cursor.rowcount)
        if stmt.mode == "id":
            return d.addCallback(lambda _: cursor.fetchone()[0])
        raise ValueError(stmt.mode)

    # --- file records: COPY on the blocking connection, in its own thread --------

    def _store_files(self, job_id, rows):
        if self._worker is None:
            return defer.fail(CatalogClosedError(f"PostgreSQL catalog {self.dbname} is not open"))
        return self._worker.call(self._store_files_sync, job_id, rows)

    def _copy_connection(self):
        if self._copy_conn is None or self._copy_conn.closed:
            self._copy_conn = None
            try:
                conn = psycopg2.connect(**self._connargs)
                conn.set_client_encoding("UTF8")
                with conn.cursor() as cur:
                    for setting in SESSION_SETTINGS:
                        cur.execute(setting)
                    cur.execute("CREATE TEMPORARY TABLE batch (FileIndex integer, JobId integer, "
                                "Path bytea, Name bytea, LStat text, MD5 text, DeltaSeq smallint)")
                conn.commit()
            except psycopg2.Error as e:
                raise self._connection_error(e) from e
            self._copy_conn = conn
        return self._copy_conn

    def _close_copy_conn(self):
        if self._copy_conn is not None:
            conn, self._copy_conn = self._copy_conn, None
            if not conn.closed:
                conn.close()

    def _store_files_sync(self, job_id, rows):
        conn = self._copy_connection()
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT 1 FROM Job WHERE JobId = %s", (job_id,))
                if cur.fetchone() is None:
                    raise CatalogIntegrityError(f"no job with JobId {job_id} in the catalog")
                cur.execute("TRUNCATE batch")
                cur.copy_expert("COPY batch (FileIndex, JobId, Path, Name, LStat, MD5, DeltaSeq) "
                                "FROM STDIN", _CopyReader(job_id, rows))
                # New paths first, in a short transaction of their own that holds the
                # Path lock, so that two jobs flushing at once never both insert a path.
                cur.execute("LOCK TABLE Path IN SHARE ROW EXCLUSIVE MODE")
                cur.execute("INSERT INTO Path (Path) SELECT a.Path FROM "
                            "(SELECT DISTINCT Path FROM batch) AS a "
                            "WHERE NOT EXISTS (SELECT 1 FROM Path p WHERE p.Path = a.Path)")
                conn.commit()
                # The batch is still there: it is a session table, not an ON COMMIT DROP one.
                cur.execute("INSERT INTO File (FileIndex, JobId, PathId, Name, LStat, MD5, DeltaSeq) "
                            "SELECT b.FileIndex, b.JobId, p.PathId, b.Name, b.LStat, b.MD5, "
                            "b.DeltaSeq FROM batch b JOIN Path p ON p.Path = b.Path")
                stored = cur.rowcount
                cur.execute("TRUNCATE batch")
                conn.commit()
                return stored
        except BaseException as e:
            try:
                if not conn.closed:
                    conn.rollback()
            except psycopg2.Error:
                pass
            if isinstance(e, (psycopg2.OperationalError, psycopg2.InterfaceError)):
                self._close_copy_conn()
                raise self._connection_error(e, "use") from e
            if isinstance(e, psycopg2.IntegrityError):
                raise CatalogIntegrityError(_first_line(e)) from e
            raise
