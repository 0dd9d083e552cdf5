"""The API's edges are exactly as strict as its OpenAPI description (issue 25).

A JSON value of the wrong type is refused, never coerced (``false`` is not 0, ``"2"`` is not
2); numbers have bounds (a weight of 5e-324 would make a fair share infinite); query values
are read as the description states them; every refusal is a 422 problem+json naming the
field. A 405 lists every method of the path in ``Allow``. The description states the bounds
the server enforces, those from the service's configuration included.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from scheduler.service import Service
from tests.security.conftest import Headers, assert_problem, job_body

Issue = Callable[[str], Headers]

#: (method, path, body, the field the problem must name)
WRONG_TYPES: dict[str, tuple[str, str, dict[str, Any], str]] = {
    "grace period false": ("PATCH", "/v1/admin/tenants/acme", {"grace_period_s": False}, "grace_period_s"),
    "grace period as text": ("PATCH", "/v1/admin/tenants/acme", {"grace_period_s": "30"}, "grace_period_s"),
    "weight 5e-324": ("PATCH", "/v1/admin/tenants/acme", {"weight": 5e-324}, "weight"),
    "weight true": ("PATCH", "/v1/admin/tenants/acme", {"weight": True}, "weight"),
    "quota weight 5e-324": ("PUT", "/v1/admin/tenants/acme/quota", {"weight": 5e-324}, "weight"),
    "allow_overcommit 1": ("PUT", "/v1/admin/tenants/acme/quota", {"allow_overcommit": 1}, "allow_overcommit"),
    "allow_overcommit text": ("PUT", "/v1/admin/tenants/acme/quota", {"allow_overcommit": "true"},
                              "allow_overcommit"),
    "compute true": ("PUT", "/v1/admin/tenants/acme/quota", {"limit": True}, "limit"),
    "compute with exponent": ("PUT", "/v1/admin/tenants/acme/quota", {"limit": "1e3P"}, "limit"),
    "cap as text": ("PUT", "/v1/admin/tenants/acme/quota", {"caps": {"a800": "8"}}, "caps"),
    "new tenant weight 5e-324": ("POST", "/v1/admin/tenants", {"name": "tiny", "weight": 5e-324}, "weight"),
    "new tenant overcommit 0": ("POST", "/v1/admin/tenants", {"name": "zero", "allow_overcommit": 0},
                                "allow_overcommit"),
    "whatif lending limit list": ("POST", "/v1/admin/whatif",
                                  {"changes": [{"tenant": "acme", "lending_limit": [1]}]}, "lending_limit"),
    "whatif lending limit true": ("POST", "/v1/admin/whatif",
                                  {"changes": [{"tenant": "acme", "lending_limit": True}]}, "lending_limit"),
    "drain preempt text": ("POST", "/v1/admin/nodes/a800-r01-n01/drain", {"preempt": "yes"}, "preempt"),
    "token name number": ("POST", "/v1/admin/tenants/acme/tokens", {"name": 7}, "name"),
}

JOB_WRONG_TYPES: dict[str, tuple[dict[str, Any], str]] = {
    "workers as text": ({"workers": "2"}, "workers"),
    "workers 2.5": ({"workers": 2.5}, "workers"),
    "preemptible 0": ({"preemptible": 0}, "preemptible"),
    "max runtime true": ({"max_runtime_s": True}, "max_runtime_s"),
    "runtime beyond a year": ({"estimated_runtime_s": 1e12}, "estimated_runtime_s"),
    "max retries false": ({"max_retries": False}, "max_retries"),
    "cpus as text": ({"resources": {"accelerators": 1, "cpus": "4"}}, "cpus"),
    "memory with spaces": ({"resources": {"accelerators": 1, "memory": " 16 Gi"}}, "memory"),
}


def names(body: dict[str, Any], field: str) -> None:
    assert field in body["detail"], body
    assert any(field in e["loc"] for e in body["errors"]), body


@pytest.mark.parametrize("case", sorted(WRONG_TYPES))
def test_wrong_types_and_out_of_bound_numbers_are_refused_naming_the_field(
        client: TestClient, admin: Headers, case: str) -> None:
    method, path, body, field = WRONG_TYPES[case]
    before = client.get("/v1/admin/tenants", headers=admin).json()
    names(assert_problem(client.request(method, path, headers=admin, json=body), 422), field)
    assert client.get("/v1/admin/tenants", headers=admin).json() == before


@pytest.mark.parametrize("case", sorted(JOB_WRONG_TYPES))
def test_a_job_of_wrong_types_is_refused_naming_the_field(client: TestClient, issue: Issue, case: str) -> None:
    extra, field = JOB_WRONG_TYPES[case]
    r = client.post("/v1/jobs", headers=issue("acme"), json={**job_body(), **extra})
    names(assert_problem(r, 422), field)


def test_values_of_the_right_type_are_taken_as_before(client: TestClient, admin: Headers,
                                                      issue: Issue) -> None:
    """An integer is a number (and 1.0 an integer, as JSON Schema says); compute as PFLOPS or
    with a unit; memory as bytes or with a unit."""
    r = client.patch("/v1/admin/tenants/acme", headers=admin, json={"weight": 2, "grace_period_s": 0})
    assert r.status_code == 200, r.text
    assert (r.json()["weight"], r.json()["grace_period_s"]) == (2.0, 0.0)
    r = client.put("/v1/admin/tenants/acme/quota", headers=admin,
                   json={"guaranteed": "3000T", "limit": 6.24, "lending_limit": "1000000G",
                         "caps": {"a800": 16}, "weight": 0.001, "allow_overcommit": False})
    assert r.status_code == 200, r.text
    q = r.json()["quota"]
    assert (q["guaranteed_pflops"], q["limit_pflops"], q["lending_limit_pflops"]) == (3.0, 6.24, 1.0)
    r = client.post("/v1/jobs", headers=issue("acme"),
                    json=job_body(workers=1.0, max_runtime_s=3600, resources={
                        "accelerators": 1, "accelerator_types": ["a800"], "cpus": 4, "memory": 17179869184}))
    assert r.status_code == 201, r.text
    assert r.json()["resources"]["memory"] == "16Gi"


@pytest.mark.parametrize("query", ["limit=10.0", "limit=%2B5", "limit=1_0", "limit=1001",
                                   "state=pending%20", "kind=training;batch"])
def test_list_queries_are_read_as_described(client: TestClient, issue: Issue, query: str) -> None:
    field = query.split("=")[0]
    names(assert_problem(client.get(f"/v1/jobs?{query}", headers=issue("acme")), 422), field)


def test_list_filters_take_documented_values_comma_separated_in_any_case(client: TestClient,
                                                                         issue: Issue) -> None:
    r = client.get("/v1/jobs?state=PENDING,running&state=&kind=training&limit=1000", headers=issue("acme"))
    assert r.status_code == 200, r.text


@pytest.mark.parametrize(("path", "field"), [("/v1/admin/nodes?state=READY", "state"),
                                             ("/v1/admin/audit?limit=5.0", "limit")])
def test_admin_queries_are_read_as_described(client: TestClient, admin: Headers, path: str, field: str) -> None:
    names(assert_problem(client.get(path, headers=admin), 422), field)


@pytest.mark.parametrize("force", ["1", "yes", "True", "on"])
def test_a_boolean_query_is_true_or_false(client: TestClient, admin: Headers, force: str) -> None:
    r = client.delete(f"/v1/admin/tenants/beta?force={force}", headers=admin)
    names(assert_problem(r, 422), "force")
    assert client.get("/v1/admin/tenants/beta", headers=admin).status_code == 200


@pytest.mark.parametrize("query", ["start=0001-01-01T00:00:00%2B05:30", "start=9999-12-31",
                                   "start=2026-01-31t10:00:00.123456789z&end=99999999999",
                                   "start=0"])
def test_ledger_times_the_description_admits_are_answered(client: TestClient, issue: Issue,
                                                          query: str) -> None:
    """Outside 1970 to 9999 a time is taken as those bounds; a start in the future without an
    end is an empty ledger, not an error."""
    r = client.get(f"/v1/usage/ledger?{query}", headers=issue("acme"))
    assert r.status_code == 200, r.text


@pytest.mark.parametrize(("path", "allow"), [
    ("/v1/admin/tenants", "GET, POST"),
    ("/v1/jobs", "GET, POST"),
    ("/v1/admin/tenants/acme", "DELETE, GET, PATCH"),
    ("/v1/admin/tenants/acme/quota", "GET, PUT"),
    ("/v1/jobs/some-id", "GET"),
])
@pytest.mark.parametrize("method", ["OPTIONS", "TRACE", "PUT"])
def test_405_allow_lists_every_method_of_the_path(client: TestClient, admin: Headers, path: str,
                                                  allow: str, method: str) -> None:
    if method in allow:
        return
    r = client.request(method, path, headers=admin)
    assert_problem(r, 405)
    assert r.headers["allow"] == allow


def test_the_description_states_the_bounds_the_server_enforces(client: TestClient, service: Service) -> None:
    spec = client.get("/openapi.json").json()
    schemas = spec["components"]["schemas"]
    for path in ("/v1/jobs", "/v1/admin/jobs"):
        limit = next(p for p in spec["paths"][path]["get"]["parameters"] if p["name"] == "limit")
        assert limit["schema"]["maximum"] == service.settings.max_page
    assert schemas["JobSubmit"]["properties"]["priority"]["enum"] == sorted(service.policy.priority_classes)
    caps = schemas["QuotaIn"]["properties"]["caps"]["anyOf"][0]
    assert caps["propertyNames"]["enum"] == ["a800"]
    assert caps["additionalProperties"] == {"type": "integer", "minimum": 0, "maximum": 1_000_000}
    weight = schemas["TenantUpdate"]["properties"]["weight"]["anyOf"][0]
    assert (weight["minimum"], weight["maximum"]) == (0.001, 1e6)
    assert schemas["TenantUpdate"]["minProperties"] == 1
    guaranteed = schemas["TenantCreate"]["properties"]["guaranteed"]["anyOf"]
    assert {"type": "number", "minimum": 0, "maximum": 1_000_000} in guaranteed
    assert any(o.get("type") == "string" and o.get("pattern") for o in guaranteed)
    # Rules between fields are said in words on the operation.
    assert "overcommitted" in spec["paths"]["/v1/admin/tenants"]["post"]["description"]


def test_no_bound_is_lost_on_the_way_to_the_description(client: TestClient) -> None:
    """A bound pydantic cannot translate (on a type with a validator before it) would appear as
    ``ge``/``le``: not JSON Schema, so generated clients and fuzzers would not see it."""
    leaked: list[str] = []

    def walk(node: Any, at: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("ge", "le", "gt", "lt", "max_length", "min_length") and not isinstance(value, dict):
                    leaked.append(f"{at}/{key}")
                walk(value, f"{at}/{key}")
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, f"{at}/{i}")

    walk(client.get("/openapi.json").json(), "")
    assert leaked == []
