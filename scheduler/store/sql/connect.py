"""An SQLAlchemy engine per backend: SQLite in WAL mode, or PostgreSQL over psycopg; JSON by orjson."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.pool import StaticPool


def dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def loads(value: Any) -> Any:
    """SQLite gives a JSON scalar back as a number (the column has numeric affinity)."""
    return orjson.loads(value) if isinstance(value, str | bytes) else value


def make_engine(url: str) -> Engine:
    """An SQLAlchemy engine with the settings each backend wants."""
    u = make_url(url)
    if u.get_backend_name() == "sqlite":
        memory = u.database in (None, "", ":memory:")
        if not memory:
            Path(u.database or "").expanduser().parent.mkdir(parents=True, exist_ok=True)
        kwargs: dict[str, Any] = {"connect_args": {"check_same_thread": False, "timeout": 30}}
        if memory:
            kwargs["poolclass"] = StaticPool
        engine = create_engine(u, json_serializer=dumps, json_deserializer=loads, **kwargs)

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            if not memory:
                cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")  # WAL: durable across process crashes
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    if u.get_backend_name() == "postgresql" and u.drivername == "postgresql":
        u = u.set(drivername="postgresql+psycopg")
    return create_engine(u, json_serializer=dumps, json_deserializer=loads,
                         pool_size=8, max_overflow=8, pool_pre_ping=True,
                         # a cut network fails a connection in seconds, not minutes (the leader
                         # lease must notice within its term)
                         connect_args={"connect_timeout": 5})
