"""Budgets of the live center: where each stands, from the ledger, and whom a spent one stops.

A budget on a tenant spends the runs of its whole subtree (a parent's budget
covers all its teams). The runs are those the store records, clipped to the
period and accrued up to now, so a running job spends as it runs. A leaf is
stopped by its own spent budget or by any ancestor's; ``hold`` is the stricter
where two apply.

A tenant moved in the tree mid-period takes its period's runs with it: its
old parent's budget stops counting them, its new parent's counts them all.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from zoneinfo import ZoneInfo

from scheduler.domain import Tenant, ancestors
from scheduler.domain.budget import Budget, BudgetStatus, OnExhausted
from scheduler.domain.units import GFLOPS_PER_PFLOPS
from scheduler.engine.periods import period_bounds, status
from scheduler.store import Run

#: the runs recorded in a window: (start, end) -> runs
RunsBetween = Callable[[float, float], Iterable[Run]]


def statuses(budgets: Iterable[Budget], tenants: Mapping[str, Tenant], now: float, tz: ZoneInfo,
             runs_between: RunsBetween, gflops_by_type: Mapping[str, int]) -> dict[str, BudgetStatus]:
    """Per budgeted tenant, where its budget stands now."""
    budgets = [b for b in budgets if b.tenant in tenants]
    if not budgets:
        return {}
    # one read of the store: from the earliest previous period (for carryover) to now
    earliest = min(period_bounds(b, period_bounds(b, now, tz)[0] - 1.0, tz)[0] for b in budgets)
    runs = list(runs_between(earliest, now))
    out: dict[str, BudgetStatus] = {}
    for b in budgets:
        mine = [r for r in runs if r.tenant == b.tenant or b.tenant in ancestors(tenants, r.tenant)]

        def spent(lo: float, hi: float, mine: list[Run] = mine) -> float:
            total = 0.0
            for r in mine:
                a, z = max(r.started_at, lo), min(r.ended_at if r.ended_at is not None else now, hi)
                if z > a:
                    total += r.devices * (z - a) * gflops_by_type.get(r.accelerator, 0)
            return total / 3600.0 / GFLOPS_PER_PFLOPS

        out[b.tenant] = status(b, now, tz, spent)
    return out


def exhausted(found: Mapping[str, BudgetStatus], tenants: Mapping[str, Tenant]) -> dict[str, str]:
    """Per leaf whose own or an ancestor's budget is spent: what its new jobs do."""
    out: dict[str, str] = {}
    for name in sorted(tenants):
        for node in (name, *ancestors(tenants, name)):
            s = found.get(node)
            if s is not None and s.exhausted:
                mode = s.budget.on_exhausted.value
                if out.get(name) != OnExhausted.HOLD.value:
                    out[name] = mode
    return out


def estimated_cost(devices: int, gflops_per_device: int, seconds: float | None) -> float | None:
    """PFLOPS-hours a job would spend running ``seconds`` (None: no estimate)."""
    if seconds is None:
        return None
    return devices * gflops_per_device * seconds / 3600.0 / GFLOPS_PER_PFLOPS


def would_hold(runs: Iterable[Run], amount: float, start: float, now: float,
               gflops_by_type: Mapping[str, int]) -> tuple[float | None, list[Run]]:
    """A budget of ``amount`` PFLOPS-hours from ``start``, set against what ran: when it would
    have been spent (None: not by ``now``), and the runs that began after (held, had it been)."""
    mine = sorted((r for r in runs if (r.ended_at if r.ended_at is not None else now) > start),
                  key=lambda r: (max(r.started_at, start), r.job_id))
    # the rate of spending changes only where a run starts or ends: walk those instants
    changes: list[tuple[float, float]] = []
    for r in mine:
        rate = r.devices * gflops_by_type.get(r.accelerator, 0) / 3600.0 / GFLOPS_PER_PFLOPS  # PFLOPS-h/s
        changes.append((max(r.started_at, start), rate))
        changes.append((min(r.ended_at if r.ended_at is not None else now, now), -rate))
    changes.sort()
    spent, rate, t = 0.0, 0.0, start
    spent_at: float | None = None
    for when, delta in changes:
        if rate > 0 and spent + rate * (when - t) >= amount:
            spent_at = t + (amount - spent) / rate
            break
        spent += rate * (when - t)
        rate, t = rate + delta, when
    if spent_at is None and amount <= 0 and mine:
        spent_at = start
    if spent_at is None:
        return None, []
    return spent_at, [r for r in mine if r.started_at >= spent_at]
