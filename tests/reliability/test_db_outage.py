"""PostgreSQL stops under a running ``aicc serve`` and comes back.

While it is down the API answers 503 with problem+json (never a 500, never a
hang); nothing acknowledged before is lost; jobs that finish meanwhile are
recorded once it is back; and the service recovers by itself: submissions are
accepted again, retried ones (same Idempotency-Key) make one job each, and the
usage equals the jobs holding devices.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.reliability.harness import (
    ServeProcess,
    all_jobs,
    auth,
    check_no_job_ran_twice,
    check_usage_matches_jobs,
    issue_token,
    write_center,
)
from tests.reliability.pg import RestartablePostgres, start_postgres

ADMIN = "outage-admin-token-5d1f0c8e2b7a4f6e9c30"
PROBLEM = "application/problem+json"


@pytest.fixture
def postgres() -> Iterator[RestartablePostgres]:
    """A PostgreSQL of its own: this test stops it."""
    server = start_postgres()
    try:
        yield server
    finally:
        server.stop()


def job(name: str, sleep_s: float, devices: int = 1) -> dict[str, Any]:
    return {"name": name, "kind": "batch",
            "resources": {"accelerators": devices, "accelerator_types": ["a800"]},
            "runtime_env": {"sleep_s": sleep_s}}


def is_problem(r: httpx.Response, status: int) -> bool:
    return (r.status_code == status and r.headers.get("content-type") == PROBLEM
            and r.json().get("status") == status)


def test_database_outage_503_then_recovers_by_itself(tmp_path: Path, postgres: RestartablePostgres) -> None:
    url = postgres.create_database("outage")
    center = write_center(tmp_path / "center.yaml", {"t1": 16, "t2": 16})
    server = ServeProcess(tmp_path, center, url, ADMIN)
    server.start()
    try:
        t1 = auth(issue_token(server.url, ADMIN, "t1"))
        c = httpx.Client(base_url=server.url, timeout=20)
        acked: dict[str, str] = {}
        for i in range(8):  # four finish while the database is down, four hold devices
            r = c.post("/v1/jobs", headers=t1, json=job(f"before-{i}", 2.0 if i < 4 else 600))
            assert r.status_code == 201, r.text
            acked[r.json()["name"]] = r.json()["id"]
        deadline = time.monotonic() + 20
        while any(j["state"] != "running" for j in all_jobs(server.url, ADMIN)):
            assert time.monotonic() < deadline, all_jobs(server.url, ADMIN)
            time.sleep(0.05)

        postgres.pause()
        down_at = time.monotonic()
        # Writes and store reads answer 503 problem+json, promptly.
        began = time.monotonic()
        r = c.post("/v1/jobs", headers={**t1, "Idempotency-Key": "during-1"}, json=job("during-1", 1))
        assert is_problem(r, 503), (r.status_code, r.text)
        assert time.monotonic() - began < 10, "a submission hung while the database was down"
        r = c.get("/v1/jobs", headers=t1)
        assert is_problem(r, 503), (r.status_code, r.text)
        r = c.get("/v1/admin/audit", headers=auth(ADMIN))
        assert is_problem(r, 503), (r.status_code, r.text)
        r = c.post("/v1/jobs", headers={**t1, "Idempotency-Key": "during-2"}, json=job("during-2", 1))
        assert is_problem(r, 503), (r.status_code, r.text)
        for i in range(5):  # no key: the insert itself fails
            began = time.monotonic()
            r = c.post("/v1/jobs", headers=t1, json=job(f"lost-{i}", 1))
            assert is_problem(r, 503), (r.status_code, r.text)
            assert time.monotonic() - began < 10, "a submission hung while the database was down"
        r = c.post(f"/v1/jobs/{acked['before-7']}/cancel", headers=t1)
        assert is_problem(r, 503), (r.status_code, r.text)
        # The process stays up and its health probe answers.
        assert c.get("/healthz").status_code == 200
        time.sleep(max(0.0, 4.0 - (time.monotonic() - down_at)))  # the short jobs finish meanwhile
        postgres.resume()

        # It recovers by itself: the same retried submissions are accepted, once each.
        deadline = time.monotonic() + 30
        while True:
            r = c.post("/v1/jobs", headers={**t1, "Idempotency-Key": "during-1"}, json=job("during-1", 1))
            if r.status_code in (200, 201) or time.monotonic() > deadline:
                break
            assert is_problem(r, 503), (r.status_code, r.text)
            time.sleep(0.2)
        assert r.status_code == 201, r.text
        first = r.json()["id"]
        r = c.post("/v1/jobs", headers={**t1, "Idempotency-Key": "during-1"}, json=job("during-1", 1))
        assert r.status_code == 200 and r.json()["id"] == first, r.text
        r = c.post("/v1/jobs", headers={**t1, "Idempotency-Key": "during-2"}, json=job("during-2", 1))
        assert r.status_code == 201, r.text

        # Nothing acknowledged is lost; what finished while the store was down is recorded.
        deadline = time.monotonic() + 30
        while True:
            jobs = {j["name"]: j for j in all_jobs(server.url, ADMIN)}
            done = [n for n in ("before-0", "before-1", "before-2", "before-3", "during-1", "during-2")
                    if jobs.get(n, {}).get("state") == "succeeded"]
            if len(done) == 6 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert len(done) == 6, {n: j["state"] for n, j in jobs.items()}
        for name, job_id in acked.items():
            assert jobs[name]["id"] == job_id
        # The refused submissions left nothing behind; the refused cancel changed nothing.
        assert sorted(jobs) == sorted([*acked, "during-1", "during-2"])
        assert [jobs[f"before-{i}"]["state"] for i in range(4, 8)] == ["running"] * 4
        check_usage_matches_jobs(server.url, ADMIN)
        usage = c.get("/v1/usage", headers=t1).json()
        assert usage["devices"] == {"a800": 4} and usage["running_jobs"] == 4, usage
        check_no_job_ran_twice(url, {j["id"]: j for j in jobs.values()})
        assert "Traceback" not in server.log() or "scheduling step failed" in server.log()
    finally:
        server.kill9()
