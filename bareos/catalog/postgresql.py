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

Both kinds of connection survive a server restart (or any lost connection): a
connection found closed is opened again before it is used, retried by the one
retry policy (:mod:`bareos.network.retry`) for at most ``reconnect_timeout``
seconds, and an operation that lost its connection before its COMMIT was sent
(so nothing of it was committed) runs once more.  One that lost it while
committing fails, saying so: whether it was recorded cannot be known.
"""

from __future__ import annotations

import re

import psycopg2
import psycopg2.extensions
from twisted.internet import defer
from twisted.logger import Logger
from txpostgres import txpostgres
from zope.interface import implementer

from bareos.catalog import core, retry_while_server_down
from bareos.catalog.api import (
    CatalogClosedError, CatalogConnectionError, CatalogIntegrityError, ICatalog,
)
from bareos.daemon.threads import SerialWorker
from bareos.network.retry import backoff

log = Logger(namespace="bareos.catalog.postgresql")

SESSION_SETTINGS = (
    "SET datestyle TO 'ISO, YMD'",
    "SET client_min_messages TO WARNING",
    "SET cursor_tuple_fraction = 1",
)



def _bytea_as_bytes(value, cursor):
    """A bytea column as ``bytes``, decoded from the server's hex form with
    ``bytes.fromhex``: psycopg2's own caster (memoryview) costs four times as much,
    which is most of the time of reading a million file names (a restore tree)."""
    if value is None:
        return None
    if value.startswith("\\x"):
        return bytes.fromhex(value[2:])
    return bytes(psycopg2.BINARY(value, cursor))      # bytea_output = escape


BYTEA_AS_BYTES = psycopg2.extensions.new_type(psycopg2.BINARY.values, "BYTEA_AS_BYTES",
                                              _bytea_as_bytes)

_VERSION_TABLE_EXISTS = ("SELECT 1 FROM information_schema.tables "
                         "WHERE table_schema = current_schema() AND table_name = 'version'")
# Two directors upgrading the same database at once: the second waits, then finds it done.
_UPGRADE_LOCK = "SELECT pg_advisory_xact_lock(5142250)"

# Opening a lost connection again: 0.5, 1, 2, 2, ... seconds between attempts, for at most
# RECONNECT_TIMEOUT seconds (a restart of the server takes a few), after which the job or
# the console command that needed the catalog fails with the server's reason.
RECONNECT_POLICY = backoff(0.5, 2)
RECONNECT_TIMEOUT = 10.0

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


def _table(cursor):
    """The column names and rows of the statement just run (none for one without rows)."""
    columns = [column[0] for column in cursor.description or ()]
    return columns, cursor.fetchall() if columns else []


def _first_line(error):
    text = str(error).strip()
    return text.splitlines()[0].strip() if text else error.__class__.__name__


def _not_retryable(message):
    m = message.lower()
    return any(s in m for s in ("password authentication failed", "does not exist",
                                "no pg_hba.conf entry", "authentication failed",
                                "no password supplied", "permission denied"))


class _ConnectionLost(Exception):
    """A transaction's connection to the server was lost.  ``committing``: it was lost
    after COMMIT was sent, so whether the transaction was recorded is unknown."""

    def __init__(self, error, committing):
        super().__init__(str(error))
        self.error = error
        self.committing = committing


def _is_closed(connection):
    """True when a txpostgres connection was never opened, was closed, or the server dropped it."""
    pollable = connection.pollable()
    return pollable is None or bool(pollable.closed)


def _close(connection):
    """Close a txpostgres connection, if it was ever opened (closing twice is fine)."""
    if connection.pollable() is not None:
        connection.close()


class _CatalogConnection(txpostgres.Connection):
    def doRead(self):
        # txpostgres' doRead, which watches an idle connection for NOTIFY, with two holes
        # closed.  When the server goes away (a restart) psycopg2 raises here, with no
        # query to report it to; the next transaction opens the connection again.  And a
        # connect the server cut off leaves psycopg2 saying "open" while libpq has already
        # dropped the socket (fileno -1), which the reactor cannot watch.
        try:
            txpostgres._PollingMixin.doRead(self)
            self.checkForNotifies()
        except psycopg2.Error as e:
            log.warn("An idle PostgreSQL catalog connection was closed by the server: {reason}; "
                     "it is opened again when next needed", reason=_first_line(e))
        if not self._connection.closed and self.fileno() >= 0:
            self.reactor.addReader(self)


class _ConnectionPool(txpostgres.ConnectionPool):
    """txpostgres' pool of asynchronous connections, where a transaction first opens its
    connection again (``reopen(connection)``, a Deferred) if the server dropped it, and
    fails with :class:`_ConnectionLost` when the connection is lost on the way."""

    connectionFactory = _CatalogConnection

    def __init__(self, reactor, size, reopen):
        self.reactor, self.min = reactor, size
        super().__init__(None)
        self._reopen = reopen

    def _runInteraction(self, interaction, *args, **kwargs):
        connection = self.connections.pop()
        d = connection.lock.run(self._transaction, connection, interaction, args, kwargs)
        return d.addBoth(self._putBackAndPassthrough, connection)

    @defer.inlineCallbacks
    def _transaction(self, connection, interaction, args, kwargs):
        if _is_closed(connection):
            yield self._reopen(connection)
        cursor = connection.cursor()
        committing = False
        try:
            yield cursor.execute("BEGIN")
            result = yield interaction(cursor, *args, **kwargs)
            committing = True
            yield cursor.execute("COMMIT")
            return result
        except Exception as e:
            if _is_closed(connection):
                # Most likely the server went away: the idle connections are closed too,
                # so that running the transaction again does not pick another dead one.
                for idle in list(self.connections):
                    _close(idle)
                raise _ConnectionLost(e, committing) from e
            error = e
        try:
            yield cursor.execute("ROLLBACK")
        except psycopg2.Error:
            pass          # lost meanwhile: the server has rolled back, and the next use reopens
        raise error


@implementer(ICatalog)
class PostgreSQLCatalog(core.SQLCatalog):
    driver = "postgresql"
    schema_dir = "postgresql"

    def __init__(self, dbname, user=None, password=None, host=None, port=None, reactor=None,
                 scripts_dir=None, clock=None, pool_size=3, connect_timeout=10,
                 reconnect_timeout=RECONNECT_TIMEOUT):
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
        self.reconnect_timeout = reconnect_timeout
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
        if isinstance(error, CatalogConnectionError):
            return error
        message = _first_line(error)
        return CatalogConnectionError(
            f"cannot {doing} the PostgreSQL catalog: database {self.dbname!r} on {self.server}"
            f"{' as user ' + repr(self.user) if self.user else ''}: {message}",
            server=self.server, database=self.dbname, retryable=not _not_retryable(message))

    # --- lifecycle --------------------------------------------------------

    @defer.inlineCallbacks
    def open(self):
        scripts = core.discover_scripts(self._scripts_dir)
        pool = _ConnectionPool(self._reactor, self._pool_size, self._reopen)
        try:
            for connection in list(pool.connections):
                yield self._open_connection(connection)
        except CatalogConnectionError:
            for connection in pool.connections:
                _close(connection)
            raise
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

    # --- (re)connecting ---------------------------------------------------------

    @defer.inlineCallbacks
    def _open_connection(self, connection):
        try:
            _close(connection)
            yield connection.connect(**self._connargs)
            psycopg2.extensions.register_type(BYTEA_AS_BYTES, connection.pollable())
            # On a cursor, not by connection.runOperation: a transaction reopening its
            # connection already holds the connection's lock.
            cursor = connection.cursor()
            for setting in SESSION_SETTINGS:
                yield cursor.execute(setting)
        except psycopg2.Error as e:
            _close(connection)
            raise self._connection_error(e) from e

    def _reconnecting(self, connect):
        """``connect()`` (a Deferred), tried again while the server is unreachable, for at
        most ``reconnect_timeout`` seconds."""
        return retry_while_server_down(self._reactor, connect, RECONNECT_POLICY,
                                       timeout=self.reconnect_timeout)

    def _reopen(self, connection):
        return self._reconnecting(lambda: self._open_connection(connection))

    async def _once_more_if_lost(self, attempt):
        """``await attempt()``; when it lost its connection before committing, once more."""
        for last in (False, True):
            try:
                return await attempt()
            except _ConnectionLost as lost:
                if lost.committing:
                    raise self._lost_while_committing(lost) from lost.error
                if last:
                    raise self._connection_error(lost.error, "use") from lost.error
                log.warn("PostgreSQL catalog {db} on {server}: the connection was lost ({reason}); "
                         "opening it again and running the transaction once more",
                         db=self.dbname, server=self.server, reason=_first_line(lost))

    def _lost_while_committing(self, lost):
        return CatalogConnectionError(
            f"lost the connection to the PostgreSQL catalog (database {self.dbname!r} on "
            f"{self.server}) while committing, so whether the change was recorded is unknown: "
            f"{_first_line(lost)}", server=self.server, database=self.dbname)

    # --- ordinary operations on txpostgres ------------------------------------

    def _closed_error(self):
        return CatalogClosedError(f"PostgreSQL catalog {self.dbname} is not open")

    def _run(self, op, *args, **kwargs):
        if self._pool is None:
            return defer.fail(self._closed_error())
        d = defer.ensureDeferred(self._once_more_if_lost(lambda: self._transaction(op, args, kwargs)))
        d.addErrback(self._map_failure)
        return d

    def _transaction(self, op, args, kwargs):
        if self._pool is None:          # closed before the second attempt
            return defer.fail(self._closed_error())
        return self._pool.runInteraction(self._interaction, op, args, kwargs)

    def _map_failure(self, failure):
        mapped = self._map_error(failure.value)
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
        if stmt.mode == "table":
            return d.addCallback(lambda _: _table(cursor))
        if stmt.mode == "id":
            return d.addCallback(lambda _: cursor.fetchone()[0])
        raise ValueError(stmt.mode)

    # --- file records: COPY on the blocking connection, in its own thread --------

    def _store_files(self, job_id, rows):
        if self._worker is None:
            return defer.fail(self._closed_error())
        return defer.ensureDeferred(self._once_more_if_lost(lambda: self._store_files_once(job_id, rows)))

    @defer.inlineCallbacks
    def _store_files_once(self, job_id, rows):
        if self._worker is None:        # closed before the second attempt
            raise self._closed_error()
        yield self._reconnecting(lambda: self._worker.call(self._open_copy_connection))
        return (yield self._worker.call(self._store_files_sync, job_id, rows))

    def _open_copy_connection(self):
        self._copy_connection()

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
        committing = False
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
                # Up to here a lost connection loses nothing that a second run would not
                # redo (the first commit only added missing paths); from here it is unknown.
                committing = True
                conn.commit()
                return stored
        except BaseException as e:
            try:
                if not conn.closed:
                    conn.rollback()
            except psycopg2.Error:
                pass
            if conn.closed:
                self._close_copy_conn()
                raise _ConnectionLost(e, committing) from e
            if isinstance(e, (psycopg2.OperationalError, psycopg2.InterfaceError)):
                raise self._connection_error(e, "use") from e
            if isinstance(e, psycopg2.IntegrityError):
                raise CatalogIntegrityError(_first_line(e)) from e
            raise
