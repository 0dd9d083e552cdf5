"""Persistence: SQLAlchemy 2 over SQLite (embedded default) or PostgreSQL, with migrations;
and ``memory.MemoryStore`` for the simulator and the engine's tests.

The SQL names are imported on first use, so that ``scheduler.store.memory`` needs
no SQLAlchemy (the simulator runs without the service's dependencies).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from scheduler.store.sql import (
        DuplicateIdempotencyKey,
        Run,
        SqlStore,
        StoreError,
        TokenInfo,
        make_engine,
    )

__all__ = ["DuplicateIdempotencyKey", "Run", "SqlStore", "StoreError", "TokenInfo", "make_engine"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(import_module("scheduler.store.sql"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
