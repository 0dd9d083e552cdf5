"""Admin routes: tenants, quotas, tokens, nodes, jobs across tenants, center, audit, what-if."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace

from fastapi.testclient import TestClient

from scheduler.service import Service
from tests.api.conftest import job_body
from tests.api.test_jobs_api import wait_for

Issue = Callable[[str], dict[str, str]]


def test_a_tenant_is_not_an_admin(client: TestClient, tenant_token: Issue) -> None:
    acme = tenant_token("acme")
    for method, path in (("GET", "/v1/admin/tenants"), ("POST", "/v1/admin/tenants"),
                         ("PUT", "/v1/admin/tenants/acme/quota"), ("GET", "/v1/admin/nodes"),
                         ("GET", "/v1/admin/audit"), ("POST", "/v1/admin/whatif"),
                         ("GET", "/v1/admin/jobs")):
        r = client.request(method, path, headers=acme, json={})
        assert r.status_code == 403, (path, r.status_code)
        assert r.json()["type"].endswith("/forbidden")


def test_tenant_lifecycle_with_the_documented_payloads(client: TestClient, admin: dict[str, str]) -> None:
    r = client.post("/v1/admin/tenants", headers=admin, json={"name": "finance", "weight": 1})
    assert r.status_code == 201, r.text
    assert r.json()["name"] == "finance" and r.json()["quota"]["guaranteed"] == "0P"
    assert client.post("/v1/admin/tenants", headers=admin,
                       json={"name": "finance", "weight": 1}).status_code == 409
    q = client.put("/v1/admin/tenants/finance/quota", headers=admin,
                   json={"guaranteed": "1P", "limit": "1.5P"})
    assert q.status_code == 200, q.text
    assert q.json()["quota"]["guaranteed_pflops"] == 1.0 and q.json()["quota"]["limit"] == "1.5P"
    q = client.put("/v1/admin/tenants/finance/quota", headers=admin,
                   json={"guaranteed": 0.5, "lending_limit": "200T", "caps": {"a800": 4}})
    assert q.json()["quota"]["guaranteed"] == "500T" and q.json()["quota"]["caps"] == {"a800": 4}
    assert q.json()["quota"]["lending_limit"] == "200T" and q.json()["quota"]["limit"] == "1.5P"
    assert client.patch("/v1/admin/tenants/finance", headers=admin, json={"weight": 3}).json()["weight"] == 3
    assert r.json()["grace_period_s"] is None  # the center's default
    graced = client.patch("/v1/admin/tenants/finance", headers=admin, json={"grace_period_s": 120}).json()
    assert (graced["grace_period_s"], graced["weight"]) == (120, 3)  # what is not given stays
    assert client.patch("/v1/admin/tenants/finance", headers=admin, json={"weight": 2}).json()["grace_period_s"] == 120
    back = client.patch("/v1/admin/tenants/finance", headers=admin, json={"grace_period_s": None}).json()
    assert back["grace_period_s"] is None and back["weight"] == 2
    for bad in ({}, {"grace_period_s": -1}, {"grace_period_s": 100_000}):
        r = client.patch("/v1/admin/tenants/finance", headers=admin, json=bad)
        assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json", bad
    made = client.post("/v1/admin/tenants", headers=admin, json={"name": "patient", "grace_period_s": 600})
    assert made.json()["grace_period_s"] == 600
    assert client.delete("/v1/admin/tenants/patient", headers=admin).status_code == 200
    names = [t["name"] for t in client.get("/v1/admin/tenants", headers=admin).json()["items"]]
    assert names == ["acme", "beta", "finance"]
    history = client.get("/v1/admin/tenants/finance/quota/history", headers=admin).json()["items"]
    newest_first = [h["guaranteed"] for h in history]
    assert [g for i, g in enumerate(newest_first) if i == 0 or g != newest_first[i - 1]][:2] == ["500T", "1P"]
    assert all(h["actor"] == "admin" for h in history)
    assert client.delete("/v1/admin/tenants/finance", headers=admin).status_code == 200
    assert client.get("/v1/admin/tenants/finance", headers=admin).status_code == 404


def test_quota_validation(client: TestClient, admin: dict[str, str]) -> None:
    def put(body: dict[str, object]) -> tuple[int, str]:
        r = client.put("/v1/admin/tenants/acme/quota", headers=admin, json=body)
        return r.status_code, r.json().get("type", "").rsplit("/", 1)[-1]

    assert put({"guaranteed": "5P", "limit": "4P"}) == (422, "invalid-quota")
    assert put({"guaranteed": "12X"})[0] == 422
    assert put({"guaranteed": "1P", "bogus": 1}) == (422, "validation")
    # beta holds 3.12P of the 9.984P: 7P more would overcommit the center ...
    assert put({"guaranteed": "7P", "limit": "9P"}) == (422, "overcommitted")
    # ... unless explicitly allowed.
    assert put({"guaranteed": "7P", "limit": "9P", "allow_overcommit": True})[0] == 200
    assert put({"caps": {"h100": 8}}) == (422, "invalid-quota")
    assert client.put("/v1/admin/tenants/nobody/quota", headers=admin,
                      json={"guaranteed": "1P"}).status_code == 404


def test_delete_refuses_with_live_jobs_unless_forced(client: TestClient, admin: dict[str, str],
                                                    tenant_token: Issue) -> None:
    acme = tenant_token("acme")
    job = client.post("/v1/jobs", headers=acme, json=job_body()).json()
    r = client.delete("/v1/admin/tenants/acme", headers=admin)
    assert r.status_code == 409 and r.json()["type"].endswith("/tenant-has-jobs")
    r = client.delete("/v1/admin/tenants/acme", headers=admin, params={"force": True})
    assert r.status_code == 200 and r.json()["cancelled_jobs"] == [job["id"]]
    assert client.get("/v1/admin/jobs?tenant=acme", headers=admin).json()["items"][0]["state"] == "cancelled"
    assert client.get("/v1/jobs", headers=acme).status_code == 401  # its tokens died with it


def test_nodes_cordon_uncordon_drain(client: TestClient, admin: dict[str, str], tenant_token: Issue) -> None:
    nodes = client.get("/v1/admin/nodes", headers=admin).json()["items"]
    assert len(nodes) == 4 and all(n["state"] == "ready" and n["devices"] == 8 for n in nodes)
    acme = tenant_token("acme")
    job = client.post("/v1/jobs", headers=acme, json=job_body(devices=8)).json()
    running = wait_for(client, acme, job["id"], "running")
    node = running["placement"]["nodes"][0]  # type: ignore[index]
    assert client.get(f"/v1/admin/nodes/{node}", headers=admin).json()["allocated"] == 8
    other = next(n["name"] for n in nodes if n["name"] != node)
    c = client.post(f"/v1/admin/nodes/{other}/cordon", headers=admin)
    assert c.status_code == 200 and c.json()["state"] == "cordoned" and c.json()["free"] == 0
    assert client.post(f"/v1/admin/nodes/{other}/uncordon", headers=admin).json()["state"] == "ready"
    d = client.post(f"/v1/admin/nodes/{node}/drain", headers=admin, json={"preempt": False}).json()
    assert d == {"node": node, "state": "cordoned", "preempted": [], "still_running": [job["id"]]}
    d = client.post(f"/v1/admin/nodes/{node}/drain", headers=admin, json={"preempt": True}).json()
    assert d["preempted"] == [job["id"]]
    again = wait_for(client, acme, job["id"], "running")  # requeued and placed elsewhere
    assert node not in again["placement"]["nodes"]  # type: ignore[index]
    assert again["preemptions"] == 1
    assert client.post("/v1/admin/nodes/nope/cordon", headers=admin).status_code == 404


def test_admin_sees_and_cancels_every_tenants_jobs(client: TestClient, admin: dict[str, str],
                                                  tenant_token: Issue) -> None:
    a = client.post("/v1/jobs", headers=tenant_token("acme"), json=job_body("a")).json()
    b = client.post("/v1/jobs", headers=tenant_token("beta"), json=job_body("b")).json()
    items = client.get("/v1/admin/jobs", headers=admin).json()["items"]
    assert [j["id"] for j in items] == [a["id"], b["id"]]
    assert [j["id"] for j in client.get("/v1/admin/jobs", headers=admin,
                                        params={"tenant": "beta"}).json()["items"]] == [b["id"]]
    assert client.post(f"/v1/admin/jobs/{b['id']}/cancel", headers=admin).json()["state"] == "cancelled"
    audit = client.get("/v1/admin/audit", headers=admin).json()["items"]
    assert any(e["action"] == "job.cancel" and e["target"] == b["id"] for e in audit)


def test_center_capacity_allocated_free(client: TestClient, admin: dict[str, str], tenant_token: Issue) -> None:
    c = client.get("/v1/center", headers=admin).json()
    assert c["total"]["devices"] == 32 and c["total"]["pflops"] == 9.984
    assert c["pools"][0]["racks"] == 2 and c["accelerators"][0]["tflops_fp16"] == 312
    acme = tenant_token("acme")
    job = client.post("/v1/jobs", headers=acme, json=job_body(devices=4)).json()
    wait_for(client, acme, job["id"], "running")
    c = client.get("/v1/center", headers=acme).json()  # tenants may read the center too
    assert c["total"]["allocated_devices"] == 4 and c["total"]["free_devices"] == 28
    assert c["accelerators"][0]["allocated_pflops"] == 1.248


def test_audit_records_admin_actions_in_pages(client: TestClient, admin: dict[str, str]) -> None:
    for i in range(3):
        client.post("/v1/admin/tenants", headers=admin, json={"name": f"t{i}", "weight": 1})
    first = client.get("/v1/admin/audit", headers=admin, params={"limit": 2}).json()
    rest = client.get("/v1/admin/audit", headers=admin,
                      params={"limit": 100, "continue": first["continue"]}).json()
    creates = [e["target"] for e in first["items"] + rest["items"] if e["action"] == "tenant.create"]
    assert creates == ["t0", "t1", "t2"]
    assert rest["continue"] is None


def test_whatif_reports_starts_and_preemptions_without_changing_anything(
        client: TestClient, admin: dict[str, str], tenant_token: Issue, service: Service) -> None:
    service.policy = replace(service.policy, min_runtime_s=0.0)  # young jobs may be victims here
    beta, acme = tenant_token("beta"), tenant_token("acme")
    b1 = client.post("/v1/jobs", headers=beta, json=job_body("b1")).json()
    wait_for(client, beta, b1["id"], "running")
    # acme's limit is 20 devices: a 24-device job waits for quota.
    big = client.post("/v1/jobs", headers=acme, json=job_body("big", workers=3)).json()
    deadline = time.monotonic() + 10  # the next scheduling step says why it waits
    while client.get(f"/v1/jobs/{big['id']}", headers=acme).json()["reason"] != "QuotaExhausted":
        assert time.monotonic() < deadline, "the job never said why it waits"
        time.sleep(0.05)
    def quotas() -> list[object]:
        return [t["quota"] for t in client.get("/v1/admin/tenants", headers=admin).json()["items"]]

    before = quotas()

    r = client.post("/v1/admin/whatif", headers=admin,
                    json={"changes": [{"tenant": "acme", "limit": "9.984P"}]})
    assert r.status_code == 200, r.text
    out = r.json()
    assert [s["job_id"] for s in out["would_start"]] == [big["id"]]
    assert out["start_because_of_change"] == [big["id"]] and out["would_preempt"] == []

    # beta borrows 6 devices more; acme, were it guaranteed 24 devices, would reclaim them.
    b2 = client.post("/v1/jobs", headers=beta, json=job_body("b2", workers=2)).json()
    wait_for(client, beta, b2["id"], "running")
    r = client.post("/v1/admin/whatif", headers=admin, json={"changes": [
        {"tenant": "acme", "guaranteed": "7.488P", "limit": "9.984P"},
        {"tenant": "beta", "guaranteed": "2.496P"}]})
    out = r.json()
    assert out["would_preempt"] and {p["tenant"] for p in out["would_preempt"]} == {"beta"}
    assert {p["reason"] for p in out["would_preempt"]} == {"Reclaim"}
    assert set(out["preempt_because_of_change"]) == {p["job_id"] for p in out["would_preempt"]}

    assert quotas() == before  # nothing changed
    assert client.get(f"/v1/jobs/{big['id']}", headers=acme).json()["state"] == "pending"
    assert client.get(f"/v1/jobs/{b2['id']}", headers=beta).json()["state"] == "running"
    bad = client.post("/v1/admin/whatif", headers=admin, json={"changes": [{"tenant": "nobody", "limit": 1}]})
    assert bad.status_code == 404
    assert client.post("/v1/admin/whatif", headers=admin, json={"changes": []}).status_code == 422
