"""Benchmark of the decision core (issue 2).

1. One full cycle with 100,000 pending jobs of mixed gang sizes against the
   default 610P center when it is full (target <= 100 ms).
2. Admissions from a burst of 50,000 mixed jobs into the empty 610P center, in
   one cycle on one core (target >= 20,000 admissions per second).
3. Both again with the center's tenants as a 3-level tree of the same total
   quotas (two organisations > the center's tenants > two desks each, jobs on
   the desks): the tree's cycle is to stay within 1.2x of the flat one.
4. Expected starts (issue 23): projecting the first 1,000 pending jobs of the
   full center forward with the same core (target <= 100 ms).

Gang sizes follow the published mix of the Microsoft ITP trace (69,351 jobs:
1 GPU 83.2%, 2: 2.1%, 4: 3.4%, 8: 10.1%, 16: 0.55%, 32: 0.51%, 64: 0.10%);
jobs of more than 8 devices are gangs of 8-device workers. Cycles run with the
garbage collector paused, as the engine runs them (scheduler/engine/engine.py);
the figure with it running is printed too. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scheduler.centerfile import load_center
from scheduler.core import Allocation, PendingJob, Policy, Snapshot, schedule
from scheduler.core.projection import project
from scheduler.core.queue import PendingQueue
from scheduler.domain import JobKind, JobSpec, Quota, Resources, Tenant

ITP_GANG_MIX = [(1, 57_682), (2, 1_483), (4, 2_371), (8, 7_009), (16, 381), (32, 354), (64, 71)]
RUNS = 5


def mixed_jobs(n: int, tenants: list[str], seed: int, first_seq: int = 1) -> list[PendingJob]:
    rnd = random.Random(seed)
    sizes = [s for s, _ in ITP_GANG_MIX]
    weights = [w for _, w in ITP_GANG_MIX]
    kinds = list(JobKind)
    jobs = []
    for i in range(n):
        devices = rnd.choices(sizes, weights)[0]
        workers, per = (devices // 8, 8) if devices > 8 else (1, devices)
        spec = JobSpec(
            rnd.choice(tenants), f"job-{i}", rnd.choice(kinds), workers,
            Resources(per, rnd.choice([(), ("a800",), ("ascend910b",)]), 4 * per, (32 * per) << 30),
            priority=rnd.choice(["low", "normal", "normal", "high"]),
            estimated_runtime_s=rnd.choice([600.0, 3600.0, 4 * 3600.0, None]),
            max_runtime_s=24 * 3600.0,
        )
        seq = first_seq + i
        jobs.append(PendingJob(f"j{seq}", seq, spec, submitted_at=float(i % 1000)))
    return jobs


def three_levels(tenants: dict[str, Tenant], capacity: int) -> dict[str, Tenant]:
    """The same tenants (the leaves, with their quotas) under two levels of parents that
    hold exactly their guarantees: org-1 and org-2 take the tenants in turn, and each
    org's tenants are grouped two by two into divisions."""
    out: dict[str, Tenant] = {}
    names = sorted(tenants)

    def parent(name: str, kids: list[Tenant], up: str | None) -> Tenant:
        g = sum(t.quota.guaranteed for t in kids)
        return Tenant(name, Quota(g, min(capacity, max(g, sum(t.quota.limit for t in kids)))), parent=up)

    for k in (1, 2):
        mine = [tenants[n] for i, n in enumerate(names) if i % 2 == k - 1]
        out[f"org-{k}"] = parent(f"org-{k}", mine, None)
        for d in range(0, len(mine), 2):
            div = f"org-{k}-div-{d // 2 + 1}"
            out[div] = parent(div, mine[d:d + 2], f"org-{k}")
            for t in mine[d:d + 2]:
                out[t.name] = Tenant(t.name, t.quota, t.weight, t.grace_period_s, div)
    return out


def cycles(center: object, tenants: dict[str, Tenant], leaves: list[str], policy: Policy, args: argparse.Namespace
           ) -> dict[str, float]:
    """The burst and full-center cycles of one set of tenants (jobs spread over ``leaves``)."""
    burst = PendingQueue(mixed_jobs(args.burst, leaves, seed=1))
    empty = Snapshot(center, tenants, [])  # type: ignore[arg-type]
    burst_runs = [timed(empty, burst, policy, 1000.0) for _ in range(args.runs)]
    burst_s = statistics.median(t for t, _ in burst_runs)
    fill_jobs = {j.id: j for j in mixed_jobs(50_000, leaves, seed=2, first_seq=1_000_000)}
    fill = schedule(empty, PendingQueue(fill_jobs.values()), policy, 0.0)
    running = [Allocation(a.job_id, fill_jobs[a.job_id].seq, fill_jobs[a.job_id].spec, a.placement,
                          started_at=float(i % 3000)) for i, a in enumerate(fill.admits)]
    full = Snapshot(center, tenants, running)  # type: ignore[arg-type]
    queue = PendingQueue(mixed_jobs(args.pending, leaves, seed=3))
    runs = [timed(full, queue, policy, 10_000.0) for _ in range(args.runs)]
    return {"burst_cycle_ms": round(burst_s * 1000, 1),
            "burst_admitted": len(burst_runs[0][1].admits),  # type: ignore[attr-defined]
            "cycle_ms_100k_pending": round(statistics.median(t for t, _ in runs) * 1000, 1),
            "full_center_running_jobs": len(running),
            "full_cycle_admits": len(runs[0][1].admits),  # type: ignore[attr-defined]
            "full_cycle_preempts": len(runs[0][1].preempts)}  # type: ignore[attr-defined]


def timed(snapshot: Snapshot, queue: PendingQueue, policy: Policy, now: float, *, gc_on: bool = False) -> tuple[float, object]:
    gc.collect()
    if not gc_on:
        gc.disable()
    try:
        t = time.perf_counter()
        decision = schedule(snapshot, queue, policy, now)
        return time.perf_counter() - t, decision
    finally:
        gc.enable()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pending", type=int, default=100_000, help="jobs waiting in the full center")
    ap.add_argument("--burst", type=int, default=50_000, help="jobs of the burst into the empty center")
    ap.add_argument("--runs", type=int, default=RUNS, help="cycles timed (the median is the figure)")
    ap.add_argument("--smoke", action="store_true", help="1,000 jobs, one run: that it runs")
    args = ap.parse_args()
    if args.smoke:
        args.pending, args.burst, args.runs = 1_000, 1_000, 1
    cfg = load_center()
    policy = Policy(priority_classes=cfg.priority_classes)
    tenants = sorted(cfg.tenants)
    center = cfg.center

    # -- 2. burst into the empty center -------------------------------------------------
    burst = PendingQueue(mixed_jobs(args.burst, tenants, seed=1))
    empty = Snapshot(center, cfg.tenants, [])
    burst_runs = [timed(empty, burst, policy, 1000.0) for _ in range(args.runs)]
    burst_s = statistics.median(t for t, _ in burst_runs)
    burst_decision = burst_runs[0][1]
    admitted = len(burst_decision.admits)  # type: ignore[attr-defined]
    used = sum(a.placement.devices for a in burst_decision.admits)  # type: ignore[attr-defined]

    # -- 1. a full center and 100,000 pending --------------------------------------------
    fill_jobs = {j.id: j for j in mixed_jobs(50_000, tenants, seed=2, first_seq=1_000_000)}
    fill = schedule(empty, PendingQueue(fill_jobs.values()), policy, 0.0)
    running = [Allocation(a.job_id, fill_jobs[a.job_id].seq, fill_jobs[a.job_id].spec, a.placement,
                          started_at=float(i % 3000)) for i, a in enumerate(fill.admits)]
    full = Snapshot(center, cfg.tenants, running)
    queue = PendingQueue(mixed_jobs(args.pending, tenants, seed=3))
    now = 10_000.0
    runs = [timed(full, queue, policy, now) for _ in range(args.runs)]
    cycle_s = statistics.median(t for t, _ in runs)
    gc_on_s = statistics.median(timed(full, queue, policy, now, gc_on=True)[0] for _ in range(min(3, args.runs)))
    decision = runs[0][1]
    t = time.perf_counter()
    rows = decision.pending  # type: ignore[attr-defined]
    rows_s = time.perf_counter() - t
    free = sum(n.devices for n in center.nodes) - sum(a.placement.devices for a in running)

    # -- 4. expected starts of the first 1,000 of them -----------------------------------
    eta_runs = []
    for _ in range(args.runs):
        gc.collect()
        gc.disable()
        try:
            t = time.perf_counter()
            projection = project(full, queue, policy, now, limit=1000)
            eta_runs.append(time.perf_counter() - t)
        finally:
            gc.enable()
    eta_s = statistics.median(eta_runs)
    foreseen = sum(e.start is not None for e in projection.etas.values())

    # -- 3. the same, as a 3-level tree -----------------------------------------------------
    tree = three_levels(cfg.tenants, center.capacity_gflops())
    desks = tenants  # the leaves: the same tenants, the same jobs
    flat_again = cycles(center, cfg.tenants, tenants, policy, args)  # beside the tree's, in the same run
    in_tree = cycles(center, tree, desks, policy, args)

    result = {
        "cycle_ms_100k_pending": round(cycle_s * 1000, 1),
        "cycle_ms_100k_pending_gc_on": round(gc_on_s * 1000, 1),
        "pending_rows_ms": round(rows_s * 1000, 1),
        "full_center_devices_free": free,
        "full_center_running_jobs": len(running),
        "full_cycle_admits": len(decision.admits),  # type: ignore[attr-defined]
        "full_cycle_preempts": len(decision.preempts),  # type: ignore[attr-defined]
        "full_cycle_waiting": len(rows),
        "eta_ms_first_1000": round(eta_s * 1000, 1),
        "eta_jobs": len(projection.etas),
        "eta_foreseen": foreseen,
        "eta_cycles": projection.cycles,
        "admissions_per_s": round(admitted / burst_s),
        "burst_jobs": args.burst,
        "burst_admitted": admitted,
        "burst_devices_used": used,
        "burst_cycle_ms": round(burst_s * 1000, 1),
        "center_devices": sum(n.devices for n in center.nodes),
        "center_pflops": round(center.capacity_gflops() / 1e6, 3),
        "pending": args.pending,
        "flat": flat_again,
        "tree_3_levels": {**in_tree, "tenants": len(tree), "leaves": len(desks)},
        "tree_vs_flat_cycle": round(in_tree["cycle_ms_100k_pending"] / flat_again["cycle_ms_100k_pending"], 3),
        "tree_vs_flat_burst": round(in_tree["burst_cycle_ms"] / flat_again["burst_cycle_ms"], 3),
        "runs": args.runs,
        "smoke": args.smoke,
    }
    print(f"full center: {len(running)} jobs running, {free} devices free; {args.pending} pending: "
          f"{result['cycle_ms_100k_pending']} ms per cycle (target <= 100)")
    print(f"expected starts of the first {len(projection.etas)} pending: {result['eta_ms_first_1000']} ms "
          f"({projection.cycles} projected cycles, {foreseen} foreseen; target <= 100)")
    print(f"burst of {args.burst} into the empty center: {admitted} admitted in {result['burst_cycle_ms']} ms = "
          f"{result['admissions_per_s']}/s (target >= 20000)")
    print(f"3-level tree ({len(tree)} tenants, {len(desks)} leaves): {in_tree['cycle_ms_100k_pending']} ms per "
          f"cycle vs flat {flat_again['cycle_ms_100k_pending']} ms; burst {in_tree['burst_cycle_ms']} ms vs "
          f"{flat_again['burst_cycle_ms']} ms (target: within 1.2x)")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
