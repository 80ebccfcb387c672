"""The private-PostgreSQL harness: skip locally, fail in CI, when PostgreSQL is missing."""

import os

import psycopg2
import pytest

from bareos.testing import postgres as pg


def _unavailable(*args, **kwargs):
    raise pg.PostgresUnavailable("PostgreSQL server binaries not found (test)")


def _outcome(monkeypatch, ci):
    monkeypatch.setattr(pg, "start_private_postgres", _unavailable)
    monkeypatch.delenv(pg.EXTERNAL_ENV, raising=False)
    if ci is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", ci)
    gen = pg.postgres_server()
    with pytest.raises(BaseException) as info:
        next(gen)
    return info


def test_missing_postgresql_skips_locally(monkeypatch):
    info = _outcome(monkeypatch, None)
    assert info.type is pytest.skip.Exception
    assert "binaries not found" in str(info.value)


def test_missing_postgresql_fails_in_ci(monkeypatch):
    info = _outcome(monkeypatch, "true")
    assert info.type is pytest.fail.Exception
    assert "CI=true" in str(info.value)


def test_missing_binaries_are_reported(monkeypatch, tmp_path):
    monkeypatch.setenv(pg.PG_BINDIR_ENV, str(tmp_path))
    monkeypatch.setattr(pg.glob, "glob", lambda pattern: [])
    monkeypatch.setattr(pg, "PG_VERSION", "0")
    with pytest.raises(pg.PostgresUnavailable, match="binaries not found"):
        pg.find_bindir()


def test_private_server_is_private_and_password_protected(postgres):
    if postgres.external:
        pytest.skip("an external server is configured")
    # TCP only on loopback, a unix socket in the cluster's own directory
    assert postgres.host == "127.0.0.1"
    assert os.path.exists(os.path.join(postgres.socket_dir, f".s.PGSQL.{postgres.port}"))
    with psycopg2.connect(**postgres.connect_kwargs()) as conn:
        with conn.cursor() as cur:
            cur.execute("SHOW listen_addresses")
            assert cur.fetchone()[0] == "127.0.0.1"
            cur.execute("SELECT current_user, current_database()")
            assert cur.fetchone() == (postgres.user, postgres.dbname)
    conn.close()
    with pytest.raises(psycopg2.OperationalError, match="password authentication failed"):
        psycopg2.connect(**dict(postgres.connect_kwargs(), password="wrong"))
