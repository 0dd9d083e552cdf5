"""Budget periods on the calendar of the center's time zone, and where a budget stands.

A month starts at midnight of its first day, a week at Monday midnight, in the
center's time zone (the shipped center: Asia/Shanghai); a custom period is a
fixed length counted from the budget's anchor.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from scheduler.domain.budget import Budget, BudgetError, BudgetStatus, Period

#: ``(start, end) -> PFLOPS-hours`` the ledger counts for a tenant's subtree in the window
SpentBetween = Callable[[float, float], float]


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

