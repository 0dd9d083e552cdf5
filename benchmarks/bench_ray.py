"""Jobs on the embedded local Ray: submit-to-running latency, and gangs started per second.

Starts an embedded Ray head declaring the shipped 610P center (242 virtual
nodes), and drives the real engine (MemoryStore, system clock) with the Ray
executor:

1. latency: ``--latency-jobs`` jobs one after another (2 workers x 1 device
   each): from ``engine.submit`` to the job being RUNNING in the engine, i.e.
   step (admit), placement group created and placed, Ray job submitted, Ray
   reports its entrypoint running, the executor's event applied.
2. burst: ``--burst`` gang jobs (2 workers x 2 A800s each: 200 of them fit the
   center's 1,024 A800s at once) submitted together; one step admits them all; gangs started per second is the burst size over
   the time until the last one is RUNNING. Also reported: how fast Ray placed
   the gangs (placement groups ready per second).

3. for comparison, ``--job-api-jobs`` jobs with a ``working_dir``, which Ray must
   package: they run as Ray Job Submission API jobs rather than in aicc's
   launcher (``job_api_submit_to_running_p50_s``).
4. isolated: ``--isolated-jobs`` jobs (1 worker x 2 devices) of an isolated tenant,
   one after another (``--isolated-only``: these alone): each in a sandbox and a Ray
   instance of its own, started for it (``isolated_submit_to_running_p50_s``: to its
   entrypoint running, once its Ray's GCS answers at RAY_ADDRESS; the rest of its head
   comes up meanwhile). Each connects to its Ray and runs one task; ``isolated_stages_p50_s``
   says when each stage was reached (``ISOLATED_STAGES``), ``first_task`` included: when
   its Ray was usable. ``ray_instance_start_s`` beside it is the embedded head's own start
   in this run: what starting a Ray instance costs on this machine now. Every other tenant
   is made shared here (the shipped center's tenants are isolated).

The shared jobs' entrypoint is ``true`` or ``sleep 1``: what is measured is aicc + Ray,
not the job. Prints, as its last line, one JSON object with
submit_to_running_p50_s and gangs_started_per_s (targets: <= 2 s and >= 10/s).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scheduler.centerfile import load_center
from scheduler.core import Policy
from scheduler.domain import Isolation, JobKind, JobSpec, JobState, Resources
from scheduler.engine import Engine
from scheduler.engine.clock import SystemClock
from scheduler.executors.ray import RayExecutor, RayPorts, RaySettings, make_ray_executor
from scheduler.store.memory import MemoryStore
from tests.ray_cluster import free_block

#: The one isolated tenant of this run; the others are shared.
ISOLATED_TENANT = "smart-city"
#: An isolated job connects to its own Ray and runs one task: when that is done, its Ray is
#: usable (its RUNNING comes earlier: its entrypoint starts once its GCS answers).
ISOLATED_ENTRYPOINT = ("python -c 'import ray, time; ray.init(); ray.get(ray.remote(lambda: 0).remote()); "
                       "print(\"first-task-at\", time.time())'")
#: Seconds from submit to: the sandbox spawned (admitted, gang placed), its runner's Python up,
#: its head's GCS answering, its entrypoint started, RUNNING in the engine, its head's ``ray
#: start`` done, the job's first Ray task done.
ISOLATED_STAGES = ("sandbox", "runner", "gcs", "entrypoint", "running", "ray_ready", "first_task")


def spec(tenant: str, name: str, workers: int, devices: int, entrypoint: str,
         working_dir: str | None = None) -> JobSpec:
    env: dict[str, object] = {"grace_period_s": 1}
    if working_dir:
        env["working_dir"] = working_dir
    return JobSpec(tenant, name, JobKind.BATCH, workers, Resources(devices, ("a800",)), entrypoint=entrypoint,
                   runtime_env=env)


def wait_running(engine: Engine, store: MemoryStore, ids: list[str], timeout_s: float) -> dict[str, float]:
    """Step and sync until every job has started (RUNNING or already ended); when each did."""
    started: dict[str, float] = {}
    deadline = time.monotonic() + timeout_s
    while len(started) < len(ids) and time.monotonic() < deadline:
        engine.step()
        engine.sync()
        now = time.monotonic()
        for i in ids:
            if i not in started and (store.jobs[i].started_at is not None
                                     or store.jobs[i].state is JobState.SUCCEEDED):
                started[i] = now
        time.sleep(0.02)
    return started


def main() -> None:
    ap = argparse.ArgumentParser(description="aicc on the embedded local Ray")
    ap.add_argument("--latency-jobs", type=int, default=10)
    ap.add_argument("--job-api-jobs", type=int, default=3)
    ap.add_argument("--no-launcher", action="store_true",
                    help="baseline: every job as a Ray Job Submission API job (AICC_RAY_LAUNCHER=0)")
    ap.add_argument("--burst", type=int, default=200)
    ap.add_argument("--port-base", type=int, default=20200,
                    help="the head's block of 100 ports (the next free block if it is taken)")
    ap.add_argument("--timeout", type=float, default=300.0, help="most seconds to wait for the burst")
    ap.add_argument("--isolated-jobs", type=int, default=3,
                    help="jobs of an isolated tenant, each in a sandbox and Ray instance of its own")
    ap.add_argument("--isolated-only", action="store_true",
                    help="only the isolated jobs (and the warm-up): no latency, Job API or burst jobs")
    ap.add_argument("--smoke", action="store_true",
                    help="2 latency jobs, 1 Job API job, 4 gangs, 1 isolated job: that it runs")
    args = ap.parse_args()
    if args.smoke:
        args.latency_jobs, args.job_api_jobs, args.burst, args.isolated_jobs = 2, 1, 4, 1
    if args.isolated_only:
        args.latency_jobs, args.job_api_jobs, args.burst = 0, 0, 0

    cfg = load_center()
    clock = SystemClock()
    began = time.monotonic()
    ports = RayPorts(free_block(args.port_base))
    ex = make_ray_executor(clock, center=cfg.center, settings=RaySettings(ports=ports,
                                                                launcher=not args.no_launcher),
                           base_dir=Path(__file__).resolve().parents[1])
    head_start_s = time.monotonic() - began
    print(f"embedded Ray head for {len(cfg.center.nodes)} virtual nodes up in {head_start_s:.1f} s", flush=True)
    try:
        tenants = {n: replace(t, isolation=Isolation.ISOLATED if n == ISOLATED_TENANT else Isolation.SHARED)
                   for n, t in cfg.tenants.items()}
        store = MemoryStore(tenants)
        engine = Engine(cfg.center, store, ex, clock, Policy(priority_classes=cfg.priority_classes))

        # Warm-up: the first job pays for Ray's first worker processes.
        warm = engine.submit(spec("vr", "warm", 1, 1, "true"))
        wait_running(engine, store, [warm.id], 120)

        latencies = []
        lat_ids = []
        for n in range(args.latency_jobs):
            t0 = time.monotonic()
            job = engine.submit(spec("finance", f"lat-{n}", 2, 1, "sleep 1"))
            lat_ids.append(job.id)
            got = wait_running(engine, store, [job.id], 120)
            if job.id in got:
                latencies.append(got[job.id] - t0)
                print(f"latency job {n}: {latencies[-1]:.2f} s", flush=True)
        wait_settled(engine, store, 120)
        stages = phase_medians(ex.timeline(), lat_ids)
        print(f"latency by stage (p50 s): {stages}", flush=True)

        job_api = []
        for n in range(args.job_api_jobs):
            t0 = time.monotonic()
            job = engine.submit(spec("finance", f"api-{n}", 2, 1, "sleep 1", working_dir="examples"))
            got = wait_running(engine, store, [job.id], 120)
            if job.id in got:
                job_api.append(got[job.id] - t0)
                print(f"job API job {n}: {job_api[-1]:.2f} s", flush=True)
        wait_settled(engine, store, 120)

        ids = []
        t0 = time.monotonic()
        for n in range(args.burst):
            ids.append(engine.submit(spec("large-models", f"gang-{n}", 2, 2, "true")).id)
        started = wait_running(engine, store, ids, args.timeout)
        elapsed = (max(started.values()) - t0) if started else float("nan")
        timeline = ex.timeline()
        placed = [t[1] for j, t in timeline.items() if j in set(ids) and t[1] is not None]
        placed_s = (max(placed) - t0) if placed else float("nan")
        print(f"burst: {len(started)}/{len(ids)} gangs started in {elapsed:.1f} s; "
              f"{len(placed)} placed by Ray in {placed_s:.1f} s", flush=True)
        wait_settled(engine, store, 120)

        isolated, iso_stages = [], []
        for n in range(args.isolated_jobs):
            t0, t0_wall = time.monotonic(), time.time()
            job = engine.submit(spec(ISOLATED_TENANT, f"iso-{n}", 1, 2, ISOLATED_ENTRYPOINT))
            got = wait_running(engine, store, [job.id], 300)
            wait_settled(engine, store, 120)
            if job.id in got:
                isolated.append(got[job.id] - t0)
                iso_stages.append(isolated_stages(ex, job.id, t0, t0_wall, running=isolated[-1]))
                print(f"isolated job {n}: {isolated[-1]:.2f} s; stages {iso_stages[-1]}", flush=True)
        result = {
            "submit_to_running_p50_s": round(statistics.median(latencies), 3) if latencies else None,
            "submit_to_running_p90_s": round(sorted(latencies)[int(0.9 * (len(latencies) - 1))], 3)
            if latencies else None,
            "gangs_started_per_s": round(len(started) / elapsed, 2) if started else 0.0,
            "job_api_submit_to_running_p50_s": round(statistics.median(job_api), 3) if job_api else None,
            "isolated_submit_to_running_p50_s": round(statistics.median(isolated), 3) if isolated else None,
            "isolated_jobs": len(isolated),
            "isolated_stages_p50_s": {k: round(statistics.median(d[k] for d in iso_stages if k in d), 2)
                                      for k in ISOLATED_STAGES if any(k in d for d in iso_stages)},
            "ray_instance_start_s": round(head_start_s, 1),
            "gangs_placed_per_s": round(len(placed) / placed_s, 2) if placed else 0.0,
            "launcher": not args.no_launcher,
            "burst": args.burst,
            "burst_started": len(started),
            "latency_stages_p50_s": stages,
            "gang_shape": "2 workers x 2 a800",
            "latency_jobs": len(latencies),
            "head_start_s": round(head_start_s, 1),
            "virtual_nodes": len(cfg.center.nodes),
            "executor": "ray", "store": "memory", "smoke": args.smoke,
        }
    finally:
        ex.close()
    print(json.dumps(result))


def phase_medians(timeline: dict[str, tuple[float, float | None, float | None, float | None]],
                  ids: list[str]) -> dict[str, float]:
    """Where the latency goes: placing the gang, submitting the Ray job, Ray starting its driver."""
    rows = [timeline[i] for i in ids if i in timeline and None not in timeline[i]]
    if not rows:
        return {}
    def med(k: int) -> float:
        return round(statistics.median(r[k] - r[k - 1] for r in rows), 3)  # type: ignore[operator]
    return {"place": med(1), "submit": med(2), "ray_start": med(3)}


def isolated_stages(ex: RayExecutor, job_id: str, t0: float, t0_wall: float, *, running: float) -> dict[str, float]:
    """When each stage of one isolated job's start was reached, in seconds from its submit
    (``ISOLATED_STAGES``): the executor's timeline, its runner's status file, its log."""
    out = {"running": running}
    spawned = ex.timeline().get(job_id, (0.0, None, None, None))[2]
    if spawned is not None:
        out["sandbox"] = spawned - t0
    root = ex.isolated_runs.root if ex.isolated_runs is not None else None
    for folder in sorted(root.glob(f"*{job_id}-*")) if root is not None else ():
        with contextlib.suppress(OSError, ValueError):
            phases = json.loads((folder / "status.json").read_text()).get("phases", {})
            out.update({k: at - t0_wall for k, at in phases.items() if k in ISOLATED_STAGES})
    found = re.search(r"first-task-at ([0-9.]+)", ex.logs(job_id) or "")
    if found:
        out["first_task"] = float(found.group(1)) - t0_wall
    return {k: round(v, 2) for k, v in out.items()}


def wait_settled(engine: Engine, store: MemoryStore, timeout_s: float) -> None:
    """Until every job has ended and given its devices back."""
    deadline = time.monotonic() + timeout_s
    while engine.holding and time.monotonic() < deadline:
        engine.step()
        engine.sync()
        time.sleep(0.1)


if __name__ == "__main__":
    main()
