"""Failover: three ``aicc serve --ha`` replicas on one PostgreSQL, the leader SIGKILLed three times.

A client submits ``--jobs`` jobs at a steady rate, round robin over all replicas, each
with its own Idempotency-Key; a refused or unanswered submission (the replica it went to
is dead, or no replica leads yet: 503) is retried on the next replica with the same key,
as a client of a Service with several pods would. Meanwhile the leader (found from the
lease row) is killed with SIGKILL ``--kills`` times and started again, as its
supervisor would, a few seconds later (it rejoins as a follower).

The sleep executor's jobs "run" on a cluster that outlives the scheduler, as Ray jobs do
(``SleepExecutor(outlives_service=True)``): a new leader adopts the jobs its store says
run and they end when they would have; a job only admitted when the leader died is
started by the new leader's reconcile. So a job that runs twice is a real fault here,
not an artefact of the executor.

Measured, from the database once every acknowledged job ended:

- ``acknowledged``: submissions answered 201/200 with a job id;
- ``lost``: acknowledged job ids the database does not have;
- ``duplicated``: extra jobs recorded for one submission (by its unique name);
- ``ran_twice``: jobs with more than one run (nothing preempts in this load);
- ``devices_double_allocated``: (node, device) pairs held by two jobs at once, from every
  job's admitted-to-released stretches in ``job_events``;
- ``stale_epoch_events``: events recorded by an older leader after a newer leader's;
- ``failover_s``: from the SIGKILL until a replica answers as leader of a newer epoch
  (elected, engine rebuilt from the store, reconciled with the executor).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from benchmarks.serving import Served, call, free_port
from tests.pg_testing import PostgresServer, PostgresUnavailable

ADMIN = "aicc-bench-failover-admin-token-0123456789"
#: 8 nodes x 8 a800 = 64 devices; one tenant may use them all.
CENTER: dict[str, Any] = {
    "name": "failover",
    "accelerators": [{"name": "a800", "vendor_resource": "nvidia.com/gpu", "ray_resource": "GPU",
                      "memory": "80Gi", "tflops": {"fp16": 312}}],
    "pools": [{"name": "a800", "accelerator": "a800", "racks": 2, "nodes_per_rack": 4,
               "devices_per_node": 8, "cpus_per_node": 128, "memory_per_node": "1Ti"}],
    "tenants": [{"name": "bench", "guaranteed": "19.968P", "limit": "19.968P"}],
}



class Replica:
    """One replica: a fixed port and name; a new process at each (re)start."""

    def __init__(self, index: int, work: Path, db: str, center: Path, ttl: float) -> None:
        self.index = index
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.work = work
        self.db = db
        self.center = center
        self.ttl = ttl
        self.starts = 0
        self.served: Served | None = None

    def start(self) -> None:
        self.starts += 1
        self.served = Served(self.work / f"r{self.index}-{self.starts}", admin_token=ADMIN, center=self.center,
                             executor="sleep", db=self.db, port=self.port, log_level="warning",
                             args=["--ha", "--replica-name", f"r{self.index}", "--advertise-url", self.url,
                                   "--lease-ttl", str(self.ttl)])

    def alive(self) -> bool:
        return self.served is not None and self.served.proc.poll() is None

    def kill9(self) -> None:
        assert self.served is not None
        self.served.proc.kill()
        self.served.proc.wait(10)

    def leadership(self) -> dict[str, Any] | None:
        if not self.alive():
            return None
        with contextlib.suppress(OSError, ValueError):
            status, body = call(self.url, "GET", "/v1/center", ADMIN, timeout=2)
            if status == 200:
                return body.get("leadership")  # type: ignore[no-any-return]
        return None


def lease(db: Any) -> tuple[str, int, str | None]:
    row = db.execute("SELECT holder, epoch, address FROM leader_lease WHERE name = 'scheduler'").fetchone()
    return row[0], int(row[1]), row[2]


def wait_leader(replicas: list[Replica], above_epoch: int, timeout_s: float) -> tuple[Replica, int] | None:
    """The replica that answers as leader of an epoch above ``above_epoch``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for r in replicas:
            led = r.leadership()
            if led and led.get("role") == "leader" and (led.get("epoch") or 0) > above_epoch:
                return r, int(led["epoch"])
        time.sleep(0.05)
    return None


class Client:
    """Submits job i at t0 + i / rate, to replica i mod n, retrying elsewhere with the same key."""

    def __init__(self, replicas: list[Replica], token: str, jobs: int, rate: float, sleep_s: float) -> None:
        self.replicas = replicas
        self.token = token
        self.jobs = jobs
        self.rate = rate
        self.sleep_s = sleep_s
        self.acked: dict[int, str] = {}
        self.retries = 0
        self.refused: dict[int, str] = {}
        self.latency: list[float] = []
        self._next = 0
        self._lock = threading.Lock()
        self.t0 = 0.0

    def body(self, i: int) -> dict[str, Any]:
        return {"name": f"bench-{i}", "kind": "training", "workers": 1,
                "resources": {"accelerators": i % 3 + 1, "accelerator_types": ["a800"], "cpus": 4,
                              "memory": "16Gi"},
                "estimated_runtime_s": self.sleep_s, "max_runtime_s": 600,
                "runtime_env": {"sleep_s": self.sleep_s}}

    def run(self, threads: int = 48) -> None:
        self.t0 = time.monotonic()
        workers = [threading.Thread(target=self._work, daemon=True) for _ in range(threads)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()

    def _work(self) -> None:
        while True:
            with self._lock:
                i = self._next
                if i >= self.jobs:
                    return
                self._next += 1
            due = self.t0 + i / self.rate
            time.sleep(max(0.0, due - time.monotonic()))
            self._submit(i)

    def _submit(self, i: int) -> None:
        attempt = 0
        began = time.monotonic()
        while time.monotonic() - began < 120:
            r = self.replicas[(i + attempt) % len(self.replicas)]
            attempt += 1
            try:
                status, body = call(r.url, "POST", "/v1/jobs", self.token, self.body(i),
                                    headers={"Idempotency-Key": f"bench-{i}"}, timeout=10)
            except (OSError, ValueError):
                status, body = 0, None
            if status in (200, 201) and isinstance(body, dict) and "id" in body:
                with self._lock:
                    self.acked[i] = body["id"]
                    self.latency.append(time.monotonic() - began)
                return
            if status in (0, 500, 502, 503, 504):
                with self._lock:
                    self.retries += 1
                time.sleep(0.2)
                continue
            with self._lock:
                self.refused[i] = f"{status}: {body}"
            return
        with self._lock:
            self.refused[i] = "no replica accepted it within 120 s"


def intervals(events: list[tuple[str, str, float, Any]]) -> dict[tuple[str, int], list[tuple[float, float, str]]]:
    """(node, device) -> [(from, to, job)]: each attempt's hold, admitted to released."""
    holds: dict[tuple[str, int], list[tuple[float, float, str]]] = defaultdict(list)
    open_: dict[str, tuple[float, Any]] = {}
    for job, state, at, placement in events:
        if state == "admitted" and placement:
            open_[job] = (at, placement)
        elif state in ("pending", "succeeded", "failed", "cancelled") and job in open_:
            start, p = open_.pop(job)
            for w in p["workers"]:
                for d in w["devices"]:
                    holds[(w["node"], d)].append((start, at, job))
    for job, (start, p) in open_.items():
        for w in p["workers"]:
            for d in w["devices"]:
                holds[(w["node"], d)].append((start, float("inf"), job))
    return holds


def double_allocated(holds: dict[tuple[str, int], list[tuple[float, float, str]]]) -> int:
    bad = 0
    for spans in holds.values():
        spans.sort()
        end = float("-inf")
        for start, stop, _ in spans:
            if start < end - 1e-6:
                bad += 1
            end = max(end, stop)
    return bad


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--jobs", type=int, default=1000)
    ap.add_argument("--rate", type=float, default=20.0, help="submissions per second, over all replicas")
    ap.add_argument("--kills", type=int, default=3)
    ap.add_argument("--replicas", type=int, default=3)
    ap.add_argument("--lease-ttl", type=float, default=8.0)
    ap.add_argument("--sleep-s", type=float, default=1.5, help="how long each job runs")
    ap.add_argument("--smoke", action="store_true", help="60 jobs, one kill, a 3 s lease: that it runs")
    args = ap.parse_args()
    if args.smoke:
        args.jobs, args.rate, args.kills, args.lease_ttl, args.sleep_s = 60, 15.0, 1, 3.0, 1.0
    try:
        pg = PostgresServer((18500, 18599)).start()
    except PostgresUnavailable as exc:
        raise SystemExit(f"bench_failover needs PostgreSQL: {exc}") from None
    import psycopg

    work = Path(tempfile.mkdtemp(prefix="aicc-failover-"))
    center = work / "center.yaml"
    center.write_text(yaml.safe_dump(CENTER))
    replicas = [Replica(i, work, pg.url, center, args.lease_ttl) for i in range(args.replicas)]
    db = psycopg.connect(f"host=127.0.0.1 port={pg.port} user=aicc dbname=aicc", autocommit=True)
    began = time.monotonic()
    try:
        for r in replicas:  # all at once, as a Deployment's pods: one migrates and bootstraps
            r.start()
        for r in replicas:
            assert r.served is not None
            r.served.wait_ready()
        first = wait_leader(replicas, 0, 30)
        if first is None:
            raise SystemExit("no replica became leader")
        status, issued = call(replicas[-1].url, "POST", "/v1/admin/tenants/bench/tokens", ADMIN, {"name": "bench"})
        assert status == 201, (status, issued)
        token = issued["token"]
        time.sleep(1.5)  # every follower has reloaded the tokens
        client = Client(replicas, token, args.jobs, args.rate, args.sleep_s)
        submitting = threading.Thread(target=client.run, daemon=True)
        submitting.start()
        span = args.jobs / args.rate
        plan = [span * (k + 1) / (args.kills + 1) for k in range(args.kills)]
        failovers: list[float] = []
        epoch = first[1]
        for at in plan:
            time.sleep(max(0.0, client.t0 + at - time.monotonic()))
            holder, epoch, address = lease(db)
            victim = next(r for r in replicas if r.url == address)
            killed_at = time.monotonic()
            victim.kill9()
            restart = threading.Timer(2.0, victim.start)  # its supervisor starts it again
            restart.start()
            found = wait_leader(replicas, epoch, 60)
            if found is None:
                raise SystemExit(f"no new leader within 60 s of killing {holder}")
            failovers.append(time.monotonic() - killed_at)
            epoch = found[1]
            restart.join()
        submitting.join()
        acked = dict(client.acked)
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            live = db.execute("SELECT count(*) FROM jobs WHERE state NOT IN"
                              " ('succeeded', 'failed', 'cancelled')").fetchone()[0]
            if live == 0:
                break
            time.sleep(0.5)
        rows = db.execute("SELECT id, name, state FROM jobs").fetchall()
        ids = {r[0] for r in rows}
        by_name: dict[str, int] = defaultdict(int)
        for r in rows:
            by_name[r[1]] += 1
        runs = db.execute("SELECT job_id, count(*) FROM job_runs GROUP BY job_id HAVING count(*) > 1").fetchall()
        events = [(r[0], r[1], float(r[2]), r[3]) for r in db.execute(
            "SELECT job_id, state, at, placement FROM job_events ORDER BY id").fetchall()]
        epochs = [r[0] for r in db.execute(
            "SELECT leader_epoch FROM job_events WHERE leader_epoch IS NOT NULL ORDER BY id").fetchall()]
        stale = sum(1 for k in range(1, len(epochs)) if epochs[k] < max(epochs[:k]))
        states: dict[str, int] = defaultdict(int)
        for r in rows:
            states[r[2]] += 1
        result = {
            "bench": "failover", "smoke": args.smoke, "executor": "sleep", "store": "postgresql",
            "replicas": args.replicas, "jobs": args.jobs, "rate_per_s": args.rate, "kills": len(failovers),
            "lease_ttl_s": args.lease_ttl,
            "acknowledged": len(acked),
            "refused": len(client.refused),
            "client_retries": client.retries,
            "lost": sum(1 for j in acked.values() if j not in ids),
            "duplicated": sum(n - 1 for n in by_name.values() if n > 1),
            "ran_twice": len(runs),
            "devices_double_allocated": double_allocated(intervals(events)),
            "stale_epoch_events": stale,
            "not_finished": sum(n for s, n in states.items() if s not in ("succeeded", "failed", "cancelled")),
            "succeeded": states.get("succeeded", 0),
            "failovers_s": [round(f, 2) for f in failovers],
            "failover_s_max": round(max(failovers), 2) if failovers else None,
            "failover_s_p50": round(statistics.median(failovers), 2) if failovers else None,
            "ack_latency_s_max": round(max(client.latency), 2) if client.latency else None,
            "elapsed_s": round(time.monotonic() - began, 1),
        }
        if client.refused:
            print("refused:", list(client.refused.items())[:5], file=sys.stderr)
        print(json.dumps(result))
    finally:
        for r in replicas:
            if r.served is not None:
                r.served.stop(10)
        db.close()
        pg.stop()


if __name__ == "__main__":
    main()
