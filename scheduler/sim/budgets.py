"""Budgets in a replay (``aicc simulate --budget NAME=PFLOPS_HOURS/PERIOD``).

As jobs take and give back devices, what the tenants held until then is
added to their budgets' spending (a budget on a parent spends its subtree's);
at each step the engine is told whose budget is spent, as the live service
does from its ledger. The
replay's clock is the trace's; periods are counted in UTC (trace times have no
zone), a new period starts afresh (no carryover in a replay).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from zoneinfo import ZoneInfo

from scheduler.domain import Tenant, ancestors
from scheduler.domain.budget import Budget, BudgetError, OnExhausted, Period
from scheduler.domain.units import GFLOPS_PER_PFLOPS
from scheduler.engine.periods import period_bounds

UTC = ZoneInfo("UTC")
_LENGTHS = {"h": 3600.0, "d": 86_400.0, "w": 604_800.0}


def parse_budget(text: str, on_exhausted: OnExhausted = OnExhausted.HOLD) -> Budget:
    """``finance=30000/month``, ``vr=500/week``, ``vr=120/14d``."""
    name, sep, rest = (x.strip() for x in text.partition("="))
    amount, slash, period = (x.strip() for x in rest.partition("/"))
    if not sep or not name or not amount:
        raise ValueError(f"--budget {text!r}: expected NAME=PFLOPS_HOURS/PERIOD, e.g. finance=30000/month")
    try:
        value = float(amount)
        if not slash or period == "month":
            return Budget(name, value, Period.MONTH, on_exhausted=on_exhausted)
        if period == "week":
            return Budget(name, value, Period.WEEK, on_exhausted=on_exhausted)
        if period[-1:] in _LENGTHS and period[:-1].replace(".", "", 1).isdigit():
            return Budget(name, value, Period.CUSTOM, period_s=float(period[:-1]) * _LENGTHS[period[-1]],
                          on_exhausted=on_exhausted)
    except (ValueError, BudgetError) as exc:
        raise ValueError(f"--budget {text!r}: {exc}") from None
    raise ValueError(f"--budget {text!r}: the period is month, week, or a length such as 14d, 36h, 2w")


class SimBudgets:
    def __init__(self, budgets: Sequence[Budget], tenants: Mapping[str, Tenant]) -> None:
        for b in budgets:
            if b.tenant not in tenants:
                raise ValueError(f"--budget {b.tenant}: no tenant {b.tenant!r} here")
        self.budgets = list(budgets)
        self.tenants = tenants
        self.at: float | None = None
        self.period: dict[str, float] = {}  # per budget: the start of its current period
        self.spent: dict[str, float] = dict.fromkeys((b.tenant for b in budgets), 0.0)  # this period
        #: per budget: the periods seen, those it ran out in, and PFLOPS-hours spent in all
        self.report: dict[str, dict[str, float]] = {
            b.tenant: {"periods": 0, "exhausted_periods": 0, "spent_pflops_hours": 0.0} for b in budgets}
        self._out: set[str] = set()  # budgets spent in their current period
        self._held: dict[str, int] = {}  # per leaf, the GFLOPS its jobs hold now

    def hold(self, now: float, tenant: str, gflops: int) -> None:
        """A job of the tenant took (or, negative, gave back) ``gflops`` at ``now``: what was
        held until then is accounted first."""
        self.advance(now)
        self._held[tenant] = self._held.get(tenant, 0) + gflops

    def advance(self, now: float) -> dict[str, str]:
        """Account what was held since the last call; returns whose new jobs a spent budget stops."""
        held_gflops = self._held
        if self.at is not None and now > self.at:
            hours = (now - self.at) / 3600.0
            for b in self.budgets:
                start, _ = period_bounds(b, now, UTC)
                if self.period.get(b.tenant) != start:  # a new period: afresh
                    self.period[b.tenant] = start
                    self.spent[b.tenant] = 0.0
                    self.report[b.tenant]["periods"] += 1
                    self._out.discard(b.tenant)
                gflops = sum(g for leaf, g in held_gflops.items()
                             if leaf == b.tenant or b.tenant in ancestors(self.tenants, leaf))
                pfh = gflops / GFLOPS_PER_PFLOPS * hours
                self.spent[b.tenant] += pfh
                self.report[b.tenant]["spent_pflops_hours"] += pfh
                if self.spent[b.tenant] >= b.pflops_hours and b.tenant not in self._out:
                    self._out.add(b.tenant)
                    self.report[b.tenant]["exhausted_periods"] += 1
        self.at = now
        out: dict[str, str] = {}
        by_name = {b.tenant: b for b in self.budgets}
        for leaf in self.tenants:
            for node in (leaf, *ancestors(self.tenants, leaf)):
                if node in self._out and out.get(leaf) != OnExhausted.HOLD.value:
                    out[leaf] = by_name[node].on_exhausted.value
        return out

    def next_period(self, now: float) -> float | None:
        """When the first spent budget starts afresh (the replay wakes up then)."""
        ends = [period_bounds(b, now, UTC)[1] for b in self.budgets if b.tenant in self._out]
        return min(ends, default=None)
