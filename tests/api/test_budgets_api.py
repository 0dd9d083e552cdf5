"""Budgets over the API: set, spent from the ledger as jobs run, hold once spent, warnings."""

from __future__ import annotations

import time
from collections.abc import Callable

from fastapi.testclient import TestClient

from tests.api.conftest import job_body
from tests.api.test_jobs_api import wait_for

Issue = Callable[[str], dict[str, str]]


def test_a_spent_budget_holds_new_jobs_and_says_so(client: TestClient, admin: dict[str, str],
                                                    tenant_token: Issue) -> None:
    # 0.002 PFLOPS-hours: 8 devices of 312 TFLOPS (2.5 PFLOPS) spend it in about 3 s
    r = client.put("/v1/admin/budgets/acme", headers=admin,
                   json={"pflops_hours": 0.002, "period": "month", "carryover": 0.1})
    assert r.status_code == 200, r.text
    b = r.json()
    assert (b["spent_pflops_hours"], b["exhausted"], b["period"]) == (0.0, False, "month")
    assert b["period_start"].endswith("Z") and b["period_start"] < b["period_end"]
    acme = tenant_token("acme")
    first = client.post("/v1/jobs", headers=acme, json=job_body("spender", sleep_s=60)).json()
    assert first["budget_warning"] is not None, first  # 1,800 s estimated: far more than what is left
    assert "left of acme's budget" in first["budget_warning"]
    wait_for(client, acme, first["id"], "running")
    deadline = time.monotonic() + 20
    while not client.get("/v1/admin/budgets/acme", headers=admin).json()["exhausted"]:
        assert time.monotonic() < deadline, "the budget was never spent"
        time.sleep(0.2)
    spent = client.get("/v1/admin/budgets", headers=admin).json()["items"][0]
    assert spent["spent_ratio"] >= 1.0 and spent["left_pflops_hours"] <= 0
    time.sleep(0.4)  # (the loop reads the budgets every few seconds; a set reads them at once)
    second = client.post("/v1/jobs", headers=acme, json=job_body("held", devices=1)).json()
    held = wait_for(client, acme, second["id"], "pending")
    deadline = time.monotonic() + 10
    while held["reason"] != "BudgetExhausted" and time.monotonic() < deadline:
        time.sleep(0.2)
        held = client.get(f"/v1/jobs/{second['id']}", headers=acme).json()
    assert held["reason"] == "BudgetExhausted" and held["queue_position"] == 1
    assert client.get(f"/v1/jobs/{first['id']}", headers=acme).json()["state"] == "running"  # never killed
    # raised, the budget lets it in
    r = client.put("/v1/admin/budgets/acme", headers=admin, json={"pflops_hours": 100})
    assert r.status_code == 200 and not r.json()["exhausted"]
    wait_for(client, acme, second["id"], "running")
    audit = client.get("/v1/admin/audit", headers=admin).json()["items"]
    sets = [e for e in audit if e["target"] == "acme" and e["action"] == "budget.set"]
    assert sorted(e["detail"]["pflops_hours"] for e in sets) == [0.002, 100]
    w = client.post("/v1/admin/budgets/acme/whatif", headers=admin, json={"pflops_hours": 0}).json()
    assert {r["job_id"] for r in w["would_have_held"]} == {first["id"], second["id"]}  # had it been 0
    w = client.post("/v1/admin/budgets/acme/whatif", headers=admin, json={"pflops_hours": 1e6}).json()
    assert (w["spent_at"], w["would_have_held"]) == (None, [])
    assert client.delete("/v1/admin/budgets/acme", headers=admin).json()["items"] == []
    assert client.delete("/v1/admin/budgets/acme", headers=admin).status_code == 404


def test_bad_budgets_are_refused(client: TestClient, admin: dict[str, str]) -> None:
    def put(tenant: str, body: dict[str, object]) -> tuple[int, str]:
        r = client.put(f"/v1/admin/budgets/{tenant}", headers=admin, json=body)
        return r.status_code, r.json().get("type", "").rsplit("/", 1)[-1]

    assert put("acme", {"pflops_hours": -1}) == (422, "validation")
    assert put("acme", {"pflops_hours": 1, "carryover": 2}) == (422, "validation")
    assert put("acme", {"pflops_hours": 1, "period": "custom"}) == (422, "invalid-budget")
    assert put("nobody", {"pflops_hours": 1}) == (404, "tenant-not-found")
