"""One tenant never sees or touches another's work, and never reaches an admin route.

Each attempt is tried: read, list, cancel, fetch logs of another tenant's job
(a 404 indistinguishable from a job that does not exist), every admin route of
the OpenAPI description (403), another tenant's usage and ledger (403), and
setting a job's tenant (the body may not name one; the tenant comes from the
token only).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.security.conftest import Headers, assert_problem, job_body

Issue = Callable[[str], Headers]


@pytest.fixture
def two(client: TestClient, issue: Issue) -> tuple[Headers, Headers, dict[str, Any]]:
    acme, beta = issue("acme"), issue("beta")
    r = client.post("/v1/jobs", headers=acme, json=job_body("acme-secret-model"))
    assert r.status_code == 201, r.text
    return acme, beta, r.json()


def test_another_tenants_job_is_a_404_like_a_missing_one(client: TestClient,
                                                         two: tuple[Headers, Headers, dict[str, Any]]) -> None:
    acme, beta, job = two
    for method, path in (("GET", "/v1/jobs/{}"), ("POST", "/v1/jobs/{}/cancel"), ("GET", "/v1/jobs/{}/logs"),
                         ("GET", "/v1/jobs/{}/events")):
        theirs = client.request(method, path.format(job["id"]), headers=beta)
        missing = client.request(method, path.format("j999999"), headers=beta)
        a, b = assert_problem(theirs, 404), assert_problem(missing, 404)
        assert (a["type"], a["title"]) == (b["type"], b["title"])
        assert "acme" not in theirs.text and "secret-model" not in theirs.text
    # ... and the job is untouched.
    assert client.get(f"/v1/jobs/{job['id']}", headers=acme).json()["state"] in ("pending", "admitted", "running")


def test_lists_show_only_ones_own_jobs(client: TestClient, two: tuple[Headers, Headers, dict[str, Any]]) -> None:
    acme, beta, job = two
    client.post("/v1/jobs", headers=beta, json=job_body("beta-model"))
    for query in ("", "?tenant=acme", "?state=pending,admitted,running", "?limit=1000", "?kind=finetune"):
        items = client.get(f"/v1/jobs{query}", headers=beta).json()["items"]
        assert items and {j["tenant"] for j in items} == {"beta"}, query
    mine = client.get("/v1/jobs", headers=acme).json()["items"]
    assert [j["id"] for j in mine] == [job["id"]]


def test_a_continue_token_from_another_tenant_reveals_nothing(
        client: TestClient, two: tuple[Headers, Headers, dict[str, Any]]) -> None:
    acme, beta, _ = two
    for i in range(3):
        client.post("/v1/jobs", headers=acme, json=job_body(f"a{i}"))
    page = client.get("/v1/jobs?limit=1", headers=acme).json()
    assert page["continue"]
    r = client.get(f"/v1/jobs?limit=1&continue={page['continue']}", headers=beta)
    if r.status_code == 200:
        assert all(j["tenant"] == "beta" for j in r.json()["items"])
    else:
        assert_problem(r, 400)


def test_the_tenant_comes_only_from_the_token(client: TestClient, issue: Issue) -> None:
    beta = issue("beta")
    for body in ({**job_body(), "tenant": "acme"}, {**job_body(), "Tenant": "acme"},
                 {**job_body(), "resources": {"accelerators": 1, "tenant": "acme"}}):
        assert_problem(client.post("/v1/jobs", headers=beta, json=body), 422)
    r = client.post("/v1/jobs?tenant=acme", headers={**beta, "X-Tenant": "acme"}, json=job_body())
    assert r.status_code == 201 and r.json()["tenant"] == "beta"
    assert client.get("/v1/usage", headers=beta).json()["tenant"] == "beta"


def test_idempotency_keys_are_per_tenant(client: TestClient, two: tuple[Headers, Headers, dict[str, Any]]) -> None:
    acme, beta, _ = two
    a = client.post("/v1/jobs", headers={**acme, "Idempotency-Key": "k1"}, json=job_body("same"))
    b = client.post("/v1/jobs", headers={**beta, "Idempotency-Key": "k1"}, json=job_body("same"))
    assert a.status_code == b.status_code == 201
    assert b.json()["id"] != a.json()["id"] and b.json()["tenant"] == "beta"


def test_another_tenants_usage_and_ledger_are_403(client: TestClient, issue: Issue) -> None:
    beta = issue("beta")
    assert_problem(client.get("/v1/usage?tenant=acme", headers=beta), 403)
    assert_problem(client.get("/v1/usage/ledger?tenant=acme", headers=beta), 403)
    ledger = client.get("/v1/usage/ledger", headers=beta).json()
    assert all(line["tenant"] == "beta" for line in ledger["items"])


def admin_operations(client: TestClient) -> list[tuple[str, str]]:
    spec = client.get("/openapi.json").json()
    out = []
    for path, ops in spec["paths"].items():
        if path.startswith("/v1/admin"):
            for method in ops:
                out.append((method.upper(), re.sub(r"\{[^}]+\}", "acme", path)))
    return sorted(out)


def test_every_admin_route_is_403_for_a_tenant(client: TestClient, issue: Issue, admin: Headers) -> None:
    beta = issue("beta")
    ops = admin_operations(client)
    assert len(ops) >= 15, ops
    before = client.get("/v1/admin/tenants", headers=admin).json()
    for method, path in ops:
        body = {} if method in ("POST", "PUT", "PATCH") else None
        r = client.request(method, path, headers=beta, json=body)
        assert_problem(r, 403)
    after = client.get("/v1/admin/tenants", headers=admin).json()
    assert after == before
    tokens = client.get("/v1/admin/tokens", headers=admin).json()["items"]
    assert all(t["revoked_at"] is None for t in tokens)


def test_admin_routes_without_or_with_a_bad_token_are_401(client: TestClient) -> None:
    for method, path in admin_operations(client):
        assert_problem(client.request(method, path), 401)
        assert_problem(client.request(method, path, headers={"Authorization": "Bearer aicc_x_y"}), 401)
