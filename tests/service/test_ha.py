"""High availability with real ``aicc serve --ha`` processes on a real PostgreSQL.

Split brain: a leader paused (SIGSTOP) past its lease while it had work to do, then
resumed, records nothing and starts nothing: its writes are fenced by the database,
its executor refuses, and it exits for its supervisor to restart it as a follower.
"""

from __future__ import annotations

import os
import signal
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml

from benchmarks import serving
from benchmarks.serving import Served
from tests.centers import CENTER
from tests.pg_testing import PostgresServer

ADMIN = "test-ha-admin-token-0123456789abcdef"
TTL = 3.0


def call(url: str, method: str, path: str, token: str = ADMIN, body: Any = None,
         headers: dict[str, str] | None = None) -> tuple[int, Any]:
    return serving.call(url, method, path, token, body, headers, timeout=15)

def job(name: str, devices: int, sleep_s: float) -> dict[str, Any]:
    return {"name": name, "workers": 1, "resources": {"accelerators": devices, "accelerator_types": ["a800"]},
            "estimated_runtime_s": sleep_s, "runtime_env": {"sleep_s": sleep_s}}


class Cluster:
    def __init__(self, tmp: Path, db: str) -> None:
        self.tmp = tmp
        self.db = db
        self.center = tmp / "center.yaml"
        self.center.write_text(yaml.safe_dump(CENTER))
        self.replicas: list[Served] = []

    def start(self, name: str) -> Served:
        from benchmarks.serving import free_port

        port = free_port()
        s = Served(self.tmp / name, admin_token=ADMIN, center=self.center, executor="sleep", db=self.db,
                   port=port, log_level="info",
                   args=["--ha", "--replica-name", name, "--advertise-url", f"http://127.0.0.1:{port}",
                         "--lease-ttl", str(TTL)])
        self.replicas.append(s)
        return s.wait_ready()

    def leadership(self, s: Served) -> dict[str, Any]:
        status, body = call(s.url, "GET", "/v1/center")
        assert status == 200, body
        return body["leadership"]  # type: ignore[no-any-return]

    def wait_leader(self, s: Served, above: int = 0, timeout_s: float = 30) -> int:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            led = self.leadership(s)
            if led["role"] == "leader" and led["epoch"] > above:
                return int(led["epoch"])
            time.sleep(0.1)
        raise AssertionError(f"{s.url} did not lead: {self.leadership(s)}\n{s.log_tail()}")

    def stop(self) -> None:
        for s in self.replicas:
            if s.proc.poll() is None:
                os.kill(s.pid, signal.SIGCONT)
            s.stop(10)


@pytest.fixture
def cluster(postgres_server: PostgresServer, tmp_path: Path) -> Iterator[Cluster]:
    c = Cluster(tmp_path, postgres_server.create_database(f"ha_{os.getpid()}_{time.monotonic_ns()}"))
    yield c
    c.stop()


def states(db: psycopg.Connection[Any]) -> dict[str, str]:
    return dict(db.execute("SELECT name, state FROM jobs").fetchall())  # type: ignore[arg-type]


def test_followers_serve_and_forward_and_a_paused_leader_resumes_harmless(
        cluster: Cluster) -> None:
    a = cluster.start("a")
    epoch_a = cluster.wait_leader(a)
    b = cluster.start("b")
    assert cluster.leadership(b)["role"] == "follower"
    assert urllib.request.urlopen(b.url + "/readyz", timeout=5).status == 200  # a follower is ready
    status, issued = call(b.url, "POST", "/v1/admin/tenants/acme/tokens", body={"name": "t"})  # forwarded
    assert status == 201, issued
    token = issued["token"]
    time.sleep(1.5)  # b reloads the tokens
    # The center: 32 devices. Four 8-device jobs fill it; four more wait behind them.
    # acme may use 20 devices (its limit): two run, the rest queue, all sent through the follower.
    for i in range(6):
        status, body = call(b.url, "POST", "/v1/jobs", token, job(f"first-{i}", 8, 2.5),
                            headers={"Idempotency-Key": f"first-{i}"})
        assert status == 201, body
    status, again = call(b.url, "POST", "/v1/jobs", token, job("first-0", 8, 2.5),
                         headers={"Idempotency-Key": "first-0"})
    assert status == 200, again  # the retry of an acknowledged submission: the same job
    status, listed = call(b.url, "GET", "/v1/jobs", token)  # a read, answered by the follower
    assert status == 200 and len(listed["items"]) == 6
    db = psycopg.connect(cluster.db.replace("postgresql+psycopg", "postgresql"), autocommit=True)
    deadline = time.monotonic() + 10
    while list(states(db).values()).count("running") < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert list(states(db).values()).count("running") == 2, states(db)
    assert {r[0] for r in db.execute("SELECT DISTINCT leader_epoch FROM job_events")} == {epoch_a}

    os.kill(a.pid, signal.SIGSTOP)  # a pauses with running jobs and a queue
    paused_at = time.monotonic()
    epoch_b = cluster.wait_leader(b, above=epoch_a, timeout_s=TTL + 10)
    took = time.monotonic() - paused_at
    assert took < TTL + 3, took
    first_b_event = db.execute("SELECT max(id) FROM job_events").fetchone()[0]  # type: ignore[index]
    time.sleep(3.0)  # b goes on: the running jobs end (adopted), queued ones start
    log_at = len(a.log.read_bytes())
    os.kill(a.pid, signal.SIGCONT)  # a resumes, its term long over, with work it thinks is due
    a.proc.wait(15)
    assert a.proc.returncode == 75, a.log_tail()
    after = a.log.read_bytes()[log_at:].decode(errors="replace")
    assert "lost the leader lease" in after
    assert "executor: start job" not in after  # it started nothing after it resumed
    stale = db.execute("SELECT count(*) FROM job_events WHERE id > %s AND leader_epoch = %s",
                       (first_b_event, epoch_a)).fetchone()[0]  # type: ignore[index]
    assert stale == 0  # and recorded nothing
    deadline = time.monotonic() + 30
    while set(states(db).values()) != {"succeeded"} and time.monotonic() < deadline:
        time.sleep(0.2)
    assert set(states(db).values()) == {"succeeded"} and len(states(db)) == 6, states(db)
    runs = db.execute("SELECT job_id, count(*) FROM job_runs GROUP BY job_id").fetchall()
    assert len(runs) == 6 and all(n == 1 for _, n in runs), runs  # each ran once, across leaders
    led = cluster.leadership(b)
    assert led["leader"] == "b" or led["leader"].startswith("b/"), led
    assert led["epoch"] == epoch_b and led["changes"] >= 1
    metrics = urllib.request.urlopen(b.url + "/metrics", timeout=5).read().decode()
    assert "aicc_leader 1.0" in metrics
    db.close()


def test_a_second_writer_on_one_sqlite_file_is_refused(tmp_path: Path) -> None:
    first = Served(tmp_path / "one", admin_token=ADMIN, db=f"sqlite:///{tmp_path / 'aicc.db'}").wait_ready()
    try:
        second = Served(tmp_path / "two", admin_token=ADMIN, db=f"sqlite:///{tmp_path / 'aicc.db'}")
        second.proc.wait(60)
        assert second.proc.returncode != 0
        out = second.log_tail().strip().splitlines()
        assert out[-1].startswith("error: another aicc serve (pid ") and "aicc.db" in out[-1], out
    finally:
        first.stop()


def test_ha_needs_postgresql(tmp_path: Path) -> None:
    s = Served(tmp_path, admin_token=ADMIN, args=["--ha"])
    s.proc.wait(60)
    assert s.proc.returncode != 0 and "needs PostgreSQL" in s.log_tail()
