"""Budgets: compute a tenant (or a whole subtree) buys per period, in PFLOPS-hours.

(The calendar, periods in the center's time zone, is in scheduler/engine/periods.py: the
domain reads no clock.)

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
from dataclasses import dataclass
from enum import StrEnum

from scheduler.domain.errors import Invalid


class BudgetError(Invalid):
    """A budget that contradicts itself; the message names the field."""

    def __init__(self, message: str) -> None:
        super().__init__("invalid-budget", message)


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
