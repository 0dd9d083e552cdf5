"""A real PostgreSQL for the tests, started from Debian's binaries (one per test session).

Use it from any conftest with ``from tests.conftest_pg import postgres_server  # noqa: F401``,
then ask for the ``postgres_server`` fixture (a ``PostgresServer``; ``create_database(name)``
gives a fresh database URL). Without the binaries the tests that need it are skipped,
loudly, except under CI=true where they fail.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator

import pytest

from scheduler.store.pg_testing import PostgresServer, PostgresUnavailable

PG_PORTS = (18400, 18499)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    try:
        server = PostgresServer(PG_PORTS).start()
    except PostgresUnavailable as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL is required under CI: {exc}")
        warnings.warn(f"SKIPPING PostgreSQL tests: {exc}", stacklevel=1)
        pytest.skip(f"PostgreSQL not installed: {exc}")
    try:
        yield server
    finally:
        server.stop()
