"""Budgets over time: where each stands (from the ledger), and whose new jobs a spent one stops."""

from __future__ import annotations

import time
from typing import Any

from scheduler.domain import JobRecord, JobState, ancestors
from scheduler.domain.budget import Budget, BudgetStatus, OnExhausted
from scheduler.domain.errors import NotFound
from scheduler.engine.periods import period_bounds
from scheduler.service.base import ServiceBase
from scheduler.service.budgets import estimated_cost, would_hold
from scheduler.service.budgets import exhausted as budget_exhausted
from scheduler.service.budgets import statuses as budget_statuses
from scheduler.store import Run


class Budgeting(ServiceBase):
    """Budgets: set, read from the ledger, and what a spent one holds."""

    def budgets(self) -> list[Budget]:
        return [self._budgets[n] for n in sorted(self._budgets)]

    def budget_anchor(self, tenant: str, given: float | None) -> float:
        """When a budget began: as given, else as it was, else now."""
        if given is not None:
            return given
        kept = self._budgets.get(tenant)
        return kept.anchor if kept is not None else self.clock.now()

    def set_budget(self, actor: str, budget: Budget) -> BudgetStatus:
        with self._locked():
            self.tenant(budget.tenant)
            self.store.put_budget(budget)
            self._budgets[budget.tenant] = budget
            self.store.audit(actor, "budget.set", budget.tenant, _budget_detail(budget))
            self._refresh_budgets(force=True)
            found = self._budget_status[budget.tenant]
        self.kick()
        return found

    def delete_budget(self, actor: str, tenant: str) -> None:
        with self._locked():
            if tenant not in self._budgets:
                raise NotFound("budget-not-found", f"tenant {tenant!r} has no budget")
            self.store.delete_budget(tenant)
            del self._budgets[tenant]
            self.store.audit(actor, "budget.delete", tenant, {})
            self._refresh_budgets(force=True)
        self.kick()

    def budget_statuses(self, *, fresh: bool = True) -> dict[str, BudgetStatus]:
        """Where every budget stands (``fresh``: read from the ledger now)."""
        with self._locked():
            if fresh:
                self._refresh_budgets(force=True)
            return dict(self._budget_status)

    def _refresh_budgets(self, force: bool = False) -> None:
        """Read the budgets' spending from the ledger (every few seconds in the loop) and tell
        the engine whose new jobs a spent budget stops."""
        now = time.monotonic()
        if not force and now - self._budgets_checked_at < self.settings.budget_check_interval_s:
            return
        self._budgets_checked_at = now
        tenants = self.engine.tenants
        if not self._budgets:
            self._budget_status = {}
            self.engine.budget_exhausted, self.engine.budget_figures = {}, {}
            return
        gflops = {n: a.gflops for n, a in self.config.center.accelerators.items()}
        self._budget_status = budget_statuses(self._budgets.values(), tenants, self.clock.now(), self.timezone,
                                              lambda lo, hi: self.store.runs(lo, hi, None), gflops)
        self.engine.budget_exhausted = budget_exhausted(self._budget_status, tenants)
        self.engine.budget_figures = {n: (st.available, st.spent) for n, st in self._budget_status.items()}

    def budget_what_if(self, tenant: str, pflops_hours: float) -> tuple[float, float | None, list[Run]]:
        """Had the tenant's budget been ``pflops_hours`` this period: (period start, when it would
        have been spent, the runs of its subtree that began after and would have been held)."""
        with self._locked():
            tenants = self.engine.tenants
            self.tenant(tenant)
            kept = self._budgets.get(tenant)
            budget = Budget(tenant, pflops_hours, kept.period, 0.0, OnExhausted.HOLD, kept.period_s,
                            kept.anchor) if kept is not None else Budget(tenant, pflops_hours)
        now = self.clock.now()
        start, _ = period_bounds(budget, now, self.timezone)
        runs = [r for r in self.store.runs(start, now, None)
                if r.tenant == tenant or tenant in ancestors(tenants, r.tenant)]
        gflops = {n: a.gflops for n, a in self.config.center.accelerators.items()}
        spent_at, held = would_hold(runs, pflops_hours, start, now, gflops)
        return start, spent_at, held

    def budget_warning(self, job: JobRecord, *, submitted: bool = False) -> str | None:
        """For a job that waits (or, ``submitted``, that was just submitted): says so if its
        estimated cost is more than its tenant's (or an ancestor's) budget has left."""
        found = self._budget_status
        if not found or (job.state is not JobState.PENDING and not submitted):
            return None
        spec = job.spec
        accels = self.config.center.accelerators
        types = spec.resources.accelerator_types or tuple(accels)
        per_device = min((accels[t].gflops for t in types if t in accels), default=0)
        cost = estimated_cost(spec.devices, per_device, spec.estimated_runtime_s or spec.max_runtime_s)
        if cost is None:
            return None
        for node in (spec.tenant, *ancestors(self.engine.tenants, spec.tenant)):
            st = found.get(node)
            if st is not None and cost > st.left:
                return (f"estimated cost {cost:.1f} PFLOPS-hours is more than the {max(0.0, st.left):.1f} left "
                        f"of {node}'s budget this period")
        return None


def _budget_detail(b: Budget) -> dict[str, Any]:
    return {"pflops_hours": b.pflops_hours, "period": b.period.value, "period_s": b.period_s,
            "carryover": b.carryover, "on_exhausted": b.on_exhausted.value}
