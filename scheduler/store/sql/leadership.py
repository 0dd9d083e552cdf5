"""High availability on PostgreSQL: the leader lease of this replica, and the fence that lets
a write commit only while its replica still leads (``scheduler.store.lease``)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from scheduler.store.sql.base import SqlBase


class Leadership(SqlBase):
    def fence_to(self, holder: str, epoch: int) -> None:
        """From now on every write commits only while ``holder`` leads at ``epoch``."""
        from scheduler.store.lease import Deposed, fence

        self.writer.fence_errors = (Deposed,)
        self.writer.fence = lambda conn: fence(conn, holder, epoch)
        self.epoch = epoch

    def lease(self, holder: str, address: str | None, ttl_s: float) -> Any:
        """The leader lease of ``holder`` on this database (PostgreSQL only)."""
        from scheduler.store.lease import Lease

        return Lease(self.engine, holder, address, ttl_s)

    def refuse_writes(self, why: str) -> None:
        """No write commits any more (a follower, or a deposed leader)."""
        from scheduler.store.lease import Deposed

        def refuse(_conn: Connection) -> None:
            raise Deposed(why)

        self.writer.fence_errors = (Deposed,)
        self.writer.fence = refuse
