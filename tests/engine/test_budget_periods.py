"""Budget periods in the center's time zone, carryover, and where a budget stands, with an
injected clock (a plain number of seconds) across period boundaries."""

from __future__ import annotations

from datetime import datetime

import pytest

from scheduler.domain.budget import Budget, BudgetError, OnExhausted, Period
from scheduler.engine.periods import period_bounds, status, zone

SHANGHAI = zone("Asia/Shanghai")


def at(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> float:
    return datetime(y, mo, d, h, mi, tzinfo=SHANGHAI).timestamp()


def test_a_month_starts_at_midnight_in_the_centers_time_zone() -> None:
    b = Budget("finance", 50_000)
    # 2026-01-31 16:30 UTC is already 1 February in Shanghai
    start, end = period_bounds(b, datetime.fromisoformat("2026-01-31T16:30:00+00:00").timestamp(), SHANGHAI)
    assert (start, end) == (at(2026, 2, 1), at(2026, 3, 1))
    assert period_bounds(b, at(2026, 12, 31, 23, 59), SHANGHAI) == (at(2026, 12, 1), at(2027, 1, 1))


def test_weeks_start_on_monday_and_custom_periods_count_from_their_anchor() -> None:
    week = Budget("finance", 100, Period.WEEK)
    assert period_bounds(week, at(2026, 12, 9, 15), SHANGHAI) == (at(2026, 12, 7), at(2026, 12, 14))
    day = Budget("finance", 100, Period.CUSTOM, period_s=86_400, anchor=at(2026, 1, 1, 8))
    assert period_bounds(day, at(2026, 1, 3, 7), SHANGHAI) == (at(2026, 1, 2, 8), at(2026, 1, 3, 8))


def spent(runs: list[tuple[float, float, float]]):  # type: ignore[no-untyped-def]
    """A ledger: (start, end, PFLOPS) runs; the PFLOPS-hours they accrue in a window."""
    def between(lo: float, hi: float) -> float:
        return sum(p * max(0.0, min(e, hi) - max(s, lo)) / 3600 for s, e, p in runs)
    return between


def test_spend_accrues_as_jobs_run_and_the_new_month_starts_afresh() -> None:
    b = Budget("finance", 1_000)
    ledger = spent([(at(2026, 1, 31, 20), at(2026, 2, 1, 4), 100.0)])  # 8 h at 100 PFLOPS across midnight
    jan = status(b, at(2026, 1, 31, 23, 59), SHANGHAI, ledger)
    assert jan.spent == pytest.approx(100 * (3 + 59 / 60)) and not jan.exhausted
    feb = status(b, at(2026, 2, 1, 4), SHANGHAI, ledger)
    assert feb.period_start == at(2026, 2, 1) and feb.spent == pytest.approx(400)
    assert feb.carried == 0 and feb.left == pytest.approx(600)


def test_unspent_budget_carries_over_up_to_its_cap() -> None:
    ledger = spent([(at(2026, 1, 10), at(2026, 1, 10, 2), 100.0)])  # 200 PFLOPS-hours in January
    b = Budget("finance", 1_000, carryover=0.1)
    feb = status(b, at(2026, 2, 2), SHANGHAI, ledger)
    assert feb.carried == pytest.approx(100)  # 800 unspent, at most 10% of 1,000
    assert feb.available == pytest.approx(1_100)
    generous = status(Budget("finance", 1_000, carryover=1.0), at(2026, 2, 2), SHANGHAI, ledger)
    assert generous.carried == pytest.approx(800)
    # a budget set mid-January carries nothing of January over
    late = status(Budget("finance", 1_000, carryover=1.0, anchor=at(2026, 1, 9)), at(2026, 2, 2), SHANGHAI, ledger)
    assert late.carried == 0


def test_a_budget_raised_or_lowered_mid_period_applies_to_the_whole_period() -> None:
    ledger = spent([(at(2026, 3, 1), at(2026, 3, 1, 5), 100.0)])  # 500 spent by 05:00
    now = at(2026, 3, 15)
    assert status(Budget("finance", 1_000), now, SHANGHAI, ledger).left == pytest.approx(500)
    lowered = status(Budget("finance", 400), now, SHANGHAI, ledger)
    assert lowered.exhausted and lowered.spent_ratio == pytest.approx(1.25)
    raised = status(Budget("finance", 2_000), now, SHANGHAI, ledger)
    assert not raised.exhausted and raised.spent_ratio == pytest.approx(0.25)


def test_bad_budgets_say_which_field() -> None:
    with pytest.raises(BudgetError, match="pflops_hours"):
        Budget("x", -1)
    with pytest.raises(BudgetError, match="carryover"):
        Budget("x", 1, carryover=1.5)
    with pytest.raises(BudgetError, match="period_s"):
        Budget("x", 1, Period.CUSTOM)
    with pytest.raises(BudgetError, match="unknown time zone"):
        zone("Mars/Olympus")
    assert Budget("x", 1, on_exhausted=OnExhausted.BEST_EFFORT).on_exhausted == "best-effort"
