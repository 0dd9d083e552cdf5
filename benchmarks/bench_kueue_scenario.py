"""Kueue's scheduler performance scenario, through the live service with the sleep executor.

Kueue's test: 5 cohorts x 6 queues; each queue nominal 20 units, borrowing
limit 100, borrowing only within its cohort; per queue 350 small (1 unit,
200 ms, priority 50), 100 medium (5 units, 500 ms, priority 100) and 50 large
(20 units, 1 s, priority 200) workloads: 15,000 in all. Kueue reports 351 s
makespan with 58.7% average usage; total work / capacity is 66 s.

aicc has no cohorts, so each cohort is its own center of 120 devices
(benchmarks/centers/kueue-cohort-120.yaml: 6 tenants guaranteed 20 devices,
limited to 120), served by its own ``aicc serve --executor sleep`` process with
its own SQLite database; the five run side by side and are reported together. Every job is
submitted over HTTP with the tenant's token; a job of N units is a gang of N
workers of one device.

Prints, as its last line, one JSON object: makespan_s, usage_ratio,
lower_bound_s, mean time-to-admission per class, jobs, and per-center figures.
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import shutil
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from benchmarks.serving import Served

CENTER = Path(__file__).parent / "centers" / "kueue-cohort-120.yaml"
ADMIN = "kueue-bench-admin"
TENANTS = [f"queue-{i}" for i in range(1, 7)]
#: class -> (count per tenant, devices, seconds)
CLASSES = {"small": (350, 1, 0.2), "medium": (100, 5, 0.5), "large": (50, 20, 1.0)}
DEVICES_PER_CENTER = 120


class Conn:
    """One keep-alive HTTP connection (http.client: cheap per request)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def call(self, method: str, path: str, token: str, body: Any = None) -> tuple[int, Any]:
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        for attempt in range(3):
            try:
                self.c.request(method, path, body=data, headers=headers)
                r = self.c.getresponse()
                return r.status, json.loads(r.read())
            except (http.client.HTTPException, ConnectionError):
                self.c.close()
                self.c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")


def workload(seed: int) -> list[tuple[str, str, int, float]]:
    """(tenant, class, devices, seconds) in submission order: tenants round robin, classes mixed."""
    rng = random.Random(seed)
    per_tenant = {}
    for t in TENANTS:
        jobs = [(t, cls, d, s) for cls, (n, d, s) in CLASSES.items() for _ in range(n)]
        rng.shuffle(jobs)
        per_tenant[t] = jobs
    out = []
    for i in range(max(len(v) for v in per_tenant.values())):
        for t in TENANTS:
            if i < len(per_tenant[t]):
                out.append(per_tenant[t][i])
    return out


def ts(value: str | None) -> float:
    assert value is not None
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--centers", type=int, default=5)
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the jobs (for a quick run)")
    parser.add_argument("--threads", type=int, default=4, help="submitting connections per center")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--smoke", action="store_true", help="one center, 2%% of the jobs: that it runs")
    args = parser.parse_args()
    if args.smoke:
        args.centers, args.scale = 1, 0.02
    workdir = Path(tempfile.mkdtemp(prefix="aicc-kueue-"))
    servers = [Served(workdir / f"c{i}", admin_token=ADMIN, center=CENTER, executor="sleep")
               for i in range(args.centers)]
    ports = [s.port for s in servers]
    try:
        for server in servers:
            server.wait_ready()
        tokens: list[dict[str, str]] = []
        for i in range(args.centers):
            c = Conn(ports[i])
            tokens.append({t: c.call("POST", f"/v1/admin/tenants/{t}/tokens", ADMIN, {"name": "bench"})[1]["token"]
                           for t in TENANTS})
        plans = []
        for i in range(args.centers):
            jobs = workload(args.seed + i)
            if args.scale < 1.0:
                jobs = jobs[: int(len(jobs) * args.scale)]
            plans.append(jobs)
        errors: list[str] = []
        lock = threading.Lock()

        def submit(center: int, part: int) -> None:
            c = Conn(ports[center])
            for n, (tenant, cls, devices, seconds) in enumerate(plans[center]):
                if n % args.threads != part:
                    continue
                body = {"name": f"{cls}-{n}", "kind": "batch", "workers": devices,
                        "resources": {"accelerators": 1}, "priority": cls,
                        "runtime_env": {"sleep_s": seconds}}
                status, out = c.call("POST", "/v1/jobs", tokens[center][tenant], body)
                if status != 201:
                    with lock:
                        errors.append(f"{status} {out}")

        t0 = time.time()
        with ThreadPoolExecutor(args.centers * args.threads) as pool:
            futures = [pool.submit(submit, ci, part) for ci in range(args.centers) for part in range(args.threads)]
            for f in futures:
                f.result()
        submitted_s = time.time() - t0
        if errors:
            raise SystemExit(f"{len(errors)} submissions failed, e.g. {errors[0]}")
        # wait until every center is idle
        admins = [Conn(port) for port in ports]
        while True:
            busy = 0
            for c in admins:
                _, u = c.call("GET", "/v1/admin/usage", ADMIN)
                busy += sum(x["pending_jobs"] + x["running_jobs"] for x in u["items"])
            if busy == 0:
                break
            time.sleep(0.5)
        # read every job back
        jobs: list[dict[str, Any]] = []
        per_center = []
        for c in admins:
            mine: list[dict[str, Any]] = []
            cont = None
            while True:
                path = "/v1/admin/jobs?limit=1000" + (f"&continue={cont}" if cont else "")
                _, page = c.call("GET", path, ADMIN)
                mine += page["items"]
                cont = page["continue"]
                if cont is None:
                    break
            assert all(j["state"] == "succeeded" for j in mine), {j["state"] for j in mine}
            ends = [ts(j["finished_at"]) for j in mine]
            work = sum(j["devices"] * (ts(j["finished_at"]) - ts(j["started_at"])) for j in mine)
            span = max(ends) - t0
            per_center.append({"jobs": len(mine), "makespan_s": round(span, 2),
                               "usage_ratio": round(work / (DEVICES_PER_CENTER * span), 4),
                               "lower_bound_s": round(work / DEVICES_PER_CENTER, 2)})
            jobs += mine
    finally:
        for server in servers:
            server.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    capacity = DEVICES_PER_CENTER * args.centers
    makespan = max(ts(j["finished_at"]) for j in jobs) - t0
    work = sum(j["devices"] * (ts(j["finished_at"]) - ts(j["started_at"])) for j in jobs)
    tta: dict[str, list[float]] = {}
    for j in jobs:
        tta.setdefault(j["priority"], []).append(ts(j["admitted_at"]) - ts(j["submitted_at"]))
    result = {
        "makespan_s": round(makespan, 2),
        "usage_ratio": round(work / (capacity * makespan), 4),
        "lower_bound_s": round(work / capacity, 2),
        "mean_time_to_admission_s": {k: round(sum(v) / len(v), 3) for k, v in sorted(tta.items())},
        "jobs": len(jobs),
        "centers": args.centers,
        **servers[0].describe(), "smoke": args.smoke,
        "devices": capacity,
        "submit_s": round(submitted_s, 2),
        "per_center": per_center,
        "kueue": {"makespan_s": 351, "usage_ratio": 0.587},
        "target": {"makespan_s": 80, "usage_ratio": 0.8},
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
