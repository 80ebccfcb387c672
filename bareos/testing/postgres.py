"""A private PostgreSQL server for the tests.

:func:`start_private_postgres` runs ``initdb`` and ``pg_ctl start`` for a
throw-away cluster in a temporary directory, listening only on a unix socket in
that directory and on 127.0.0.1 at a free port, with one role (password
authentication, scram-sha-256) owning one database.  :meth:`PrivatePostgres.stop`
stops it by ``pg_ctl stop`` (then by its postmaster PID if that fails) and removes
the directory; an ``atexit`` hook does the same if the test run dies first.

initdb refuses to run as root, so as root the cluster belongs to the ``postgres``
system user (commands run through ``runuser -u postgres --``); otherwise to the
current user.

For pytest, use :func:`postgres_server` as the body of a session fixture::

    @pytest.fixture(scope="session")
    def postgres():
        yield from bareos.testing.postgres.postgres_server()

It skips the tests when PostgreSQL is not installed, but fails them when the
environment says ``CI=true`` (in CI a missing PostgreSQL is an error).  An
existing server can be used instead by setting ``BAREOS_TEST_POSTGRES`` to a
libpq connection string (``host=... port=... dbname=... user=... password=...``);
the role must own the database.
"""

from __future__ import annotations

import atexit
import glob
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
import types
from dataclasses import dataclass, field

from bareos.testing.ports import free_port

PG_VERSION = "15"
PG_BINDIR_ENV = "BAREOS_TEST_PGBIN"
EXTERNAL_ENV = "BAREOS_TEST_POSTGRES"


class PostgresUnavailable(Exception):
    """PostgreSQL cannot be started here (binaries or the postgres user missing)."""


def find_bindir():
    """The directory holding initdb and pg_ctl: $BAREOS_TEST_PGBIN, PostgreSQL 15, or the newest."""
    candidates = []
    if os.environ.get(PG_BINDIR_ENV):
        candidates.append(os.environ[PG_BINDIR_ENV])
    candidates.append(f"/usr/lib/postgresql/{PG_VERSION}/bin")
    candidates.extend(sorted(glob.glob("/usr/lib/postgresql/*/bin"),
                             key=lambda p: int(p.split("/")[-2]) if p.split("/")[-2].isdigit() else 0,
                             reverse=True))
    for bindir in candidates:
        if all(os.access(os.path.join(bindir, tool), os.X_OK) for tool in ("initdb", "pg_ctl", "postgres")):
            return bindir
    raise PostgresUnavailable(
        f"PostgreSQL server binaries not found (looked in {', '.join(dict.fromkeys(candidates))}); "
        f"install postgresql-{PG_VERSION} or set {PG_BINDIR_ENV}")


@dataclass
class PrivatePostgres:
    host: str                      # 127.0.0.1
    port: int
    socket_dir: str                # unix socket directory (libpq host)
    dbname: str
    user: str
    password: str
    superuser: str = "postgres"
    superuser_password: str = ""
    datadir: str = ""
    basedir: str = ""
    bindir: str = ""
    pid: int = 0
    owner: str = ""                # system user running the cluster ('' = us)
    external: bool = False
    options: str = ""              # the server's command-line settings (pg_ctl -o)
    _stopped: bool = field(default=False, repr=False)

    # --- what tests use -------------------------------------------------

    def connect_kwargs(self, via="tcp", superuser=False):
        """psycopg2.connect() keyword arguments, over TCP or the unix socket."""
        return dict(host=self.host if via == "tcp" else self.socket_dir, port=self.port,
                    dbname=self.dbname,
                    user=self.superuser if superuser else self.user,
                    password=self.superuser_password if superuser else self.password)

    def catalog_resource(self, via="tcp", **overrides):
        """An object shaped like the director's Catalog resource for this server."""
        values = dict(db_driver="postgresql", db_name=self.dbname, db_user=self.user,
                      db_password=self.password,
                      db_address=self.host if via == "tcp" else None,
                      db_socket=self.socket_dir if via == "socket" else None,
                      db_port=self.port)
        values.update(overrides)
        return types.SimpleNamespace(**values)

    def reset_database(self):
        """Empty the test database: drop and recreate its public schema."""
        import psycopg2
        conn = psycopg2.connect(**self.connect_kwargs())
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute("SET client_min_messages TO WARNING")
                cur.execute("DROP SCHEMA IF EXISTS public CASCADE")
                cur.execute("CREATE SCHEMA public")
        finally:
            conn.close()

    def shut_down(self):
        """Stop the server (fast: sessions are ended) and keep its data, to ``start_again``."""
        self._refuse_external("shut down")
        _run(self._as_owner([os.path.join(self.bindir, "pg_ctl"), "-D", self.datadir, "-m", "fast",
                             "-w", "-t", "60", "stop"]), "pg_ctl stop")

    def start_again(self):
        """Start the server stopped by ``shut_down`` on the same port, and wait until it accepts."""
        self._refuse_external("start")
        self._pg_ctl_start()

    def restart(self):
        """Stop and start the server (same port, same data): every client connection is lost."""
        self.shut_down()
        self.start_again()

    # --- lifecycle ------------------------------------------------------

    def _refuse_external(self, what):
        if self.external:
            raise RuntimeError(f"cannot {what} an external PostgreSQL server")

    def _pg_ctl_start(self):
        _run(self._as_owner([os.path.join(self.bindir, "pg_ctl"), "-D", self.datadir, "-w",
                             "-t", "60", "-l", os.path.join(self.basedir, "server.log"),
                             "-o", self.options, "start"]), "pg_ctl start")
        with open(os.path.join(self.datadir, "postmaster.pid")) as f:
            self.pid = int(f.readline())

    def _as_owner(self, argv):
        if self.owner:
            return ["runuser", "-u", self.owner, "--"] + argv
        return argv

    def stop(self):
        if self._stopped or self.external:
            return
        self._stopped = True
        try:
            subprocess.run(self._as_owner([os.path.join(self.bindir, "pg_ctl"), "-D", self.datadir,
                                           "-m", "fast", "-w", "-t", "30", "stop"]),
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
        except (OSError, subprocess.SubprocessError):
            pass
        if self.pid and _alive(self.pid):
            for sig in (signal.SIGQUIT, signal.SIGKILL):
                try:
                    os.kill(self.pid, sig)
                except ProcessLookupError:
                    break
                deadline = time.monotonic() + 10
                while _alive(self.pid) and time.monotonic() < deadline:
                    time.sleep(0.05)
                if not _alive(self.pid):
                    break
        shutil.rmtree(self.basedir, ignore_errors=True)


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie child of ours counts as gone
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


def _run(argv, what):
    proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
    if proc.returncode != 0:
        raise RuntimeError(f"{what} failed (exit {proc.returncode}): {' '.join(argv)}\n"
                           f"{proc.stdout.decode(errors='replace')}")


def start_private_postgres(dbname="bareos_test", user="bareos_test"):
    """Start a private cluster; returns a running :class:`PrivatePostgres`."""
    bindir = find_bindir()
    owner = ""
    if os.geteuid() == 0:
        try:
            pw = pwd.getpwnam("postgres")
        except KeyError:
            raise PostgresUnavailable("running as root and there is no 'postgres' system user "
                                      "to own the test cluster (initdb refuses root)") from None
        if not shutil.which("runuser"):
            raise PostgresUnavailable("running as root but runuser(1) is missing")
        owner = "postgres"
    basedir = tempfile.mkdtemp(prefix="bareos-pg-")
    server = None
    try:
        datadir = os.path.join(basedir, "data")
        sockdir = os.path.join(basedir, "sock")
        os.mkdir(sockdir, 0o700)
        su_password = secrets.token_hex(16)
        pwfile = os.path.join(basedir, "pwfile")
        with open(os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as f:
            f.write(su_password + "\n")
        os.chmod(basedir, 0o700)
        if owner:
            for path in (basedir, sockdir, pwfile):
                os.chown(path, pw.pw_uid, pw.pw_gid)
        server = PrivatePostgres(host="127.0.0.1", port=0, socket_dir=sockdir, dbname=dbname,
                                 user=user, password=secrets.token_hex(12),
                                 superuser="postgres", superuser_password=su_password,
                                 datadir=datadir, basedir=basedir, bindir=bindir, owner=owner)
        atexit.register(server.stop)
        _run(server._as_owner([os.path.join(bindir, "initdb"), "-D", datadir, "-U", "postgres",
                               "--pwfile", pwfile, "-A", "scram-sha-256", "-E", "UTF8",
                               "--locale", "C", "--no-sync"]), "initdb")
        os.unlink(pwfile)
        for attempt in range(5):
            server.port = free_port()
            server.options = (
                f"-c listen_addresses=127.0.0.1 -c port={server.port} "
                f"-c unix_socket_directories={sockdir} -c fsync=off "
                f"-c synchronous_commit=off -c full_page_writes=off -c max_connections=50")
            try:
                server._pg_ctl_start()
                break
            except RuntimeError as failure:
                if attempt == 4:
                    raise RuntimeError("pg_ctl start failed; server log:\n"
                                       + _read(os.path.join(basedir, "server.log"))) from failure
        import psycopg2
        conn = psycopg2.connect(**server.connect_kwargs(via="socket", superuser=True) | {"dbname": "postgres"})
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(f'CREATE ROLE "{user}" LOGIN PASSWORD %s', (server.password,))
                cur.execute(f'CREATE DATABASE "{dbname}" OWNER "{user}" ENCODING \'UTF8\' '
                            f'TEMPLATE template0')
        finally:
            conn.close()
        return server
    except BaseException:
        if server is not None:
            server.stop()
        else:
            shutil.rmtree(basedir, ignore_errors=True)
        raise


def _read(path):
    try:
        with open(path, errors="replace") as f:
            return f.read()[-4000:]
    except OSError:
        return "(no log)"


def external_postgres(dsn):
    import psycopg2.extensions
    params = psycopg2.extensions.parse_dsn(dsn)
    host = params.get("host", "127.0.0.1")
    return PrivatePostgres(host=host, port=int(params.get("port", 5432)), socket_dir=host,
                           dbname=params["dbname"], user=params["user"],
                           password=params.get("password", ""), external=True)


def postgres_server():
    """Generator for a pytest session fixture: yields a running PrivatePostgres, stops it after.

    Missing PostgreSQL: ``pytest.skip`` locally, ``pytest.fail`` when CI=true.
    """
    import pytest
    if os.environ.get(EXTERNAL_ENV):
        yield external_postgres(os.environ[EXTERNAL_ENV])
        return
    try:
        server = start_private_postgres()
    except PostgresUnavailable as e:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true and no PostgreSQL for the tests: {e}", pytrace=False)
        pytest.skip(f"no PostgreSQL for the tests: {e}")
    try:
        yield server
    finally:
        server.stop()
