"""Fixtures shared by every test package: one real PostgreSQL per session (see conftest_pg),
one live ``aicc serve`` per session (the client and CLI tests), and a database of each kind."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.client.live import LiveServer, live_server
from tests.conftest_pg import postgres_server  # noqa: F401
from tests.ray_cluster import ray_test_env

# Before any test imports Ray: Ray reads some of these once, on import (a driver that saw
# none would dial the loopback test cluster at the machine's own address, and wait).
ray_test_env()


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One live ``aicc serve`` for the session: tests make tenants of their own on it."""
    with live_server(tmp_path_factory.mktemp("aicc-serve")) as s:
        yield s


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh database: SQLite, and a real PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'aicc.db'}"
    server = request.getfixturevalue("postgres_server")
    return str(server.fresh_database())
