"""Tenants and their quotas: the tree checked as a whole, and what-if."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from scheduler.domain import Quota, Tenant, check_tree, parents_of, sold
from scheduler.domain.errors import Conflict, Invalid
from scheduler.service.base import QuotaChange, ServiceBase
from scheduler.service.whatif import WhatIf, what_if


class Tenancy(ServiceBase):
    """Tenants and quotas, changed only as a valid whole tree."""

    def tenants(self) -> list[Tenant]:
        with self._locked():
            return [self.engine.tenants[n] for n in sorted(self.engine.tenants)]

    def live_job_counts(self) -> dict[str, dict[str, int]]:
        """Per tenant: live jobs by state."""
        with self._locked():
            out: dict[str, dict[str, int]] = {t: {} for t in self.engine.tenants}
            for j in self.engine.jobs.values():
                if not j.state.terminal:
                    by = out.setdefault(j.spec.tenant, {})
                    by[j.state.value] = by.get(j.state.value, 0) + 1
            return out

    def create_tenant(self, actor: str, tenant: Tenant, *, allow_overcommit: bool = False) -> Tenant:
        with self._locked():
            if tenant.name in self.engine.tenants:
                raise Conflict("tenant-exists", f"tenant {tenant.name!r} exists")
            self._check_caps(tenant.quota)
            self._check_tree({**self.engine.tenants, tenant.name: tenant})
            self._check_capacity({**self.engine.tenants, tenant.name: tenant}, allow_overcommit)
            with self.store.acting_as(actor), self._submit_lock:
                self.engine.put_tenant(tenant)
            self.store.audit(actor, "tenant.create", tenant.name, _quota_detail(tenant))
        self.kick()
        return tenant

    def update_tenant(self, actor: str, change: QuotaChange, *, allow_overcommit: bool = False,
                      action: str = "quota.set") -> Tenant:
        with self._locked():
            tenant = self._changed(self.tenant(change.tenant), change)
            self._check_caps(tenant.quota)
            self._check_tree({**self.engine.tenants, tenant.name: tenant})
            self._check_capacity({**self.engine.tenants, tenant.name: tenant}, allow_overcommit)
            with self.store.acting_as(actor), self._submit_lock:
                self.engine.put_tenant(tenant)
            self.store.audit(actor, action, tenant.name, _quota_detail(tenant))
        self.kick()
        return tenant

    def delete_tenant(self, actor: str, name: str, *, force: bool = False) -> list[str]:
        with self._locked():
            self.tenant(name)
            children = sorted(t.name for t in self.engine.tenants.values() if t.parent == name)
            if children:
                raise Conflict("tenant-has-children", f"tenant {name!r} is the parent of "
                                   f"{', '.join(children)}: move or delete them first")
            try:
                with self.store.acting_as(actor), self._submit_lock:
                    cancelled = self.engine.delete_tenant(name, force=force)
            except Conflict as exc:
                raise Conflict(exc.code, f"{exc}; delete with force to cancel them") from None
            for token_id, info in list(self._tokens.items()):
                if info.tenant == name and info.revoked_at is None:
                    self._tokens[token_id] = replace(info, revoked_at=self.clock.now())
            self.store.audit(actor, "tenant.delete", name, {"force": force, "cancelled": cancelled})
        self.kick()
        return cancelled

    def quota_history(self, name: str) -> list[dict[str, Any]]:
        return self.store.quota_history(name)

    @staticmethod
    def _changed(t: Tenant, c: QuotaChange) -> Tenant:
        q = t.quota
        lending = None if c.clear_lending_limit else (
            c.lending_limit if c.lending_limit is not None else q.lending_limit)
        quota = Quota(c.guaranteed if c.guaranteed is not None else q.guaranteed,  # QuotaError: Invalid
                      c.limit if c.limit is not None else max(q.limit, c.guaranteed or 0),
                      lending, dict(c.caps) if c.caps is not None else dict(q.caps))
        grace = None if c.clear_grace_period else (
            c.grace_period_s if c.grace_period_s is not None else t.grace_period_s)
        parent = None if c.clear_parent else (c.parent if c.parent is not None else t.parent)
        return Tenant(t.name, quota, c.weight if c.weight is not None else t.weight, grace, parent,
                      c.isolation if c.isolation is not None else t.isolation)

    def _check_caps(self, quota: Quota) -> None:
        for accel in quota.caps:
            if accel not in self.config.center.accelerators:
                raise Invalid("invalid-quota", f"caps.{accel}: unknown accelerator type")

    def _check_tree(self, tenants: Mapping[str, Tenant]) -> None:
        """The tree as a whole after a change: parents exist, no cycle, children's guarantees
        fit in their parent's, and a tenant with live jobs does not become a parent."""
        check_tree(tenants)  # TreeError is Invalid: 422 invalid-quota, naming both
        for parent in sorted(parents_of(tenants) - parents_of(self.engine.tenants)):
            live = sum(1 for j in self.engine.jobs.values() if j.spec.tenant == parent and not j.state.terminal)
            if live:
                raise Conflict("tenant-has-jobs", f"tenant {parent!r} has {live} live jobs: a parent "
                                   "holds quota and children, not jobs")

    def _check_capacity(self, tenants: Mapping[str, Tenant], allow_overcommit: bool) -> None:
        total = sold(tenants)
        capacity = self.engine.center.capacity_gflops()
        if total > capacity and not allow_overcommit:
            from scheduler.domain.units import format_compute

            raise Invalid("overcommitted",
                               f"guarantees would sum to {format_compute(total)}, beyond the center's "
                               f"capacity of {format_compute(capacity)} (set allow_overcommit to accept)")

    def what_if(self, changes: Sequence[QuotaChange]) -> WhatIf:
        with self._locked():
            e = self.engine
            proposed = dict(e.tenants)
            for c in changes:
                proposed[c.tenant] = self._changed(self.tenant(c.tenant), c)
                self._check_caps(proposed[c.tenant].quota)
            check_tree(proposed)
            return what_if(e.center, dict(e.tenants), proposed, list(e.holding.values()),
                           list(e.queue), dict(e.history), self.policy, self.clock.now())


def _quota_detail(t: Tenant) -> dict[str, Any]:
    q = t.quota
    return {"weight": t.weight, "guaranteed": q.guaranteed, "limit": q.limit,
            "lending_limit": q.lending_limit, "caps": dict(q.caps), "grace_period_s": t.grace_period_s,
            "parent": t.parent}
