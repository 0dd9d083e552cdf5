"""Store tests run against both SQLite and a real PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from scheduler.engine.clock import ManualClock
from scheduler.store import SqlStore


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'aicc.db'}"
    server = request.getfixturevalue("postgres_server")
    return str(server.fresh_database())


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(1_000.0)


@pytest.fixture
def store(db_url: str, clock: ManualClock) -> Iterator[SqlStore]:
    s = SqlStore(db_url, clock=clock)
    yield s
    s.close()
