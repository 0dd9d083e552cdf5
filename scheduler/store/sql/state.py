"""What the engine restarts from (``load``) and the state it keeps besides jobs and tenants:
node states, the fair-share usage history, and the ``meta`` key-value table."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update

from scheduler.domain import Isolation, NodeState, Quota, Tenant
from scheduler.domain.job import FINISHED_STATES, TERMINAL_STATES
from scheduler.engine.ports import RECENT_FINISHED, StoredState
from scheduler.store.codec import job_from_row
from scheduler.store.sql.base import SqlBase
from scheduler.store.sql.tables import jobs_t, meta_t, nodes_t, put_meta, tenants_t, usage_t

_TERMINAL = [s.value for s in TERMINAL_STATES]
_FINISHED = [s.value for s in FINISHED_STATES]


class EngineState(SqlBase):
    def load(self) -> StoredState:
        with self.engine.connect() as conn:
            tenants = {r.name: _tenant(r) for r in conn.execute(select(tenants_t))}
            nodes = {r.name: NodeState(r.state) for r in conn.execute(select(nodes_t))}
            rows = conn.execute(select(jobs_t).where(jobs_t.c.state.not_in(_TERMINAL))
                                .order_by(jobs_t.c.seq))
            jobs = [job_from_row(r) for r in rows]
            top = conn.execute(select(func.max(jobs_t.c.seq))).scalar()
            history = {r.tenant: r.value for r in conn.execute(select(usage_t))}
            at = conn.execute(select(meta_t.c.value).where(meta_t.c.key == "history_at")).scalar()
            finished = [job_from_row(r) for r in conn.execute(
                select(jobs_t).where(jobs_t.c.finished_at.is_not(None), jobs_t.c.state.in_(_FINISHED))
                .order_by(jobs_t.c.finished_at.desc(), jobs_t.c.seq.desc()).limit(RECENT_FINISHED))]
        return StoredState(tenants, nodes, jobs, int(top or 0) + 1, history,
                           float(at) if at is not None else None, finished[::-1])

    def set_node_state(self, name: str, state: NodeState) -> None:
        now = self.clock.now()

        def write(conn: Connection) -> None:
            done = conn.execute(update(nodes_t).where(nodes_t.c.name == name)
                                .values(state=state.value, updated_at=now)).rowcount
            if not done:
                conn.execute(insert(nodes_t).values(name=name, state=state.value, updated_at=now))

        self.writer.run(write)

    def save_usage_history(self, history: Mapping[str, float], at: float) -> None:
        rows = [{"tenant": t, "value": v} for t, v in sorted(history.items())]

        def write(conn: Connection) -> None:
            conn.execute(delete(usage_t))
            if rows:
                conn.execute(insert(usage_t), rows)
            put_meta(conn, "history_at", at)

        self.writer.run(write)

    def get_meta(self, key: str) -> Any:
        with self.engine.connect() as conn:
            return conn.execute(select(meta_t.c.value).where(meta_t.c.key == key)).scalar()

    def set_meta(self, key: str, value: Any) -> None:
        self.writer.run(lambda conn: put_meta(conn, key, value))


def _tenant(r: Any) -> Tenant:
    return Tenant(r.name, Quota(int(r.guaranteed), int(r.limit_gflops),
                                int(r.lending_limit) if r.lending_limit is not None else None,
                                dict(r.caps or {})), float(r.weight),
                  float(r.grace_period_s) if r.grace_period_s is not None else None, r.parent,
                  Isolation(r.isolation or Isolation.ISOLATED))
