"""Tenant routes: submit, list, get, cancel, logs, usage, ledger; tokens and isolation."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime

import pytest
from fastapi.testclient import TestClient

from scheduler.service import Service
from tests.api.conftest import auth, job_body

Issue = Callable[[str], dict[str, str]]


def wait_for(client: TestClient, headers: dict[str, str], job_id: str, state: str,
             timeout: float = 10.0) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while True:
        body = client.get(f"/v1/jobs/{job_id}", headers=headers).json()
        if body["state"] == state or time.monotonic() > deadline:
            assert body["state"] == state, body
            return body  # type: ignore[no-any-return]
        time.sleep(0.05)


def test_submit_answers_201_with_the_job_and_it_gets_placed(client: TestClient, tenant_token: Issue) -> None:
    acme = tenant_token("acme")
    r = client.post("/v1/jobs", headers=acme, json=job_body(workers=2))
    assert r.status_code == 201, r.text
    job = r.json()
    assert job["name"] == "bert-finetune" and job["tenant"] == "acme"
    assert job["state"] in ("pending", "admitted", "running")
    assert r.headers["location"] == f"/v1/jobs/{job['id']}"
    assert job["resources"]["memory"] == "128Gi" and job["devices"] == 16
    running = wait_for(client, acme, job["id"], "running")
    placement = running["placement"]
    assert isinstance(placement, dict) and placement["accelerator"] == "a800"
    assert sum(len(w["devices"]) for w in placement["workers"]) == 16
    assert running["submitted_at"].endswith("Z") and running["started_at"] is not None
    assert (running["max_retries"], running["node_losses"]) == (None, 0)  # lost with a node: always requeued
    limited = client.post("/v1/jobs", headers=acme, json=job_body("limited", max_retries=2)).json()
    assert (limited["max_retries"], limited["node_losses"]) == (2, 0)


def test_the_tenant_comes_from_the_token_never_the_body(client: TestClient, tenant_token: Issue) -> None:
    acme = tenant_token("acme")
    r = client.post("/v1/jobs", headers=acme, json={**job_body(), "tenant": "beta"})
    assert r.status_code == 422
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["type"].endswith("/validation")


def test_a_pending_job_says_why_and_where_it_waits(client: TestClient, tenant_token: Issue) -> None:
    acme = tenant_token("acme")
    # acme's limit is 20 devices: two jobs of 16 cannot both run.
    first = client.post("/v1/jobs", headers=acme, json=job_body("a", workers=2)).json()
    second = client.post("/v1/jobs", headers=acme, json=job_body("b", workers=2)).json()
    wait_for(client, acme, first["id"], "running")
    deadline = time.monotonic() + 5
    while True:
        body = client.get(f"/v1/jobs/{second['id']}", headers=acme).json()
        if body["queue_position"] is not None or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert body["state"] == "pending"
    assert body["reason"] == "QuotaExhausted"
    assert body["queue_position"] == 1
    # it starts when the first ends, by the first's estimate (1,800 s); a running job has no ETA
    assert body["expected_start_how"] == "projection"
    running = client.get(f"/v1/jobs/{first['id']}", headers=acme).json()
    expected = datetime.fromisoformat(body["expected_start_at"]) - datetime.fromisoformat(running["admitted_at"])
    assert abs(expected.total_seconds() - 1800) < 5
    assert running["expected_start_at"] is None and running["expected_start_how"] is None
    listed = {j["id"]: j for j in client.get("/v1/jobs", headers=acme).json()["items"]}
    assert listed[second["id"]]["expected_start_at"] == body["expected_start_at"]


def test_another_tenants_job_is_a_404(client: TestClient, tenant_token: Issue) -> None:
    acme, beta = tenant_token("acme"), tenant_token("beta")
    job = client.post("/v1/jobs", headers=acme, json=job_body()).json()
    for method, path in (("GET", f"/v1/jobs/{job['id']}"), ("POST", f"/v1/jobs/{job['id']}/cancel"),
                         ("GET", f"/v1/jobs/{job['id']}/logs"), ("GET", f"/v1/jobs/{job['id']}/events")):
        r = client.request(method, path, headers=beta)
        assert r.status_code == 404, (path, r.text)
        assert r.json()["type"].endswith("/job-not-found")
    assert client.get("/v1/jobs", headers=beta).json()["items"] == []


def test_idempotency_key_same_body_same_job_other_body_422(client: TestClient, tenant_token: Issue) -> None:
    acme = tenant_token("acme")
    h = {**acme, "Idempotency-Key": "submit-42"}
    a = client.post("/v1/jobs", headers=h, json=job_body("x"))
    b = client.post("/v1/jobs", headers=h, json=job_body("x"))
    assert a.status_code == 201 and b.status_code in (200, 201)
    assert a.json()["id"] == b.json()["id"]
    c = client.post("/v1/jobs", headers=h, json=job_body("y"))
    assert c.status_code == 422 and c.json()["type"].endswith("/idempotency-key-reused")
    assert len(client.get("/v1/jobs", headers=acme).json()["items"]) == 1


def test_list_pages_with_an_opaque_continue_token_and_filters(client: TestClient, tenant_token: Issue) -> None:
    acme = tenant_token("acme")
    ids = [client.post("/v1/jobs", headers=acme, json=job_body(f"j{i}", devices=1)).json()["id"]
           for i in range(7)]
    seen: list[str] = []
    token = None
    while True:
        params: dict[str, str | int] = {"limit": 3}
        if token:
            params["continue"] = token
        page = client.get("/v1/jobs", headers=acme, params=params).json()
        seen += [j["id"] for j in page["items"]]
        token = page["continue"]
        if token is None:
            break
    assert seen == ids
    assert client.get("/v1/jobs", headers=acme, params={"limit": 100}).status_code == 200
    assert client.get("/v1/jobs", headers=acme, params={"state": "succeeded"}).json()["items"] == []
    assert client.get("/v1/jobs", headers=acme, params={"kind": "inference"}).json()["items"] == []
    assert len(client.get("/v1/jobs", headers=acme, params={"kind": "finetune"}).json()["items"]) == 7
    bad = client.get("/v1/jobs", headers=acme, params={"state": "sleeping"})
    assert bad.status_code == 422
    forged = client.get("/v1/jobs", headers=acme, params={"continue": "not-a-token"})
    assert forged.status_code == 400 and forged.json()["type"].endswith("/invalid-continue")


def test_cancel_and_logs(client: TestClient, tenant_token: Issue) -> None:
    acme = tenant_token("acme")
    job = client.post("/v1/jobs", headers=acme, json=job_body()).json()
    wait_for(client, acme, job["id"], "running")
    logs = client.get(f"/v1/jobs/{job['id']}/logs", headers=acme).json()
    assert "sleep executor" in logs["text"]
    r = client.post(f"/v1/jobs/{job['id']}/cancel", headers=acme)
    assert r.status_code == 200 and r.json()["state"] == "cancelled"
    events = client.get(f"/v1/jobs/{job['id']}/events", headers=acme).json()["items"]
    assert [e["state"] for e in events] == ["pending", "admitted", "running", "cancelled"]
    assert events[1]["placement"]["accelerator"] == "a800"
    assert client.post(f"/v1/jobs/{job['id']}/cancel", headers=acme).json()["state"] == "cancelled"


def test_usage_shows_quota_in_use_and_borrowed(client: TestClient, tenant_token: Issue) -> None:
    beta = tenant_token("beta")
    job = client.post("/v1/jobs", headers=beta, json=job_body(workers=2)).json()  # 16 > 10 guaranteed
    wait_for(client, beta, job["id"], "running")
    u = client.get("/v1/usage", headers=beta).json()
    assert u["tenant"] == "beta" and u["guaranteed"] == "3.12P" and u["guaranteed_pflops"] == 3.12
    assert u["devices"] == {"a800": 16}
    assert u["in_use_pflops"] == 4.992
    assert u["borrowed_pflops"] == 4.992  # the job runs beyond the guarantee: it borrows
    assert client.get("/v1/usage", headers=beta, params={"tenant": "acme"}).status_code == 403


def test_ledger_bills_device_and_pflops_hours_by_type_and_kind(client: TestClient, tenant_token: Issue,
                                                              admin: dict[str, str]) -> None:
    acme = tenant_token("acme")
    job = client.post("/v1/jobs", headers=acme, json=job_body(sleep_s=0.5)).json()
    done = wait_for(client, acme, job["id"], "succeeded")
    ledger = client.get("/v1/usage/ledger", headers=acme).json()
    [line] = ledger["items"]
    assert (line["tenant"], line["accelerator"], line["kind"], line["jobs"]) == ("acme", "a800", "finetune", 1)
    assert 0.3 < line["device_hours"] * 3600 / 8 < 2.0  # 8 devices for about half a second
    assert abs(line["pflops_hours"] - line["device_hours"] * 0.312) < 1e-6
    ended = datetime.fromisoformat(str(done["finished_at"]).replace("Z", "+00:00")).timestamp()
    later = client.get("/v1/usage/ledger", headers=acme, params={"start": ended + 0.01}).json()
    assert later["items"] == []
    everyone = client.get("/v1/usage/ledger", headers=admin).json()
    assert everyone["total_device_hours"] == ledger["total_device_hours"]
    assert client.get("/v1/usage/ledger", headers=acme, params={"tenant": "beta"}).status_code == 403
    assert client.get("/v1/usage/ledger", headers=acme, params={"start": "yesterday"}).status_code == 422


def test_no_token_401_bad_token_401_revoked_401(client: TestClient, admin: dict[str, str]) -> None:
    r = client.get("/v1/jobs")
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    assert r.json()["type"].endswith("/unauthorized")
    assert client.get("/v1/jobs", headers=auth("aicc_nope_nope")).status_code == 401
    issued = client.post("/v1/admin/tenants/acme/tokens", headers=admin).json()
    assert client.get("/v1/jobs", headers=auth(issued["token"])).status_code == 200
    listed = client.get("/v1/admin/tenants/acme/tokens", headers=admin).json()["items"]
    assert [t["id"] for t in listed] == [issued["id"]] and "token" not in listed[0]
    assert client.delete(f"/v1/admin/tenants/acme/tokens/{issued['id']}", headers=admin).status_code == 200
    assert client.get("/v1/jobs", headers=auth(issued["token"])).status_code == 401


def test_admin_token_cannot_submit(client: TestClient, admin: dict[str, str]) -> None:
    r = client.post("/v1/jobs", headers=admin, json=job_body())
    assert r.status_code == 403 and r.json()["type"].endswith("/tenant-token-required")


def test_bounds_and_problem_json(client: TestClient, tenant_token: Issue) -> None:
    acme = tenant_token("acme")
    big = job_body(runtime_env={"blob": "x" * (2 << 20)})
    r = client.post("/v1/jobs", headers=acme, json=big)
    assert r.status_code == 413 and r.json()["type"].endswith("/payload-too-large")
    assert client.post("/v1/jobs", headers=acme, json=job_body(workers=100_000)).status_code == 422
    assert client.post("/v1/jobs", headers=acme, json=job_body(name="x" * 300)).status_code == 422
    assert client.post("/v1/jobs", headers=acme, json=job_body(max_retries=-1)).status_code == 422
    unknown = client.post("/v1/jobs", headers=acme, json=job_body(priority="urgent"))
    assert unknown.status_code == 422 and unknown.json()["type"].endswith("/unknown-priority")
    broken = client.post("/v1/jobs", headers={**acme, "content-type": "application/json"}, content=b"{nope")
    assert broken.status_code == 422
    assert "Traceback" not in broken.text
    missing = client.get("/v1/nothing-here", headers=acme)
    assert missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json"


def test_openapi_and_health(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert "/v1/jobs" in spec["paths"] and "/v1/admin/whatif" in spec["paths"]
    assert "JobSubmit" in spec["components"]["schemas"]
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {"status": "ok"}


def test_readyz_fails_when_the_database_does_not_answer(client: TestClient, service: Service,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    def down() -> None:
        raise ConnectionError("gone")

    monkeypatch.setattr(service.store, "ping", down)
    r = client.get("/readyz")
    assert r.status_code == 503
    assert r.json() == {"status": "unavailable", "detail": "the database does not answer: ConnectionError"}
    assert client.get("/healthz").status_code == 200  # the process itself still answers


def test_a_failure_answers_500_problem_json_without_a_trace(client: TestClient, tenant_token: Issue,
                                                           service: Service,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    acme = tenant_token("acme")

    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("secret internals /etc/passwd")

    monkeypatch.setattr(service, "usage", boom)
    r = client.get("/v1/usage", headers=acme)
    assert r.status_code == 500 and r.headers["content-type"] == "application/problem+json"
    assert r.json()["type"].endswith("/internal")
    assert "secret" not in r.text and "Traceback" not in r.text


def test_a_job_of_an_accelerator_type_the_center_lacks_is_refused_at_submission(
        client: TestClient, tenant_token: Issue) -> None:
    acme = tenant_token("acme")
    body = job_body("typo")
    body["resources"]["accelerator_types"] = ["a800", "quantum-9000"]
    r = client.post("/v1/jobs", headers=acme, json=body)
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    problem = r.json()
    assert problem["type"].endswith("/unknown-accelerator")
    assert "'quantum-9000'" in problem["detail"] and "a800" in problem["detail"]
    assert "'a800'" not in problem["detail"]  # only the unknown type is named as unknown
    assert client.get("/v1/jobs", headers=acme).json()["items"] == []  # nothing was queued
    # A known type that no node could ever hold is accepted and says why it waits.
    huge = client.post("/v1/jobs", headers=acme, json=job_body("huge", devices=16)).json()
    deadline = time.monotonic() + 5
    while client.get(f"/v1/jobs/{huge['id']}", headers=acme).json()["reason"] != "Unsatisfiable":
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_a_running_job_reports_checkpoints_with_its_own_credential(client: TestClient, service: Service,
                                                                   tenant_token: Issue) -> None:
    acme, beta = tenant_token("acme"), tenant_token("beta")
    job = client.post("/v1/jobs", headers=acme, json=job_body("ckpt", sleep_s=60)).json()
    wait_for(client, acme, job["id"], "running")
    env = service.job_env(service.engine.jobs[job["id"]])
    assert env["AICC_JOB_TOKEN"].startswith("aiccjob.") and env["AICC_URL"].startswith("http://")
    r = client.post(f"/v1/jobs/{job['id']}/checkpoint", headers=auth(env["AICC_JOB_TOKEN"]))
    assert r.status_code == 200, r.text
    assert r.json()["job"] == job["id"] and r.json()["checkpointed_at"].endswith("Z")
    assert service.engine.holding[job["id"]].checkpointed_at is not None
    notice = client.get(f"/v1/jobs/{job['id']}/checkpoint", headers=auth(env["AICC_JOB_TOKEN"])).json()
    assert notice["stop_requested"] is False and notice["stop_at"] is None  # not being preempted
    assert notice["checkpointed_at"] == r.json()["checkpointed_at"]
    assert client.post(f"/v1/jobs/{job['id']}/checkpoint", headers=acme).status_code == 200  # its tenant may
    assert client.post(f"/v1/jobs/{job['id']}/checkpoint", headers=beta).status_code == 404  # others may not
    forged = env["AICC_JOB_TOKEN"][:-4] + "0000"
    assert client.post(f"/v1/jobs/{job['id']}/checkpoint", headers=auth(forged)).status_code == 401
    other = client.post("/v1/jobs", headers=acme, json=job_body("other", sleep_s=60)).json()
    r = client.post(f"/v1/jobs/{other['id']}/checkpoint", headers=auth(env["AICC_JOB_TOKEN"]))
    assert r.status_code == 401  # a credential is for its own job only
    client.post(f"/v1/jobs/{job['id']}/cancel", headers=acme)
    wait_for(client, acme, job["id"], "cancelled")
    r = client.post(f"/v1/jobs/{job['id']}/checkpoint", headers=auth(env["AICC_JOB_TOKEN"]))
    assert r.status_code == 401  # short-lived: its attempt is over
    assert client.post(f"/v1/jobs/{job['id']}/checkpoint", headers=acme).status_code == 409
