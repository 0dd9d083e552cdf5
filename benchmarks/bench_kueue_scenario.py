"""Kueue's scheduler performance scenario, through the live service with the sleep executor.

Kueue's test: 5 cohorts x 6 queues; each queue nominal 20 units, borrowing
limit 100, borrowing only within its cohort; per queue 350 small (1 unit,
200 ms, priority 50), 100 medium (5 units, 500 ms, priority 100) and 50 large
(20 units, 1 s, priority 200) workloads: 15,000 in all. Kueue reports 351 s
makespan with 58.7% average usage; total work / capacity is 66 s.

``--shape tree`` (the default) runs it as Kueue does: ONE center of 600
devices and one ``aicc serve --executor sleep`` with its SQLite database
(benchmarks/centers/kueue-600.yaml): 5 parent tenants (the cohorts, 120
devices each, lending nothing to each other) of 6 children (the queues,
guaranteed 20 devices, limited to 120 within their parent); reclaim stays
within a parent, priority preemption within a child. ``--shape centers``
runs the approximation used before aicc had a tenant tree: each cohort its
own center of 120 devices and its own service (kueue-cohort-120.yaml), the
five side by side. Every job is submitted over HTTP with its queue's token;
a job of N units is a gang of N workers of one device.

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

CENTERS = Path(__file__).parent / "centers"
ADMIN = "kueue-bench-admin"
TENANTS = [f"queue-{i}" for i in range(1, 7)]
COHORTS = 5
#: class -> (count per tenant, devices, seconds)
CLASSES = {"small": (350, 1, 0.2), "medium": (100, 5, 0.5), "large": (50, 20, 1.0)}
DEVICES_PER_COHORT = 120


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


def workload(seed: int, tenants: list[str] = TENANTS) -> list[tuple[str, str, int, float]]:
    """(tenant, class, devices, seconds) in submission order: tenants round robin, classes mixed."""
    rng = random.Random(seed)
    per_tenant = {}
    for t in tenants:
        jobs = [(t, cls, d, s) for cls, (n, d, s) in CLASSES.items() for _ in range(n)]
        rng.shuffle(jobs)
        per_tenant[t] = jobs
    return interleave([per_tenant[t] for t in tenants])


def interleave(lists: list[list[tuple[str, str, int, float]]]) -> list[tuple[str, str, int, float]]:
    out = []
    for i in range(max(len(v) for v in lists)):
        for jobs in lists:
            if i < len(jobs):
                out.append(jobs[i])
    return out


def tree_workload(seed: int, scale: float) -> list[tuple[str, str, int, float]]:
    """The jobs of the five centers of ``--shape centers`` (cohort i's as center i's), one
    cohort after another in turn."""
    per_cohort = []
    for c in range(COHORTS):
        jobs = workload(seed + c, [f"cohort-{c + 1}-{t}" for t in TENANTS])
        per_cohort.append(jobs[: int(len(jobs) * scale)] if scale < 1.0 else jobs)
    return interleave(per_cohort)


def ts(value: str | None) -> float:
    assert value is not None
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", choices=["tree", "centers"], default="tree",
                        help="tree: one center of 600 devices, 5 parents of 6 children; centers: a "
                             "center of 120 devices per cohort")
    parser.add_argument("--centers", type=int, default=5, help="with --shape centers: how many")
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the jobs (for a quick run)")
    parser.add_argument("--threads", type=int, default=None,
                        help="submitting connections per center (default: 4, 16 for the tree)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--smoke", action="store_true", help="one center, 2%% of the jobs: that it runs")
    args = parser.parse_args()
    tree = args.shape == "tree"
    if args.smoke:
        args.centers, args.scale = 1, 0.02
    if tree:
        args.centers = 1
    if args.threads is None:
        args.threads = 16 if tree else 4
    center = CENTERS / ("kueue-600.yaml" if tree else "kueue-cohort-120.yaml")
    devices_per_center = DEVICES_PER_COHORT * (COHORTS if tree else 1)
    tenants = [f"cohort-{c + 1}-{t}" for c in range(COHORTS) for t in TENANTS] if tree else TENANTS
    workdir = Path(tempfile.mkdtemp(prefix="aicc-kueue-"))
    servers = [Served(workdir / f"c{i}", admin_token=ADMIN, center=center, executor="sleep")
               for i in range(args.centers)]
    ports = [s.port for s in servers]
    try:
        for server in servers:
            server.wait_ready()
        tokens: list[dict[str, str]] = []
        for i in range(args.centers):
            c = Conn(ports[i])
            tokens.append({t: c.call("POST", f"/v1/admin/tenants/{t}/tokens", ADMIN, {"name": "bench"})[1]["token"]
                           for t in tenants})
        plans = []
        for i in range(args.centers):
            if tree:
                jobs = tree_workload(args.seed, args.scale)
            else:
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
                busy += sum(x["pending_jobs"] + x["running_jobs"] for x in u["items"] if x["tenant"] in tenants)
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
                               "usage_ratio": round(work / (devices_per_center * span), 4),
                               "lower_bound_s": round(work / devices_per_center, 2)})
            jobs += mine
    finally:
        for server in servers:
            server.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    capacity = devices_per_center * args.centers
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
        "shape": args.shape,
        "centers": args.centers,
        **servers[0].describe(), "smoke": args.smoke,
        "devices": capacity,
        "submit_s": round(submitted_s, 2),
        "per_center": per_center if not tree else None,
        "threads": args.threads,
        "kueue": {"makespan_s": 351, "usage_ratio": 0.587},
        "target": {"makespan_s": 80, "usage_ratio": 0.8},
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
