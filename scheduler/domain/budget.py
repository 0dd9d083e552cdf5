"""Budgets: compute a tenant (or a whole subtree) buys per period, in PFLOPS-hours.

A period starts at the center's time zone's boundary: a calendar month (the
default), an ISO week (Monday 00:00), or a custom length counted from an anchor.
What is left unspent at the end of a period carries over into the next, up to
``carryover`` (a fraction of the amount). Spending is what the ledger counts:
the PFLOPS-hours of the subtree's running jobs, accrued as they run.

When a budget is spent, its tenant's new jobs ``hold`` (wait, reason
BudgetExhausted) or run ``best-effort`` (only on idle capacity). Running jobs
are never stopped for it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

#: ``(start, end) -> PFLOPS-hours`` the ledger counts for a tenant's subtree in the window
SpentBetween = Callable[[float, float], float]


class BudgetError(ValueError):
    """A budget that contradicts itself; the message names the field."""


class Period(StrEnum):
    MONTH = "month"
    WEEK = "week"
    CUSTOM = "custom"


class OnExhausted(StrEnum):
    HOLD = "hold"
    BEST_EFFORT = "best-effort"


@dataclass(frozen=True, slots=True)
class Budget:
    tenant: str
    pflops_hours: float
    period: Period = Period.MONTH
    #: share of the amount that unspent compute may carry into the next period (0 to 1)
    carryover: float = 0.0
    on_exhausted: OnExhausted = OnExhausted.HOLD
    #: a custom period's length
    period_s: float | None = None
    #: when the budget began: custom periods are counted from it, and a period that began
    #: before it carries nothing over
    anchor: float = 0.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.pflops_hours) and self.pflops_hours >= 0):
            raise BudgetError("pflops_hours must be a number >= 0")
        if not 0.0 <= self.carryover <= 1.0:
            raise BudgetError("carryover must be between 0 and 1 (0% to 100%)")
        if self.period is Period.CUSTOM:
            if self.period_s is None or not (math.isfinite(self.period_s) and self.period_s >= 3600):
                raise BudgetError("period_s: a custom period needs a length of at least 3600 s")
        elif self.period_s is not None:
            raise BudgetError("period_s: only a custom period has a length")


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise BudgetError(f"unknown time zone {name!r}") from None


def period_bounds(budget: Budget, at: float, tz: ZoneInfo) -> tuple[float, float]:
    """The period holding the instant ``at``: (start, end) in epoch seconds."""
    if budget.period is Period.CUSTOM:
        assert budget.period_s is not None
        k = math.floor((at - budget.anchor) / budget.period_s)
        start = budget.anchor + k * budget.period_s
        return start, start + budget.period_s
    local = datetime.fromtimestamp(at, tz)
    if budget.period is Period.WEEK:
        day = (local - timedelta(days=local.weekday())).date()
        begin = datetime(day.year, day.month, day.day, tzinfo=tz)
        end = begin + timedelta(days=7)
        # (wall-clock arithmetic; the zone's offset is looked up at each end)
        return begin.timestamp(), datetime(end.year, end.month, end.day, tzinfo=tz).timestamp()
    begin = datetime(local.year, local.month, 1, tzinfo=tz)
    nxt = datetime(local.year + (local.month == 12), local.month % 12 + 1, 1, tzinfo=tz)
    return begin.timestamp(), nxt.timestamp()


@dataclass(frozen=True, slots=True)
class BudgetStatus:
    budget: Budget
    period_start: float
    period_end: float
    #: carried over from the previous period (capped)
    carried: float
    spent: float

    @property
    def available(self) -> float:
        return self.budget.pflops_hours + self.carried

    @property
    def left(self) -> float:
        return self.available - self.spent

    @property
    def spent_ratio(self) -> float:
        return self.spent / self.available if self.available > 0 else (1.0 if self.spent > 0 else 0.0)

    @property
    def exhausted(self) -> bool:
        return self.left <= 0


def status(budget: Budget, at: float, tz: ZoneInfo, spent_between: SpentBetween) -> BudgetStatus:
    """Where the budget stands at ``at``. ``spent_between(start, end)`` is the ledger's
    PFLOPS-hours of the tenant's subtree in that window. The previous period's unspent part
    carries over, up to ``carryover`` of the amount, if the budget covered all of it (the
    budget as it is now is applied to that period too: a budget raised or lowered takes
    effect for the whole period it is in)."""
    start, end = period_bounds(budget, at, tz)
    carried = 0.0
    prev_start, _ = period_bounds(budget, start - 1.0, tz)
    if budget.carryover > 0 and prev_start >= budget.anchor:
        unspent = max(0.0, budget.pflops_hours - spent_between(prev_start, start))
        carried = min(unspent, budget.carryover * budget.pflops_hours)
    return BudgetStatus(budget, start, end, carried, spent_between(start, min(at, end)))

