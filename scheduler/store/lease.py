"""The leader lease on PostgreSQL: acquire, renew, resign, read, and the fence of every write.

One row of ``leader_lease``. A replica takes it when it has expired (the database's
clock decides), which bumps ``epoch``; the holder renews it well before it expires.
``fence`` runs first in each of the leader's write transactions: it share-locks the row
and checks that the lease is still this holder's at this epoch, else raises ``Deposed``
and the whole transaction rolls back. A takeover updates the row, so it waits for the
fenced transactions under way and every write of the old leader is ordered before it.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, text
from sqlalchemy.engine import Engine

NAME = "scheduler"
_NOW = "EXTRACT(EPOCH FROM clock_timestamp())::float8"


class Deposed(RuntimeError):
    """This replica does not hold the leader lease (any more): it must neither write nor act."""


@dataclass(frozen=True)
class LeaseState:
    holder: str  # "" when nobody ever held it
    epoch: int
    address: str | None
    expires_at: float
    now: float  # the database's clock when read

    @property
    def held(self) -> bool:
        return bool(self.holder) and self.expires_at > self.now


class Lease:
    """The lease operations of one replica (``holder`` unique per process)."""

    def __init__(self, engine: Engine, holder: str, address: str | None, ttl_s: float) -> None:
        if engine.dialect.name != "postgresql":
            raise ValueError("leader election needs PostgreSQL")
        self.engine = engine
        self.holder = holder
        self.address = address
        self.ttl_s = ttl_s

    def _one(self, sql: str, **params: object) -> object:
        with self.engine.begin() as conn:
            conn.exec_driver_sql(f"SET LOCAL statement_timeout = {int(max(1.0, self.ttl_s / 2) * 1000)}")
            return conn.execute(text(sql), params).scalar()

    def acquire(self) -> int | None:
        """Take the lease if it expired; returns the new epoch, or None."""
        epoch = self._one(
            f"UPDATE leader_lease SET holder = :me, epoch = epoch + 1, address = :addr,"
            f" acquired_at = {_NOW}, renewed_at = {_NOW}, expires_at = {_NOW} + :ttl"
            f" WHERE name = :name AND expires_at < {_NOW} RETURNING epoch",
            me=self.holder, addr=self.address, ttl=self.ttl_s, name=NAME)
        return int(epoch) if epoch is not None else None  # type: ignore[call-overload]

    def renew(self, epoch: int) -> bool:
        """Extend the lease, if it is still ours and has not expired."""
        done = self._one(
            f"UPDATE leader_lease SET renewed_at = {_NOW}, expires_at = {_NOW} + :ttl"
            f" WHERE name = :name AND holder = :me AND epoch = :epoch AND expires_at >= {_NOW}"
            f" RETURNING epoch", me=self.holder, epoch=epoch, ttl=self.ttl_s, name=NAME)
        return done is not None

    def resign(self, epoch: int) -> None:
        """Let it go at once (a clean shutdown): a standby takes over without waiting."""
        self._one("UPDATE leader_lease SET expires_at = 0 WHERE name = :name AND holder = :me"
                  " AND epoch = :epoch RETURNING epoch", me=self.holder, epoch=epoch, name=NAME)

    def read(self) -> LeaseState:
        return read(self.engine)


def read(engine: Engine) -> LeaseState:
    with engine.connect() as conn:
        row = conn.execute(text(f"SELECT holder, epoch, address, expires_at, {_NOW} AS now"
                                " FROM leader_lease WHERE name = :name"), {"name": NAME}).first()
    if row is None:
        return LeaseState("", 0, None, 0.0, 0.0)
    return LeaseState(row.holder, int(row.epoch), row.address, float(row.expires_at), float(row.now))


def fence(conn: Connection, holder: str, epoch: int) -> None:
    """In a write transaction: go on only while the lease is ``holder``'s at ``epoch``."""
    row = conn.execute(text("SELECT holder, epoch FROM leader_lease WHERE name = :name FOR SHARE"),
                       {"name": NAME}).first()
    if row is None or row.holder != holder or int(row.epoch) != epoch:
        raise Deposed(f"the leader lease is no longer ours (epoch {epoch}; now "
                      f"{row.epoch if row is not None else '?'} held by {row.holder if row is not None else '?'})")
