"""Fuzzing budgets: small and fixed in CI, larger on request (`FUZZ_EXAMPLES=1000`)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers import demo_server

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "25"))


@pytest.fixture(scope="session")
def fuzz_base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    path: Path = tmp_path_factory.mktemp("fuzz")
    with demo_server(path, people=30) as url:
        yield url
