"""A real PostgreSQL for the tests, started from Debian's binaries (one per test session).

tests/conftest.py makes the ``postgres_server`` fixture available to every test package
(a ``PostgresServer``: ``fresh_database()`` gives the URL of an emptied database, cheap;
``create_database(name)`` a new one, for tests that leave connections behind). Without the binaries the tests that need it are skipped,
loudly, except under CI=true where they fail.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator

import pytest

from tests.pg_testing import PostgresServer, PostgresUnavailable

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
