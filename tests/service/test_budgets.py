"""Budgets against the ledger: a subtree's runs, spent as they run, a team moved mid-period."""

from __future__ import annotations

from datetime import datetime

import pytest

from scheduler.domain import Quota, Tenant
from scheduler.domain.budget import Budget, OnExhausted
from scheduler.engine.periods import zone
from scheduler.service.budgets import estimated_cost, exhausted, statuses, would_hold
from scheduler.store import Run

TZ = zone("Asia/Shanghai")
GFLOPS = {"a800": 312_000}  # 8 devices = 2.496 PFLOPS


def at(d: int, h: int = 0) -> float:
    return datetime(2026, 3, d, h, tzinfo=TZ).timestamp()


def tree(desk_parent: str) -> dict[str, Tenant]:
    q = Quota(1, 1)
    return {"bank-a": Tenant("bank-a", q), "bank-b": Tenant("bank-b", q),
            "desk": Tenant("desk", q, parent=desk_parent), "other": Tenant("other", q, parent="bank-a")}


RUNS = [Run("j1", "desk", "training", "a800", 8, at(2), at(2, 10)),  # 24.96 PFLOPS-hours
        Run("j2", "other", "training", "a800", 8, at(3), None)]  # still running


def test_a_parents_budget_spends_its_subtrees_runs_accrued_until_now() -> None:
    found = statuses([Budget("bank-a", 29)], tree("bank-a"), at(3, 2), TZ, lambda lo, hi: RUNS, GFLOPS)
    assert found["bank-a"].spent == pytest.approx(24.96 + 2 * 2.496)  # j2 has run 2 hours
    assert found["bank-a"].exhausted
    assert exhausted(found, tree("bank-a")) == {"bank-a": "hold", "desk": "hold", "other": "hold"}


def test_a_team_moved_mid_period_takes_its_runs_to_its_new_parent() -> None:
    budgets = [Budget("bank-a", 30), Budget("bank-b", 20, on_exhausted=OnExhausted.BEST_EFFORT)]
    moved = statuses(budgets, tree("bank-b"), at(3, 2), TZ, lambda lo, hi: RUNS, GFLOPS)
    assert moved["bank-a"].spent == pytest.approx(2 * 2.496) and not moved["bank-a"].exhausted
    assert moved["bank-b"].spent == pytest.approx(24.96) and moved["bank-b"].exhausted
    assert exhausted(moved, tree("bank-b")) == {"bank-b": "best-effort", "desk": "best-effort"}


def test_hold_wins_where_a_leaf_and_its_parent_are_both_spent() -> None:
    budgets = [Budget("bank-a", 1, on_exhausted=OnExhausted.HOLD),
               Budget("other", 1, on_exhausted=OnExhausted.BEST_EFFORT)]
    found = statuses(budgets, tree("bank-a"), at(3, 2), TZ, lambda lo, hi: RUNS, GFLOPS)
    assert exhausted(found, tree("bank-a"))["other"] == "hold"
    assert estimated_cost(8, 312_000, 3600) == pytest.approx(2.496)
    assert estimated_cost(8, 312_000, None) is None


def test_a_smaller_budget_would_have_held_the_jobs_started_after_it_was_spent() -> None:
    runs = [Run("j1", "desk", "training", "a800", 8, at(2), at(2, 10)),  # 2.496 PFLOPS for 10 h
            Run("j2", "desk", "training", "a800", 8, at(2, 4), at(2, 6)),  # doubles the rate 04:00-06:00
            Run("j3", "desk", "training", "a800", 8, at(2, 8), None)]
    # 10 PFLOPS-hours: 2.496/h until 04:00 (9.984), then 4.992/h: spent just after 04:00
    spent_at, held = would_hold(runs, 10.0, at(1), at(3), GFLOPS)
    assert spent_at == pytest.approx(at(2, 4) + (10.0 - 9.984) / 4.992 * 3600)
    assert [r.job_id for r in held] == ["j3"]  # j2 began before; it would have run
    assert would_hold(runs, 1_000.0, at(1), at(3), GFLOPS) == (None, [])
