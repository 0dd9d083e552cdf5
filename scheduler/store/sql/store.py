"""``SqlStore``: the SQL store whole, its parts put together (see the package's docstring)."""

from __future__ import annotations

from scheduler.store.sql.access import AccessTables
from scheduler.store.sql.jobs import JobTables
from scheduler.store.sql.leadership import Leadership
from scheduler.store.sql.state import EngineState
from scheduler.store.sql.tenants import TenantTables


class SqlStore(EngineState, JobTables, TenantTables, AccessTables, Leadership):
    """The engine's ``Store`` and the API's reads over SQLite or PostgreSQL, chosen by URL:
    ``SqlStore(url, clock=..., upgrade=True)`` migrates the schema to the newest first."""
