"""The tenant tree over the API: parents, children carved out of them, subtree usage."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import job_body
from tests.api.test_jobs_api import wait_for

Issue = Callable[[str], dict[str, str]]


def kind(r: object) -> str:
    return r.json().get("type", "").rsplit("/", 1)[-1]  # type: ignore[attr-defined]


def test_a_tree_is_built_checked_as_a_whole_and_audited(client: TestClient, admin: dict[str, str]) -> None:
    post = lambda body: client.post("/v1/admin/tenants", headers=admin, json=body)  # noqa: E731
    assert post({"name": "bank", "guaranteed": "2P", "limit": "3P"}).status_code == 201
    a = post({"name": "desk-a", "guaranteed": "1P", "limit": "3P", "parent": "bank"})
    assert a.status_code == 201, a.text
    assert a.json()["parent"] == "bank"
    assert post({"name": "desk-b", "guaranteed": "1P", "limit": "2P", "parent": "bank"}).status_code == 201
    # a third desk would carve 2.5P out of bank's 2P: refused, naming the parent and the children
    r = post({"name": "desk-c", "guaranteed": "0.5P", "parent": "bank"})
    assert r.status_code == 422 and kind(r) == "invalid-quota"
    assert "children of bank" in r.json()["detail"] and "desk-c 500T" in r.json()["detail"]
    r = post({"name": "desk-d", "parent": "nowhere"})
    assert r.status_code == 422 and "parent nowhere does not exist" in r.json()["detail"]
    # raising a child's guarantee beyond what its parent has left is refused the same way
    r = client.put("/v1/admin/tenants/desk-a/quota", headers=admin, json={"guaranteed": "1.5P"})
    assert r.status_code == 422 and "children of bank" in r.json()["detail"]
    # children's guarantees do not count twice against the center's capacity
    bank = client.get("/v1/admin/tenants/bank", headers=admin).json()
    assert bank["children"] == ["desk-a", "desk-b"] and bank["parent"] is None
    # a parent with children is not deleted; a move is a PATCH, audited
    r = client.delete("/v1/admin/tenants/bank", headers=admin)
    assert r.status_code == 409 and kind(r) == "tenant-has-children"
    moved = client.patch("/v1/admin/tenants/desk-b", headers=admin, json={"parent": None})
    assert moved.status_code == 200 and moved.json()["parent"] is None
    # moving desk-b under desk-a: desk-a (1P) can hold desk-b's 1P; under itself it cannot go
    assert client.patch("/v1/admin/tenants/desk-b", headers=admin, json={"parent": "desk-b"}).status_code == 422
    audit = client.get("/v1/admin/audit", headers=admin).json()["items"]
    assert any(e["action"] == "tenant.update" and e["target"] == "desk-b" and e["detail"]["parent"] is None
               for e in audit)


def test_a_parent_holds_no_jobs_and_its_usage_is_its_subtrees(client: TestClient, admin: dict[str, str],
                                                              tenant_token: Issue) -> None:
    for body in ({"name": "bank", "guaranteed": "2P", "limit": "3P"},
                 {"name": "desk-a", "guaranteed": "1P", "limit": "3P", "parent": "bank"}):
        assert client.post("/v1/admin/tenants", headers=admin, json=body).status_code == 201
    r = client.post("/v1/jobs", headers=tenant_token("bank"), json=job_body())
    assert r.status_code == 422 and kind(r) == "tenant-is-parent"
    desk = tenant_token("desk-a")
    job = client.post("/v1/jobs", headers=desk, json=job_body()).json()
    wait_for(client, desk, job["id"], "running")
    usage = {u["tenant"]: u for u in client.get("/v1/admin/usage", headers=admin).json()["items"]}
    assert usage["bank"]["devices"] == usage["desk-a"]["devices"] == {"a800": 8}
    assert usage["desk-a"]["parent"] == "bank"
    time.sleep(0.05)  # (some consumption to account)
    led = client.get("/v1/usage/ledger", headers=admin, params={"tenant": "bank"}).json()
    assert {x["tenant"] for x in led["items"]} == {"desk-a"}  # a parent's ledger is its subtree's
    assert [x["tenant"] for x in led["subtrees"]] == ["bank"]
    assert led["subtrees"][0]["device_hours"] == pytest.approx(led["total_device_hours"])
    # a tenant with live jobs does not become a parent
    r = client.post("/v1/admin/tenants", headers=admin,
                    json={"name": "desk-x", "guaranteed": "0.5P", "parent": "desk-a"})
    assert r.status_code == 409 and kind(r) == "tenant-has-jobs"


def test_moving_a_team_between_parents_is_a_what_if(client: TestClient, admin: dict[str, str],
                                                    tenant_token: Issue) -> None:
    for body in ({"name": "bank-a", "guaranteed": "2.496P", "limit": "2.496P"},
                 {"name": "bank-b", "guaranteed": "1.248P", "limit": "6.24P"},
                 {"name": "desk-a", "guaranteed": "1.248P", "limit": "6.24P", "parent": "bank-a"}):
        r = client.post("/v1/admin/tenants", headers=admin, json=body)
        assert r.status_code == 201, r.text
    desk = tenant_token("desk-a")
    first = client.post("/v1/jobs", headers=desk, json=job_body("one")).json()
    wait_for(client, desk, first["id"], "running")
    second = client.post("/v1/jobs", headers=desk, json=job_body("two")).json()
    r = client.get(f"/v1/jobs/{second['id']}", headers=desk).json()
    assert r["state"] == "pending"  # bank-a's limit (8 devices) holds desk-a
    w = client.post("/v1/admin/whatif", headers=admin, json={"changes": [{"tenant": "desk-a", "parent": "bank-b"}]})
    assert w.status_code == 200, w.text
    assert [s["job_id"] for s in w.json()["would_start"]] == [second["id"]]
    assert client.get("/v1/admin/tenants/desk-a", headers=admin).json()["parent"] == "bank-a"  # nothing changed
    bad = client.post("/v1/admin/whatif", headers=admin,
                      json={"changes": [{"tenant": "desk-a", "parent": "bank-b", "guaranteed": "2P"}]})
    assert bad.status_code == 422 and "children of bank-b (desk-a 2P)" in bad.json()["detail"]
