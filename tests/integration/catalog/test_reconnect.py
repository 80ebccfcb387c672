"""The PostgreSQL catalog survives a lost connection: a restarted server, a server that is
down for a while, a session ended in the middle of a transaction; on both of its
connections (the txpostgres pool for ordinary operations, the blocking COPY connection
for file records).  And SQLite's own failures reach the caller as clear catalog errors."""

import sqlite3

import psycopg2
import pytest
import pytest_twisted
from twisted.internet import defer, protocol, task, threads

from bareos.catalog import CatalogConnectionError, CatalogError, FileRecord, JobRecord
from bareos.catalog.postgresql import PostgreSQLCatalog
from fuzzing import unexpected_failures

postgresql_only = pytest.mark.parametrize("backend", ["postgresql"])


def files(n, directory="/data/"):
    return [FileRecord(i, directory, f"f{i}", "A B C", "0", 0) for i in range(1, n + 1)]


@defer.inlineCallbacks
def new_job(catalog, name):
    client_id = yield catalog.ensure_client("fd1-fd")
    return (yield catalog.create_job(JobRecord(job=name, name="backup", level="F", job_status="R",
                                               client_id=client_id)))


def superuser(postgres):
    return psycopg2.connect(**postgres.connect_kwargs(superuser=True))


def lock(conn, table):
    """Hold ``table`` until ``conn.rollback()``: a catalog transaction using it waits."""
    with conn.cursor() as cur:
        cur.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")


def catalog_sessions(admin, dbname, state):
    """PIDs of the catalog's server sessions in ``state`` ('idle', 'active', ...)."""
    with admin.cursor() as cur:
        cur.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s AND state = %s "
                    "AND application_name = 'bareos-dir'", (dbname, state))
        pids = [pid for pid, in cur.fetchall()]
    admin.rollback()              # a new snapshot of pg_stat_activity next time
    return pids


def end_session(admin, pids):
    """The server ends the one catalog session in ``pids``, as a restart would."""
    assert len(pids) == 1, pids
    with admin.cursor() as cur:
        cur.execute("SELECT pg_terminate_backend(%s)", (pids[0],))
        assert cur.fetchone() == (True,)
    admin.commit()


@defer.inlineCallbacks
def wait_for_sessions(admin, dbname, state, count=1):
    from twisted.internet import reactor
    for _ in range(200):
        pids = catalog_sessions(admin, dbname, state)
        if len(pids) >= count:
            return pids
        yield task.deferLater(reactor, 0.05, lambda: None)
    raise AssertionError(f"no catalog session became {state!r}")


@postgresql_only
@pytest_twisted.inlineCallbacks
def test_both_connections_survive_a_server_restart(catalog, postgres):
    job_id = yield new_job(catalog, "before-restart")
    assert (yield catalog.add_file_records(job_id, files(3))) == 3

    yield threads.deferToThread(postgres.restart)

    # the pool's connections: a read, then a write, each in its own transaction
    assert [j.job for j in (yield catalog.list_jobs())] == ["before-restart"]
    second = yield new_job(catalog, "after-restart")
    # the COPY connection
    assert (yield catalog.add_file_records(second, files(5))) == 5
    assert len((yield catalog.list_files(second))) == 5
    assert len((yield catalog.list_files(job_id))) == 3


@postgresql_only
@pytest_twisted.inlineCallbacks
def test_server_down_fails_clearly_then_works_when_it_is_back(catalog, postgres):
    catalog.reconnect_timeout = 1.0
    job_id = yield new_job(catalog, "first")
    yield threads.deferToThread(postgres.shut_down)
    try:
        for attempt in (catalog.list_jobs(), catalog.add_file_records(job_id, files(2))):
            with pytest.raises(CatalogConnectionError) as info:
                yield attempt
            message = str(info.value)
            assert repr(postgres.dbname) in message and f"127.0.0.1:{postgres.port}" in message
            assert "Connection refused" in message or "connection refused" in message.lower()
    finally:
        yield threads.deferToThread(postgres.start_again)
    assert [j.job for j in (yield catalog.list_jobs())] == ["first"]
    assert (yield catalog.add_file_records(job_id, files(2))) == 2


@postgresql_only
@pytest_twisted.inlineCallbacks
def test_an_operation_waits_for_a_server_that_comes_back(catalog, postgres):
    yield new_job(catalog, "first")
    yield threads.deferToThread(postgres.shut_down)
    jobs = catalog.list_jobs()            # waits, by the retry policy, for the server
    yield threads.deferToThread(postgres.start_again)
    assert [j.job for j in (yield jobs)] == ["first"]


@postgresql_only
@pytest_twisted.inlineCallbacks
def test_a_transaction_cut_before_commit_runs_again_once(catalog, postgres):
    admin, locker = superuser(postgres), superuser(postgres)
    try:
        yield new_job(catalog, "first")
        # Hold the Job table, so that create_job stops inside its transaction; end that
        # session there; then let go.  The transaction is run again on a new connection.
        lock(locker, "Job")
        created = new_job(catalog, "second")
        end_session(admin, (yield wait_for_sessions(admin, postgres.dbname, "active")))
        locker.rollback()
        yield created
        assert sorted(j.job for j in (yield catalog.list_jobs())) == ["first", "second"]
    finally:
        admin.close()
        locker.close()


@postgresql_only
@pytest_twisted.inlineCallbacks
def test_a_file_batch_cut_before_commit_is_stored_once(catalog, postgres):
    admin, locker = superuser(postgres), superuser(postgres)
    try:
        job_id = yield new_job(catalog, "first")
        assert (yield catalog.add_file_records(job_id, files(2, "/a/"))) == 2
        # The batch stops at the Path lock, after its COPY: end the COPY session there.
        lock(locker, "Path")
        stored = catalog.add_file_records(job_id, files(4, "/b/"))
        end_session(admin, (yield wait_for_sessions(admin, postgres.dbname, "active")))
        locker.rollback()
        assert (yield stored) == 4
        assert len((yield catalog.list_files(job_id))) == 6
    finally:
        admin.close()
        locker.close()


@pytest.mark.parametrize("backend", ["sqlite"])
@pytest_twisted.inlineCallbacks
def test_sqlite_failures_are_catalog_errors_naming_the_file(catalog):
    # Another process holds the write lock longer than the catalog waits for it.
    yield catalog._worker.call(lambda: catalog._conn.execute("PRAGMA busy_timeout = 100"))
    other = sqlite3.connect(catalog.path, isolation_level=None)
    try:
        other.execute("BEGIN EXCLUSIVE")
        with pytest.raises(CatalogError) as info:
            yield catalog.ensure_client("fd2-fd")
        assert str(info.value) == f"SQLite catalog {catalog.path}: database is locked"
    finally:
        other.close()
    assert (yield catalog.ensure_client("fd2-fd"))


class HangUpOnFirstBytes(protocol.Protocol):
    """A "server" that accepts and hangs up as soon as the client speaks: PostgreSQL killed
    while a connection is being opened."""

    def dataReceived(self, data):
        self.transport.loseConnection()


@pytest_twisted.inlineCallbacks
def test_a_server_hanging_up_during_connect_fails_clearly_without_a_traceback(log_events):
    from twisted.internet import reactor
    port = reactor.listenTCP(0, protocol.Factory.forProtocol(HangUpOnFirstBytes),
                             interface="127.0.0.1")
    try:
        catalog = PostgreSQLCatalog("bareos", user="bareos", host="127.0.0.1",
                                    port=port.getHost().port, reactor=reactor,
                                    reconnect_timeout=0.5)
        with pytest.raises(CatalogConnectionError) as info:
            yield catalog.open()
        assert "server closed the connection unexpectedly" in str(info.value)
        yield task.deferLater(reactor, 0.1, lambda: None)   # a late read would come now
    finally:
        yield port.stopListening()
    assert unexpected_failures(log_events) == []
