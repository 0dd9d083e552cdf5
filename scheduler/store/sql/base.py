"""``SqlBase``: what every part of the SQL store stands on: the database engine, the one
writer thread, the clock, closing, and who the writes of this block are made for."""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from scheduler.engine.clock import Clock, SystemClock
from scheduler.store import migrate
from scheduler.store.sql.connect import make_engine
from scheduler.store.writer import Writer

_actor: contextvars.ContextVar[str] = contextvars.ContextVar("aicc_store_actor", default="system")


def current_actor() -> str:
    """Who the writes under way are made for (``acting_as``); ``system`` otherwise."""
    return _actor.get()


class SqlBase:
    def __init__(self, url: str, *, clock: Clock | None = None, upgrade: bool = True) -> None:
        self.url = url
        self.clock = clock or SystemClock()
        self.engine = make_engine(url)
        if upgrade:
            migrate.upgrade(self.engine)
        self.writer = Writer(self.engine)
        #: the leader epoch its writes are fenced by (None: one replica, unfenced)
        self.epoch: int | None = None
        self._held: list[Any] = []

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def hold(self, resource: Any) -> None:
        """Close ``resource`` when the store closes (the SQLite single-writer lock)."""
        self._held.append(resource)

    def close(self) -> None:
        self.writer.close()
        self.engine.dispose()
        while self._held:
            self._held.pop().close()

    @contextmanager
    def exclusive(self, key: int) -> Iterator[None]:
        """On PostgreSQL, one process at a time in this block (a session advisory lock):
        replicas starting together bootstrap the database once. Elsewhere a no-op."""
        if self.dialect != "postgresql":
            yield
            return
        with self.engine.connect() as conn:
            conn.exec_driver_sql(f"SELECT pg_advisory_lock({int(key)})")
            try:
                yield
            finally:
                conn.exec_driver_sql(f"SELECT pg_advisory_unlock({int(key)})")

    def ping(self) -> None:
        with self.engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")

    @contextmanager
    def acting_as(self, actor: str) -> Iterator[None]:
        """Writes in this block (quota history) name ``actor`` as who made them."""
        token = _actor.set(actor)
        try:
            yield
        finally:
            _actor.reset(token)
