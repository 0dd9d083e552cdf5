"""Budgets: PFLOPS-hours per period for a tenant's subtree, where each stands, and what-if."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from scheduler.api.models.common import Request, Response


class BudgetIn(Request):
    """``PUT /v1/admin/budgets/{tenant}``: PFLOPS-hours per period, for the tenant's whole subtree."""

    pflops_hours: float = Field(ge=0, allow_inf_nan=False)
    #: month (calendar, the center's time zone), week (from Monday), or custom (``period_s``)
    period: Literal["month", "week", "custom"] = "month"
    period_s: float | None = Field(default=None, ge=3600, allow_inf_nan=False)
    #: epoch seconds: when the budget began, where custom periods are counted from (default: when
    #: it was first set; a change keeps it)
    anchor: float | None = None
    #: share of the amount unspent compute may carry into the next period, 0 to 1
    carryover: float = Field(default=0.0, ge=0, le=1, allow_inf_nan=False)
    #: what the tenant's new jobs do once it is spent
    on_exhausted: Literal["hold", "best-effort"] = "hold"


class BudgetOut(Response):
    tenant: str
    pflops_hours: float
    period: str
    period_s: float | None
    carryover: float
    on_exhausted: str
    period_start: str
    period_end: str
    carried_pflops_hours: float
    available_pflops_hours: float
    spent_pflops_hours: float
    left_pflops_hours: float
    spent_ratio: float
    exhausted: bool


class BudgetList(Response):
    items: list[BudgetOut]


class BudgetWhatIfIn(Request):
    """``POST /v1/admin/budgets/{tenant}/whatif``: a budget to set against this period's ledger."""

    pflops_hours: float = Field(ge=0, allow_inf_nan=False)


class HeldRunOut(Response):
    job_id: str
    tenant: str
    started_at: str
    devices: int


class BudgetWhatIfOut(Response):
    tenant: str
    pflops_hours: float
    period_start: str
    #: when it would have been spent; null: not by now
    spent_at: str | None
    #: the runs of its subtree that began after, and so would have been held
    would_have_held: list[HeldRunOut]
