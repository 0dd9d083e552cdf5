"""Admin: budgets, PFLOPS-hours per period for a tenant's subtree, and their what-if."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from scheduler.api.models import BudgetIn, BudgetList, BudgetOut, BudgetWhatIfOut
from scheduler.client.bodies import build, segment, wire
from scheduler.client.http_client import HttpClient


class BudgetCalls(HttpClient):
    def budgets(self) -> list[BudgetOut]:
        """Every budget and where it stands this period."""
        return self._get("/v1/admin/budgets", BudgetList).items

    def set_budget(self, tenant: str, budget: BudgetIn | Mapping[str, Any] | None = None,
                   **fields: Any) -> BudgetOut:
        """PFLOPS-hours per period for the tenant and its subtree."""
        body = build(BudgetIn, budget, **fields)
        return self._send("PUT", f"/v1/admin/budgets/{segment(tenant)}", BudgetOut, wire(body),
                          safe_to_repeat=True)

    def budget_whatif(self, tenant: str, pflops_hours: float) -> BudgetWhatIfOut:
        """Who would have been held this period had the budget been ``pflops_hours``."""
        return self._send("POST", f"/v1/admin/budgets/{segment(tenant)}/whatif", BudgetWhatIfOut,
                          {"pflops_hours": pflops_hours}, safe_to_repeat=True)

    def delete_budget(self, tenant: str) -> list[BudgetOut]:
        return self._send("DELETE", f"/v1/admin/budgets/{segment(tenant)}", BudgetList).items
