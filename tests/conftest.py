"""Fixtures shared by every test package: one real PostgreSQL per session (see conftest_pg)."""

from tests.conftest_pg import postgres_server  # noqa: F401
