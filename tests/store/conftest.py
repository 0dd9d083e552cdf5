"""Store tests run against both SQLite and a real PostgreSQL."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from scheduler.engine.clock import ManualClock
from scheduler.store import SqlStore
from tests.conftest_pg import postgres_server  # noqa: F401

_names = itertools.count()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'aicc.db'}"
    server = request.getfixturevalue("postgres_server")
    return str(server.create_database(f"store_{next(_names)}"))


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(1_000.0)


@pytest.fixture
def store(db_url: str, clock: ManualClock) -> Iterator[SqlStore]:
    s = SqlStore(db_url, clock=clock)
    yield s
    s.close()
