"""Pooled PostgreSQL connections after the server drops them (a restart, a failover): an
idle connection is pinged and replaced before use; one dropped while in use fails once and
the pool is renewed, so the caller's retry succeeds."""

from __future__ import annotations

import time

import psycopg
import pytest
from sqlalchemy import exc, text

from register.store import database
from tests.conftest import PG_ADMIN

pytestmark = pytest.mark.postgres


def _drop_connections(url: str) -> int:
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        return len(admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s "
            "AND pid <> pg_backend_pid()", (name,)).fetchall())


def test_an_idle_dropped_connection_is_replaced_before_use(postgresql_url: str):
    engine = database.make_engine(postgresql_url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT 1")).scalar() == 1
    assert _drop_connections(postgresql_url) >= 1
    time.sleep(database.PING_AFTER_IDLE_SECONDS + 0.2)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT 2")).scalar() == 2
    engine.dispose()


def test_a_connection_dropped_while_busy_fails_once_then_the_pool_is_renewed(
        postgresql_url: str):
    engine = database.make_engine(postgresql_url)
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    _drop_connections(postgresql_url)
    with pytest.raises(exc.OperationalError), engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    with engine.connect() as conn:
        assert conn.execute(text("SELECT 3")).scalar() == 3
    engine.dispose()
