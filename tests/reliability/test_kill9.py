"""kill -9 the service while 1,000 jobs are submitted and scheduled, restart it, three times.

Eight client threads submit 1,000 jobs (each with its own Idempotency-Key, retried
as a real client would while the server is down) and record every acknowledged
job id. The server (a real ``aicc serve`` subprocess, sleep executor) is killed
with SIGKILL after 250, 500 and 750 acknowledgements and started again each time.
Then: every acknowledged job exists exactly once, under the id it was
acknowledged with; the store's job history shows no job started twice without a
requeue in between, or after it finished; no device is held by two jobs; and the
usage the API reports equals the sum over the jobs holding devices. On SQLite and
on PostgreSQL.
"""

from __future__ import annotations

import itertools
import random
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.reliability.harness import (
    ServeProcess,
    all_jobs,
    auth,
    check_no_device_twice,
    check_no_job_ran_twice,
    check_usage_matches_jobs,
    issue_token,
    write_center,
)
from tests.reliability.pg import postgres_23k  # noqa: F401

ADMIN = "reliability-admin-token-3f9c1e0b7a2d4c6e8f10"
TENANTS = {"t1": 16, "t2": 16, "t3": 12, "t4": 12}  # guaranteed devices (64 in the center)
JOBS = 1000
KILL_AT = (250, 500, 750)
THREADS = 8
#: Every 25th job runs for long (1 device, 40 in all): they hold devices across the restarts.
LONG_EVERY = 25

_dbs = itertools.count()


def body(n: int) -> dict[str, Any]:
    rng = random.Random(n)
    long = n % LONG_EVERY == 0
    return {"name": f"crash-{n}", "kind": "batch", "workers": 1,
            "resources": {"accelerators": 1 if long else rng.choice((1, 2, 4)),
                          "accelerator_types": ["a800"], "cpus": 1, "memory": "1Gi"},
            "preemptible": True, "entrypoint": "sleep",
            "runtime_env": {"sleep_s": 600 if long else round(rng.uniform(0.01, 0.2), 3)}}


class Submitters:
    """Client threads: each job is retried with its key until the server acknowledges it."""

    def __init__(self, base: str, tokens: dict[str, str]) -> None:
        self.base = base
        self.tokens = tokens
        self.next = itertools.count()
        self.acked: dict[int, str] = {}
        self.replays = 0  # acknowledged as 200: an earlier attempt had been recorded
        self.retries = 0
        self.errors: list[str] = []
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.run, daemon=True) for _ in range(THREADS)]

    def start(self) -> None:
        for t in self.threads:
            t.start()

    def join(self, timeout: float) -> None:
        for t in self.threads:
            t.join(timeout)
        assert not any(t.is_alive() for t in self.threads), "submitters did not finish"

    def run(self) -> None:
        names = sorted(self.tokens)
        with httpx.Client(base_url=self.base, timeout=10) as c:
            while True:
                n = next(self.next)
                if n >= JOBS:
                    return
                tenant = names[n % len(names)]
                headers = {**auth(self.tokens[tenant]), "Idempotency-Key": f"crash-{n}"}
                deadline = time.monotonic() + 120
                while True:
                    try:
                        r = c.post("/v1/jobs", json=body(n), headers=headers)
                    except httpx.TransportError:
                        r = None
                    if r is not None and r.status_code in (200, 201):
                        with self.lock:
                            self.acked[n] = r.json()["id"]
                            self.replays += r.status_code == 200
                        break
                    if r is not None and r.status_code not in (502, 503):
                        with self.lock:
                            self.errors.append(f"{n}: {r.status_code} {r.text[:200]}")
                        break
                    if time.monotonic() > deadline:
                        with self.lock:
                            self.errors.append(f"{n}: gave up")
                        break
                    with self.lock:
                        self.retries += 1
                    time.sleep(0.05)

    def count(self) -> int:
        with self.lock:
            return len(self.acked)


def crash_and_check(tmp_path: Path, db_url: str | None, report: Callable[[str], None]) -> None:
    center = write_center(tmp_path / "center.yaml", TENANTS)
    server = ServeProcess(tmp_path, center, db_url, ADMIN)
    server.start()
    try:
        tokens = {t: issue_token(server.url, ADMIN, t) for t in TENANTS}
        subs = Submitters(server.url, tokens)
        subs.start()
        for mark in KILL_AT:
            deadline = time.monotonic() + 120
            while subs.count() < mark and time.monotonic() < deadline:
                time.sleep(0.01)
            assert subs.count() >= mark, f"only {subs.count()} acknowledged"
            server.kill9()
            server.start()
        subs.join(180)
        assert not subs.errors, subs.errors[:5]
        assert len(subs.acked) == JOBS

        # Let the short jobs drain; the long ones keep their devices (stable usage).
        deadline = time.monotonic() + 90
        while True:
            jobs = all_jobs(server.url, ADMIN)
            short_live = [j for j in jobs if int(j["name"].split("-")[1]) % LONG_EVERY
                          and j["state"] in ("pending", "admitted", "running", "preempted")]
            if not short_live or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert not short_live, f"{len(short_live)} short jobs never finished: {short_live[:3]}"

        # Every acknowledged job exists exactly once, under the id it was acknowledged with.
        by_name: dict[str, list[str]] = {}
        for j in jobs:
            by_name.setdefault(j["name"], []).append(j["id"])
        assert len(jobs) == JOBS, f"{len(jobs)} jobs stored for {JOBS} submitted"
        for n, job_id in subs.acked.items():
            assert by_name.get(f"crash-{n}") == [job_id], (n, job_id, by_name.get(f"crash-{n}"))

        # The long jobs run again after each crash; none finished early, none twice.
        states = {j["id"]: j for j in jobs}
        counts = check_no_job_ran_twice(db_url or f"sqlite:///{tmp_path / 'aicc.db'}", states)
        check_no_device_twice(jobs)
        check_usage_matches_jobs(server.url, ADMIN)
        assert any(j["state"] == "running" for j in jobs)
        assert sum(j["state"] == "succeeded" for j in jobs) == JOBS - JOBS // LONG_EVERY
        report(f"{server.starts} starts, {subs.retries} client retries, {subs.replays} replays, "
               f"{counts['runs']} runs, {counts['requeues']} requeues")
    finally:
        server.kill9()


def test_kill9_three_times_under_1000_submissions_sqlite(tmp_path: Path, capsys: Any) -> None:
    crash_and_check(tmp_path, None, print)


def test_kill9_three_times_under_1000_submissions_postgresql(
        tmp_path: Path, postgres_23k: Any) -> None:  # noqa: F811
    url = postgres_23k.create_database(f"crash_{next(_dbs)}")
    crash_and_check(tmp_path, url, print)


@pytest.fixture(autouse=True)
def _timing(request: pytest.FixtureRequest) -> Any:
    began = time.monotonic()
    yield
    print(f"{request.node.name}: {time.monotonic() - began:.1f} s")
