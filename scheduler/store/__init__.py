"""Persistence: SQLAlchemy 2 over SQLite (embedded default) or PostgreSQL, with migrations."""

from scheduler.store.sql import (
    DuplicateIdempotencyKey,
    Run,
    SqlStore,
    StoreError,
    TokenInfo,
    make_engine,
)

__all__ = ["DuplicateIdempotencyKey", "Run", "SqlStore", "StoreError", "TokenInfo", "make_engine"]
