"""Shared fixtures: a migrated register on SQLite and on the real PostgreSQL.

PostgreSQL is the one on 127.0.0.1:5432 (user postgres, trust auth); each test session makes
its own throwaway database and drops it afterwards. When the server cannot be reached the
PostgreSQL tests are skipped on a developer machine but FAIL under CI=true: CI never passes
by skipping.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import urllib.parse
import uuid
from collections.abc import Iterator
from datetime import date

import psycopg
import pytest
from hypothesis import settings
from sqlalchemy import Engine, text

from register.refdata.load import load_epraccur, load_geography, load_postcodes
from register.refdata.sql import SqlRefData
from register.service import RegisterService
from register.store import database
from register.store.base import Base
from register.store.uow import SqlUnitOfWork

# Tests never assert on wall time (the machine is shared and noisy): hypothesis's per-example
# deadline would fail a property test because another process took the CPU.
settings.register_profile("s117", deadline=None)
settings.load_profile("s117")

PG_ADMIN = os.environ.get("S117_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
TODAY = date(2026, 11, 22)
IN_CI = os.environ.get("CI", "").lower() == "true"


def service_unavailable(what: str, error: Exception) -> None:
    message = f"{what} is not reachable ({error})"
    if IN_CI:
        pytest.fail(f"{message}: under CI=true integration tests must run, not skip")
    pytest.skip(message)


@pytest.fixture(scope="session")
def postgresql_url() -> Iterator[str]:
    name = f"s117_test_{uuid.uuid4().hex[:10]}"
    try:
        admin = psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as error:
        service_unavailable("PostgreSQL at 127.0.0.1:5432", error)
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
    yield f"{base}/{name}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


AMQP_HOST = os.environ.get("S117_TEST_AMQP", "amqp://guest:guest@127.0.0.1:5672")


def _rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="session")
def amqp_url() -> Iterator[str]:
    """A throwaway RabbitMQ virtual host for this test session on the real broker, so test
    runs (and other sessions' runs) never see each other's queues."""
    import pika

    if shutil.which("rabbitmqctl") is None:
        service_unavailable("rabbitmqctl (to make a test virtual host)",
                            FileNotFoundError("rabbitmqctl"))
    vhost = f"s117_test_{uuid.uuid4().hex[:10]}"
    try:
        _rabbitmqctl("add_vhost", vhost)
        _rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
        url = f"{AMQP_HOST}/{urllib.parse.quote(vhost, safe='')}"
        pika.BlockingConnection(pika.URLParameters(url)).close()
    except (subprocess.SubprocessError, pika.exceptions.AMQPError) as error:
        service_unavailable("RabbitMQ at 127.0.0.1:5672", error)
    yield url
    subprocess.run(["rabbitmqctl", "-q", "delete_vhost", vhost], capture_output=True,
                   timeout=60)


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 's117.db'}"


_prepared: dict[str, Engine] = {}


def prepared_engine(url: str) -> Engine:
    """Migrate once per database and load the reference data the tests use."""
    if url not in _prepared:
        database.upgrade(url)
        engine = database.make_engine(url)
        sessions = database.session_factory(engine)
        from adapter.synthetic import fixture_path

        with sessions() as session:
            load_geography(session)
            load_epraccur(session, fixture_path("epraccur.csv"))
            load_postcodes(session, fixture_path("postcodes.csv"))
            session.commit()
        _prepared[url] = engine
    return _prepared[url]


REGISTER_TABLES = ("handover", "replica", "federation_command",
                   "delivery_attempt", "subscription_event", "subscription", "review_notice",
                   "determination", "entitlement_status", "entitlement_version", "holder_segment",
                   "entitlement",
                   "care_plan_version", "care_plan", "casework_index",
                   "person_version", "person", "inbox", "provenance",
                   "outbox", "held_command", "inbound_message")


def empty_register(engine: Engine) -> None:
    with engine.begin() as conn:
        for table in REGISTER_TABLES:
            conn.execute(text(f"DELETE FROM {table}"))


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest) -> Engine:
    url = request.getfixturevalue(f"{request.param}_url")
    engine = prepared_engine(url)
    empty_register(engine)
    return engine


@pytest.fixture
def service(engine: Engine) -> RegisterService:
    sessions = database.session_factory(engine)
    return RegisterService(lambda: SqlUnitOfWork(sessions), SqlRefData(sessions),
                           today=lambda: TODAY)


@pytest.fixture
def uow(engine: Engine):  # type: ignore[no-untyped-def]
    sessions = database.session_factory(engine)
    return lambda: SqlUnitOfWork(sessions)


def table_dump(engine: Engine) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every register table, for "nothing changed" assertions."""
    dump: dict[str, list[tuple[object, ...]]] = {}
    with engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            rows = conn.execute(table.select()).all()
            dump[table.name] = sorted(tuple(map(repr, r)) for r in rows)
    return dump
