"""Fixtures of the outbound integration tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from register.service import RegisterService
from tests.outbound_support import Outbound, Receiver


@pytest.fixture
def outbound(engine: Engine) -> Outbound:
    return Outbound(engine)


@pytest.fixture
def receivers() -> Iterator[list[Receiver]]:
    made: list[Receiver] = []
    yield made
    for receiver in made:
        if receiver.hold is not None:
            receiver.hold.set()
        receiver.stop()


@pytest.fixture
def pg_engine(postgresql_url: str) -> Engine:
    from tests.conftest import empty_register, prepared_engine

    engine = prepared_engine(postgresql_url)
    empty_register(engine)
    return engine


@pytest.fixture
def pg_service(pg_engine: Engine) -> RegisterService:
    from register.refdata.sql import SqlRefData
    from register.store import database
    from register.store.uow import SqlUnitOfWork
    from tests.conftest import TODAY

    sessions = database.session_factory(pg_engine)
    return RegisterService(lambda: SqlUnitOfWork(sessions), SqlRefData(sessions),
                           today=lambda: TODAY)
