"""Hostile input is refused cleanly: a 4xx problem+json, never a 500, a hang or a half-made job.

Oversized bodies, deep JSON, huge gangs, negative, huge and non-finite numbers,
unicode and control characters in names, and values the store could not hold
(integers beyond 64 bits) are each tried on the routes that read them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from scheduler.service import Service
from tests.security.conftest import ADMIN, Headers, assert_problem, auth, job_body

Issue = Callable[[str], Headers]
JSON = {"content-type": "application/json"}


def raw(client: TestClient, method: str, path: str, headers: Headers, text: str | bytes) -> Any:
    return client.request(method, path, headers={**headers, **JSON}, content=text)


def with_resources(**resources: Any) -> dict[str, Any]:
    body = job_body()
    body["resources"] = {**body["resources"], **resources}
    return body


BAD_JOBS: dict[str, dict[str, Any]] = {
    "negative devices": with_resources(accelerators=-1),
    "zero devices": with_resources(accelerators=0),
    "negative cpus": with_resources(cpus=-4),
    "negative memory": with_resources(memory=-1),
    "negative memory string": with_resources(memory="-1Gi"),
    "float memory": with_resources(memory=1.5),
    "list memory": with_resources(memory=[1]),
    "memory beyond 64 bits": with_resources(memory=10**30),
    "memory string beyond 64 bits": with_resources(memory="1e30Gi"),
    "devices per worker beyond a node": with_resources(accelerators=10**6),
    "gang of a billion workers": {**job_body(), "workers": 10**9},
    "zero workers": {**job_body(), "workers": 0},
    "negative max runtime": {**job_body(), "max_runtime_s": -1},
    "zero estimated runtime": {**job_body(), "estimated_runtime_s": 0},
    "NUL in the name": job_body(name="bert\x00"),
    "newline in the name": job_body(name="bert\nfinetune"),
    "escape sequence in the name": job_body(name="bert\x1b[31m"),
    "unicode name": job_body(name="训练任务"),
    "fullwidth name": job_body(name="ｂｅｒｔ"),
    "right-to-left override in the name": job_body(name="abc\u202edef"),
    "name too long": job_body(name="a" * 300),
    "empty name": job_body(name=""),
    "unicode accelerator type": with_resources(accelerator_types=["ａ800"]),
    "integer beyond 64 bits in runtime_env": job_body(runtime_env={"seed": 10**30}),
    "the tenant in the body": {**job_body(), "tenant": "beta"},
    "unknown field": {**job_body(), "gpus": 8},
    "kind not known": {**job_body(), "kind": "mining"},
}


@pytest.mark.parametrize("case", sorted(BAD_JOBS))
def test_bad_job_is_refused_with_422(client: TestClient, issue: Issue, service: Service, case: str) -> None:
    acme = issue("acme")
    r = client.post("/v1/jobs", headers=acme, json=BAD_JOBS[case])
    assert_problem(r, 422)
    assert client.get("/v1/jobs", headers=acme).json()["items"] == []
    assert not service.engine.jobs


@pytest.mark.parametrize("text", [
    '{"name":"x","resources":{"accelerators":1},"max_runtime_s":NaN}',
    '{"name":"x","resources":{"accelerators":1},"max_runtime_s":Infinity}',
    '{"name":"x","resources":{"accelerators":1},"estimated_runtime_s":-Infinity}',
    '{"name":"x","resources":{"accelerators":1,"memory":1e400}}',
    '{"name":"x","resources":{"accelerators":1e400}}',
    '{"name":"x","resources":{"accelerators":1},"workers":1e400}',
    '{"name":"x","resources":{"accelerators":1},"max_runtime_s":1e400}',
])
def test_non_finite_numbers_are_refused(client: TestClient, issue: Issue, text: str) -> None:
    assert_problem(raw(client, "POST", "/v1/jobs", issue("acme"), text), 422)


@pytest.mark.parametrize("depth", [300, 5_000])
def test_deep_json_is_refused(client: TestClient, issue: Issue, depth: int) -> None:
    deep = "[" * depth + "]" * depth
    text = '{"name":"x","resources":{"accelerators":1},"runtime_env":{"a":' + deep + "}}"
    assert_problem(raw(client, "POST", "/v1/jobs", issue("acme"), text), (400, 413, 422))
    obj = '{"a":' * depth + "1" + "}" * depth
    assert_problem(raw(client, "PUT", "/v1/admin/tenants/acme/quota",
                       auth(ADMIN),
                       '{"caps":' + obj + "}"), (400, 413, 422))


def test_malformed_json_is_refused(client: TestClient, issue: Issue) -> None:
    acme = issue("acme")
    for text in (b"\xff\xfe\x00", b"{", b'{"name": "x",}', b"null", b"[]", b'"job"'):
        assert_problem(raw(client, "POST", "/v1/jobs", acme, text), (400, 422))


def test_oversized_bodies_are_refused_with_413(client: TestClient, issue: Issue, admin: Headers) -> None:
    acme = issue("acme")
    big = job_body(entrypoint="x" * (2 << 20))
    assert_problem(client.post("/v1/jobs", headers=acme, json=big), 413)

    def chunks() -> Any:  # no Content-Length: the limit holds on the bytes read
        yield b'{"name":"x","entrypoint":"'
        for _ in range(64):
            yield b"x" * 65536
        yield b'"}'

    assert_problem(client.post("/v1/jobs", headers={**acme, **JSON}, content=chunks()), 413)
    assert_problem(client.post("/v1/admin/whatif", headers=admin,
                               json={"changes": [{"tenant": "acme"}] * 100_000}), (413, 422))
    assert client.get("/v1/jobs", headers=acme).json()["items"] == []


def test_largest_gang_allowed_is_held_with_a_reason_and_the_service_keeps_up(
        client: TestClient, issue: Issue) -> None:
    """The largest gang the API takes (4096 workers x 64 devices) can never fit this 32-device
    center: it waits with a reason a tenant can read, and does not slow the scheduler down."""
    acme = issue("acme")
    r = client.post("/v1/jobs", headers=acme, json={**job_body("huge"), "workers": 4096,
                                                    "resources": {"accelerators": 64}})
    if r.status_code != 201:  # refusing it outright is as good
        assert_problem(r, 422)
        return
    huge = r.json()["id"]
    small = client.post("/v1/jobs", headers=acme, json=job_body("small")).json()["id"]
    deadline = time.monotonic() + 10
    while client.get(f"/v1/jobs/{small}", headers=acme).json()["state"] != "running":
        assert time.monotonic() < deadline, "a small job waited behind an impossible gang"
        time.sleep(0.05)
    body = client.get(f"/v1/jobs/{huge}", headers=acme).json()
    assert body["state"] == "pending" and body["reason"] not in ("", "Queued"), body


BAD_QUOTAS: dict[str, dict[str, Any]] = {
    "negative guarantee": {"guaranteed": -1},
    "negative limit string": {"limit": "-5P"},
    "guarantee beyond 64 bits": {"guaranteed": 1e308},
    "limit string beyond 64 bits": {"limit": "1e30P"},
    "cap beyond 64 bits": {"caps": {"a800": 10**30}},
    "negative cap": {"caps": {"a800": -1}},
    "unicode cap name": {"caps": {"а800": 1}},  # a Cyrillic a
    "zero weight": {"weight": 0},
    "huge weight": {"weight": 1e300},
    "boolean guarantee": {"guaranteed": True},
    "unknown unit": {"guaranteed": "5Q"},
}


@pytest.mark.parametrize("case", sorted(BAD_QUOTAS))
def test_bad_quota_is_refused_with_422(client: TestClient, admin: Headers, case: str) -> None:
    before = client.get("/v1/admin/tenants/acme", headers=admin).json()
    assert_problem(client.put("/v1/admin/tenants/acme/quota", headers=admin, json=BAD_QUOTAS[case]), 422)
    assert client.get("/v1/admin/tenants/acme", headers=admin).json() == before


@pytest.mark.parametrize("text", ['{"guaranteed": NaN}', '{"limit": Infinity}', '{"weight": NaN}',
                                  '{"guaranteed": "nanP"}', '{"guaranteed": "infP"}'])
def test_non_finite_quota_is_refused(client: TestClient, admin: Headers, text: str) -> None:
    assert_problem(raw(client, "PUT", "/v1/admin/tenants/acme/quota", admin, text), 422)


@pytest.mark.parametrize("name", ["Acme", "ténant", "a_b", "-a", "a" * 64, "a\x00", "a b", "租户", ""])
def test_bad_tenant_names_are_refused(client: TestClient, admin: Headers, name: str) -> None:
    assert_problem(client.post("/v1/admin/tenants", headers=admin, json={"name": name}), 422)


@pytest.mark.parametrize("name", ["laptop\x00", "ci\nAdmin-Token: x", "bell\x07", "del\x7f",
                                  "zero\u200bwidth", "rtl\u202e", "x" * 200])
def test_bad_token_names_are_refused(client: TestClient, admin: Headers, name: str) -> None:
    r = client.post("/v1/admin/tenants/acme/tokens", headers=admin, json={"name": name})
    assert_problem(r, 422)


@pytest.mark.parametrize("query", ["start=nan", "start=inf", "end=-inf", "start=1e400",
                                   "start=-1e308&end=1e308", "start=99999999999999",
                                   "start=2026-13-45", "end=yesterday"])
def test_bad_ledger_times_are_refused(client: TestClient, issue: Issue, query: str) -> None:
    assert_problem(client.get(f"/v1/usage/ledger?{query}", headers=issue("acme")), 422)


@pytest.mark.parametrize("query", ["limit=0", "limit=-1", "limit=1e3", "limit=99999999999999999999",
                                   "state=exploded", "kind=%00", "continue=%00%ff", "continue=" + "a" * 600])
def test_bad_list_queries_are_refused(client: TestClient, issue: Issue, query: str) -> None:
    assert_problem(client.get(f"/v1/jobs?{query}", headers=issue("acme")), (400, 422))


def test_odd_job_ids_are_a_clean_404(client: TestClient, issue: Issue) -> None:
    acme = issue("acme")
    for job_id in ("%00", "..%2F..%2Fetc%2Fpasswd", "x" * 5000, "j1'%20OR%201=1--", "%E2%80%AE"):
        assert_problem(client.get(f"/v1/jobs/{job_id}", headers=acme), (404, 422))
        assert_problem(client.post(f"/v1/jobs/{job_id}/cancel", headers=acme), (404, 422))


@pytest.mark.parametrize("header", ["Bearer", "Bearer ", "Basic YWRtaW46YWRtaW4=", "bearer\x00x",
                                    "Bearer " + "a" * 10_000, "Bearer aicc_\xe9_x", "Token x"])
def test_malformed_authorization_is_a_401(client: TestClient, header: str) -> None:
    r = client.get("/v1/jobs", headers={"Authorization": header.encode("latin-1")})  # type: ignore[dict-item]
    assert_problem(r, 401)


def test_no_accepted_job_stops_the_scheduler(client: TestClient, issue: Issue, service: Service) -> None:
    """Whatever a tenant managed to submit, the scheduling loop keeps working for everyone."""
    acme, beta = issue("acme"), issue("beta")
    for resources in ({"accelerators": 0}, {"accelerators": 0, "cpus": 4096},
                      {"accelerators": 64}, {"accelerators": 1, "memory": "1Ei"},
                      {"accelerators": 1, "accelerator_types": ["h100"]}):
        client.post("/v1/jobs", headers=acme, json={**job_body("odd"), "resources": resources})
    ok = client.post("/v1/jobs", headers=beta, json=job_body("normal")).json()["id"]
    deadline = time.monotonic() + 10
    while client.get(f"/v1/jobs/{ok}", headers=beta).json()["state"] != "running":
        assert time.monotonic() < deadline, "the scheduler stopped placing jobs"
        time.sleep(0.05)
    assert service.loop_errors == 0
