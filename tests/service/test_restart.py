"""`aicc serve` as a real process: submit, kill -9, start again; every job exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from benchmarks import serving
from tests.api.conftest import job_body
from tests.centers import CENTER
from tests.pg_testing import free_port


class Server:
    def __init__(self, tmp: Path, env: dict[str, str], db: str | None = None) -> None:
        self.tmp = tmp
        self.env = env
        self.db = db
        self.port = free_port(18200, 18299)
        self.proc: subprocess.Popen[str] | None = None
        self.base = f"http://127.0.0.1:{self.port}"

    def start(self) -> str:
        center = self.tmp / "center.yaml"
        center.write_text(yaml.safe_dump(CENTER))
        self.proc = subprocess.Popen(
            [sys.executable, "-c", "from scheduler.cli import main; main()", "serve",
             "--port", str(self.port), "--data-dir", str(self.tmp / "data"), "--center", str(center),
             "--executor", "sleep",
             "--log-level", "warning", *(["--db", self.db] if self.db else [])],
            env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"aicc serve exited: {self.proc.stdout.read() if self.proc.stdout else ''}")
            try:
                with urllib.request.urlopen(self.base + "/readyz", timeout=2):
                    break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.1)
        else:
            raise AssertionError("aicc serve did not become ready")
        return ""

    def kill9(self) -> str:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)
        out = self.proc.stdout.read() if self.proc.stdout else ""
        self.proc = None
        return out

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None

    def call(self, method: str, path: str, token: str, body: Any = None,
             headers: dict[str, str] | None = None) -> tuple[int, Any]:
        return serving.call(self.base, method, path, token, body, headers, timeout=30)


@pytest.fixture(params=["sqlite", "postgresql"])
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Server]:
    env = {k: v for k, v in os.environ.items() if k != "AICC_ADMIN_TOKEN"}
    db = None  # the default: SQLite in the data dir
    if request.param == "postgresql":
        db = request.getfixturevalue("postgres_server").create_database(f"restart_{os.getpid()}")
    s = Server(tmp_path, env, db)
    yield s
    s.stop()


def all_jobs(s: Server, admin: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    token = None
    while True:
        path = "/v1/admin/jobs?limit=7" + (f"&continue={token}" if token else "")
        status, page = s.call("GET", path, admin)
        assert status == 200, page
        out += page["items"]
        token = page["continue"]
        if token is None:
            return out


def test_kill_9_and_restart_keeps_every_job_exactly_once(server: Server, tmp_path: Path) -> None:
    server.start()
    token_file = tmp_path / "data" / "admin-token"
    assert token_file.stat().st_mode & 0o777 == 0o600
    admin = token_file.read_text().strip()
    status, issued = server.call("POST", "/v1/admin/tenants/acme/tokens", admin, {"name": "t"})
    assert status == 201
    acme = issued["token"]
    submitted = []
    for i in range(12):
        # short jobs finish before the crash; long ones are running or pending when it comes
        body = job_body(f"job-{i}", devices=4, sleep_s=0.2 if i % 3 == 0 else 120)
        status, job = server.call("POST", "/v1/jobs", acme, body, {"Idempotency-Key": f"k{i}"})
        assert status == 201, job
        submitted.append(job["id"])
    time.sleep(1.0)
    before = {j["id"]: j["state"] for j in all_jobs(server, admin)}
    assert {"succeeded", "running"} <= set(before.values())
    out = server.kill9()
    # stdout is a pipe (a log), so the token is not printed: only where it was saved
    assert admin not in out and "admin token generated and saved to" in out

    server.start()
    after = all_jobs(server, admin)
    ids = [j["id"] for j in after]
    assert sorted(ids) == sorted(submitted) and len(set(ids)) == len(ids)  # each exactly once
    for job in after:
        if before[job["id"]] == "succeeded":
            assert job["state"] == "succeeded"
        assert job["state"] in ("pending", "admitted", "running", "succeeded")
    # the same Idempotency-Key after the restart answers the same job, and adds none
    status, again = server.call("POST", "/v1/jobs", acme, job_body("job-1", devices=4, sleep_s=120),
                                {"Idempotency-Key": "k1"})
    assert status == 200 and again["id"] == submitted[1]
    # devices held add up: the center's allocation is exactly what live jobs hold
    deadline = time.monotonic() + 10
    while True:
        jobs = all_jobs(server, admin)
        held = sum(j["devices"] for j in jobs if j["state"] in ("admitted", "running"))
        _, center = server.call("GET", "/v1/center", admin)
        if center["total"]["allocated_devices"] == held and all(j["state"] != "admitted" for j in jobs):
            break
        assert time.monotonic() < deadline, (center["total"], [j["state"] for j in jobs])
        time.sleep(0.1)
    assert held <= 20  # acme's limit: 20 devices
    assert all(j["preemptions"] >= 1 for j in jobs if before[j["id"]] == "running")
    out = server.kill9()
    assert "admin token" not in out  # nothing generated on a restart
