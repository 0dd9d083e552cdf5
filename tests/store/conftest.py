"""Store tests run against both SQLite and a real PostgreSQL (``db_url``, tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from scheduler.engine.clock import ManualClock
from scheduler.store import SqlStore


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(1_000.0)


@pytest.fixture
def store(db_url: str, clock: ManualClock) -> Iterator[SqlStore]:
    s = SqlStore(db_url, clock=clock)
    yield s
    s.close()
