"""Tells a replay's budgets what each tenant holds, as jobs take and give back devices."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from scheduler.core import Decision
from scheduler.domain import JobRecord
from scheduler.sim.budgets import SimBudgets


class BudgetMeter:
    """An ``EngineObserver`` that books each change of devices held into ``SimBudgets``."""

    def __init__(self, budgets: SimBudgets, gflops_of: Mapping[str, int], now: Callable[[], float]) -> None:
        self.budgets = budgets
        self.gflops_of = gflops_of
        self.now = now

    def submitted(self, job: JobRecord) -> None:
        pass

    def stepped(self, decision: Decision, seconds: float, at: float) -> None:
        pass

    def changed(self, before: JobRecord, after: JobRecord) -> None:
        took = after.state.holds_devices and not before.state.holds_devices
        if took or (before.state.holds_devices and not after.state.holds_devices):
            placement = after.placement if took else before.placement
            if placement is not None:
                gflops = placement.devices * self.gflops_of[placement.accelerator]
                self.budgets.hold(self.now(), after.spec.tenant, gflops if took else -gflops)

    def repaired(self, repairs: object) -> None:
        pass
