"""Tenants with their quotas, the quota history (who changed what, when) and budgets."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, and_, delete, insert, select, update

from scheduler.domain import Tenant
from scheduler.domain.budget import Budget, OnExhausted, Period
from scheduler.store.sql.base import SqlBase, current_actor
from scheduler.store.sql.tables import budgets_t, history_t, tenants_t, tokens_t


class TenantTables(SqlBase):
    # -- tenants (the engine's Store writes them) -----------------------------------------

    def put_tenant(self, tenant: Tenant) -> None:
        actor, now = current_actor(), self.clock.now()
        q = tenant.quota
        values = {"weight": tenant.weight, "guaranteed": q.guaranteed, "limit_gflops": q.limit,
                  "lending_limit": q.lending_limit, "caps": dict(q.caps), "grace_period_s": tenant.grace_period_s,
                  "parent": tenant.parent, "isolation": tenant.isolation.value, "updated_at": now}

        def write(conn: Connection) -> None:
            done = conn.execute(update(tenants_t).where(tenants_t.c.name == tenant.name)
                                .values(**values)).rowcount
            if not done:
                conn.execute(insert(tenants_t).values(name=tenant.name, created_at=now, **values))
            conn.execute(insert(history_t).values(
                tenant=tenant.name, at=now, actor=actor, action="set", weight=tenant.weight,
                guaranteed=q.guaranteed, limit_gflops=q.limit, lending_limit=q.lending_limit,
                caps=dict(q.caps), parent=tenant.parent))

        self.writer.run(write)

    def delete_tenant(self, name: str) -> None:
        """Gone, with its deletion in the history and its tokens revoked."""
        actor, now = current_actor(), self.clock.now()

        def write(conn: Connection) -> None:
            conn.execute(delete(tenants_t).where(tenants_t.c.name == name))
            conn.execute(insert(history_t).values(tenant=name, at=now, actor=actor, action="delete"))
            conn.execute(update(tokens_t).where(and_(tokens_t.c.tenant == name,
                                                     tokens_t.c.revoked_at.is_(None)))
                         .values(revoked_at=now))

        self.writer.run(write)

    def tenant_created_at(self) -> dict[str, float]:
        with self.engine.connect() as conn:
            return {r.name: r.created_at for r in conn.execute(select(tenants_t.c.name, tenants_t.c.created_at))}

    def quota_history(self, tenant: str, limit: int = 100) -> list[dict[str, Any]]:
        q = (select(history_t).where(history_t.c.tenant == tenant)
             .order_by(history_t.c.id.desc()).limit(limit))
        with self.engine.connect() as conn:
            return [{"at": r.at, "actor": r.actor, "action": r.action, "weight": r.weight,
                     "guaranteed": r.guaranteed, "limit": r.limit_gflops,
                     "lending_limit": r.lending_limit, "caps": r.caps} for r in conn.execute(q)]

    # -- budgets (issue 22) ------------------------------------------------------------

    def budgets(self) -> list[Budget]:
        with self.engine.connect() as conn:
            return [Budget(r.tenant, float(r.pflops_hours), Period(r.period), float(r.carryover),
                           OnExhausted(r.on_exhausted), r.period_s, float(r.anchor))
                    for r in conn.execute(select(budgets_t).order_by(budgets_t.c.tenant))]

    def put_budget(self, b: Budget) -> None:
        values = {"pflops_hours": b.pflops_hours, "period": b.period.value, "period_s": b.period_s,
                  "anchor": b.anchor, "carryover": b.carryover, "on_exhausted": b.on_exhausted.value,
                  "updated_at": self.clock.now()}

        def write(conn: Connection) -> None:
            if not conn.execute(update(budgets_t).where(budgets_t.c.tenant == b.tenant).values(**values)).rowcount:
                conn.execute(insert(budgets_t).values(tenant=b.tenant, **values))

        self.writer.run(write)

    def delete_budget(self, tenant: str) -> None:
        self.writer.run(lambda conn: conn.execute(delete(budgets_t).where(budgets_t.c.tenant == tenant)))
