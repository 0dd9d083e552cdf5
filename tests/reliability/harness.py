"""``aicc serve`` as a real subprocess that a test can kill -9 and start again.

The server runs with the sleep executor on a center file the test writes, on a
loopback port of 23000-23899; its stdout and stderr go to a log file the test
can read (the security tests grep it for secrets).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import yaml
from sqlalchemy import select

from scheduler.domain import JobState, check_transition
from scheduler.store import make_engine
from scheduler.store.models import JobEventRow, JobRunRow
from tests.pg_testing import free_port

SERVER_PORTS = (23000, 23899)
SERVE = "from scheduler.cli import main; main()"


def write_center(path: Path, tenants: Mapping[str, int], nodes: int = 8) -> Path:
    """A center of ``nodes`` x 8 a800 devices; tenants guaranteed ``devices`` each, limit all."""
    per_device_p = 0.312
    center = {
        "name": "reliability",
        "accelerators": [{"name": "a800", "vendor_resource": "nvidia.com/gpu",
                          "ray_resource": "GPU", "memory": "80Gi", "tflops": {"fp16": 312}}],
        "pools": [{"name": "a800", "accelerator": "a800", "racks": 2,
                   "nodes_per_rack": nodes // 2, "devices_per_node": 8, "cpus_per_node": 128,
                   "memory_per_node": "1Ti"}],
        "priority_classes": {"high": 300, "normal": 200, "low": 100},
        "tenants": [{"name": t, "guaranteed": f"{d * per_device_p:.3f}P",
                     "limit": f"{nodes * 8 * per_device_p:.3f}P"} for t, d in tenants.items()],
    }
    path.write_text(yaml.safe_dump(center))
    return path


class ServeProcess:
    """``aicc serve`` in its own process group; ``kill9`` leaves the store as a crash would."""

    def __init__(self, data_dir: Path, center: Path, db_url: str | None = None,
                 admin_token: str | None = None, log_level: str = "info",
                 env: Mapping[str, str] | None = None) -> None:
        self.data_dir = data_dir
        self.center = center
        self.db_url = db_url
        self.admin_token = admin_token
        self.log_level = log_level
        self.extra_env = dict(env or {})
        self.port = free_port(*SERVER_PORTS)
        self.log_path = data_dir / "serve.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 90.0) -> None:
        args = [sys.executable, "-c", SERVE, "serve", "--host", "127.0.0.1", "--port", str(self.port),
                "--center", str(self.center), "--executor", "sleep", "--data-dir", str(self.data_dir),
                "--log-level", self.log_level]
        if self.db_url is not None:
            args += ["--db", self.db_url]
        env = {k: v for k, v in os.environ.items() if k != "AICC_ADMIN_TOKEN"}
        env.update(self.extra_env)
        if self.admin_token is not None:
            env["AICC_ADMIN_TOKEN"] = self.admin_token
        repo = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = repo + os.pathsep + env.get("PYTHONPATH", "")
        log = self.log_path.open("ab")
        try:
            self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env,
                                         start_new_session=True, cwd=repo)
        finally:
            log.close()
        self.starts += 1
        self.wait_ready(timeout)

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"aicc serve exited with {self.proc.returncode}:\n{self.log()[-4000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url + "/readyz", timeout=2).status_code == 200:
                    return
            if time.monotonic() > deadline:
                raise AssertionError(f"aicc serve not ready after {timeout} s:\n{self.log()[-4000:]}")
            time.sleep(0.05)

    def kill9(self) -> None:
        """SIGKILL to the server's process group: no shutdown handler runs."""
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(30)
        self.proc = None

    def stop(self) -> None:
        """A clean stop (SIGTERM), then SIGKILL if it does not go within 15 s."""
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.kill9()
        self.proc = None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def issue_token(base: str, admin: str, tenant: str) -> str:
    r = httpx.post(f"{base}/v1/admin/tenants/{tenant}/tokens", headers=auth(admin),
                   json={"name": "reliability"}, timeout=30)
    assert r.status_code == 201, r.text
    token: str = r.json()["token"]
    return token


def all_jobs(base: str, admin: str, states: str | None = None) -> list[dict[str, Any]]:
    """Every job, through the admin list and its continue tokens."""
    out: list[dict[str, Any]] = []
    params: dict[str, str | int] = {"limit": 1000}
    if states:
        params["state"] = states
    with httpx.Client(base_url=base, headers=auth(admin), timeout=30) as c:
        while True:
            r = c.get("/v1/admin/jobs", params=params)
            assert r.status_code == 200, r.text
            body = r.json()
            out.extend(body["items"])
            if not body["continue"]:
                return out
            params["continue"] = body["continue"]


HOLDING = "admitted,running,preempted"


def check_no_device_twice(jobs: list[dict[str, Any]]) -> None:
    """Every (node, device) is held by at most one job."""
    owner: dict[tuple[str, int], str] = {}
    for j in jobs:
        if j["state"] not in HOLDING.split(","):
            continue
        assert j["placement"] is not None, j
        for w in j["placement"]["workers"]:
            for d in w["devices"]:
                key = (w["node"], d)
                assert key not in owner, f"device {key} given to {owner[key]} and {j['id']}"
                owner[key] = j["id"]


def check_usage_matches_jobs(base: str, admin: str, timeout: float = 30.0) -> None:
    """``GET /v1/admin/usage`` equals the sum over the jobs holding devices, per tenant.

    The two reads are not atomic, so a consistent pair is looked for: usage, jobs,
    usage again; if the usage did not move in between, the jobs must add up to it.
    """
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        with httpx.Client(base_url=base, headers=auth(admin), timeout=30) as c:
            before = c.get("/v1/admin/usage").json()["items"]
            holding = [j for j in all_jobs(base, admin, HOLDING) if j["state"] in HOLDING.split(",")]
            after = c.get("/v1/admin/usage").json()["items"]
        if before != after:
            time.sleep(0.1)
            continue
        check_no_device_twice(holding)
        devices: dict[str, dict[str, int]] = {}
        for j in holding:
            p = j["placement"]
            by = devices.setdefault(j["tenant"], {})
            by[p["accelerator"]] = by.get(p["accelerator"], 0) + j["devices"]
        ok = True
        for u in after:
            want = devices.get(u["tenant"], {})
            running = sum(1 for j in holding if j["tenant"] == u["tenant"] and j["state"] != "preempted")
            got = {k: v for k, v in u["devices"].items() if v}
            if got != want or abs(u["in_use_pflops"] - sum(want.values()) * 0.312) > 1e-3:
                ok = False
                last = f"{u['tenant']}: usage says {got}, jobs hold {want}"
            elif u["running_jobs"] != running:
                ok = False
                last = f"{u['tenant']}: usage says {u['running_jobs']} running, the jobs {running}"
        if ok:
            return
        time.sleep(0.1)
    raise AssertionError(f"usage never matched the jobs holding devices: {last}")


def job_events(db_url: str) -> dict[str, list[tuple[str, str]]]:
    """Per job: (state, reason) of every recorded state change, in order."""
    engine = make_engine(db_url)
    t = JobEventRow.__table__
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(t.c.job_id, t.c.state, t.c.reason).order_by(t.c.id)).all()
    finally:
        engine.dispose()
    out: dict[str, list[tuple[str, str]]] = {}
    for r in rows:
        out.setdefault(r.job_id, []).append((r.state, r.reason))
    return out


def job_runs(db_url: str) -> dict[str, list[tuple[float, float | None]]]:
    engine = make_engine(db_url)
    t = JobRunRow.__table__
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(t.c.job_id, t.c.started_at, t.c.ended_at).order_by(t.c.id)).all()
    finally:
        engine.dispose()
    out: dict[str, list[tuple[float, float | None]]] = {}
    for r in rows:
        out.setdefault(r.job_id, []).append((r.started_at, r.ended_at))
    return out


def check_no_job_ran_twice(db_url: str, jobs: Mapping[str, Mapping[str, Any]]) -> dict[str, int]:
    """From the store's own history: every job's states follow the allowed transitions, a
    finished job never starts again, it never holds two runs at once, and it ran at most once
    more than it was requeued. Returns counts for the report (runs, requeues)."""
    events = job_events(db_url)
    runs = job_runs(db_url)
    totals = {"runs": 0, "requeues": 0}
    for job_id, history in events.items():
        states = [JobState(s) for s, _ in history]
        assert states[0] is JobState.PENDING, (job_id, history)
        for (a, _), (b, reason) in itertools.pairwise(history):
            if a == b:
                continue  # the same state recorded again (e.g. a reason changed)
            if b == "pending" and a in ("admitted", "running") and reason == "NodeLost":
                continue  # lost with its node (or with the executor, across a restart): requeued
            check_transition(JobState(a), JobState(b))
        terminal = [i for i, s in enumerate(states) if s.terminal]
        assert len({states[i] for i in terminal}) <= 1 and (
            not terminal or all(states[i].terminal for i in range(terminal[0], len(states)))), (
            f"{job_id} did something after it finished: {history}")
        assert states.count(JobState.SUCCEEDED) <= 1, (job_id, history)
        requeues = sum(1 for a, b in itertools.pairwise(states)
                       if b is JobState.PENDING and a is not JobState.PENDING)
        started = sum(1 for a, b in itertools.pairwise(states)
                      if b is JobState.RUNNING and a is not JobState.RUNNING)
        assert started <= requeues + 1, f"{job_id} started {started} times, requeued {requeues}: {history}"
        mine = sorted(runs.get(job_id, []))
        assert len(mine) <= requeues + 1, f"{job_id}: {len(mine)} runs, {requeues} requeues"
        assert sum(1 for _, end in mine if end is None) <= 1, f"{job_id} has two open runs: {mine}"
        for (_, end), (nxt, _) in itertools.pairwise(mine):
            assert end is not None and end <= nxt + 1e-6, f"{job_id} ran twice at once: {mine}"
        if job_id in jobs and jobs[job_id]["state"] in ("running", "admitted", "preempted"):
            assert states[-1].value == jobs[job_id]["state"], (job_id, history, jobs[job_id]["state"])
        totals["runs"] += len(mine)
        totals["requeues"] += requeues
    return totals


@contextlib.contextmanager
def serving(proc: ServeProcess) -> Iterator[ServeProcess]:
    proc.start()
    try:
        yield proc
    finally:
        proc.kill9()
