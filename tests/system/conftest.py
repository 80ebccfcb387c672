"""System tests: real twistd processes from config written into tmp_path.

The ``suite`` fixture comes from tests/conftest.py.  Here: ``twistd_check``,
which runs ``twistd -n <plugin> -c <path> -t`` to completion and returns the
exit status and the combined output.
"""

import sqlite3
from dataclasses import dataclass

import pytest

from bareos.testing.daemons import run_twistd


@dataclass
class CheckResult:
    argv: list
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def __str__(self) -> str:
        return f"argv: {self.argv}\nexit status: {self.returncode}\n--- stdout\n{self.stdout}\n--- stderr\n{self.stderr}"


@pytest.fixture
def twistd_check():
    """``twistd_check(plugin, config_path, *more_args)`` -> CheckResult (``-t`` run)."""

    def check(plugin, config_path, *more_args, timeout=60.0):
        done = run_twistd(plugin, ["-c", str(config_path), "-t", *more_args], timeout=timeout)
        return CheckResult(list(done.args), done.returncode, done.stdout, done.stderr)

    return check


# The PostgreSQL runs repeat the SQLite scenarios on the other backend, which the catalog's
# integration tests cover in the quick loop: they are left to the whole suite.
@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.slow)])
def catalog(request, suite):
    """The director's catalog for a system test: the embedded SQLite, or the private
    PostgreSQL server with a fresh database.  Gives ``(Catalog resource text, query)``
    where ``query(sql, *params)`` reads the catalog directly ('?' placeholders)."""
    if request.param == "sqlite":
        def query(sql, *params):
            with sqlite3.connect(suite.dir_work / "bareos.db") as db:
                return db.execute(sql, params).fetchall()
        return CatalogUnderTest("sqlite", {}, query)
    server = request.getfixturevalue("postgres")
    server.reset_database()
    text = ("Catalog {\n  Name = MyCatalog\n  DB Driver = postgresql\n"
            f"  DB Name = {server.dbname}\n  DB User = {server.user}\n"
            f"  DB Password = \"{server.password}\"\n  DB Address = {server.host}\n"
            f"  DB Port = {server.port}\n}}\n")

    def query(sql, *params):
        import psycopg2
        with psycopg2.connect(**server.connect_kwargs()) as db, db.cursor() as cursor:
            cursor.execute(sql.replace("?", "%s"), params)
            return cursor.fetchall()
    return CatalogUnderTest("postgresql", {"catalog/MyCatalog.conf": text}, query)


@dataclass
class CatalogUnderTest:
    backend: str
    resources: dict
    query: object
