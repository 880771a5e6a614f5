"""Fixtures of the outbound integration tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

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
