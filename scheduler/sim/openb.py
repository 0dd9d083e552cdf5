"""Alibaba PAI openb (FGD, ATC '23): tasks with QoS classes on the real heterogeneous node list.

- Nodes: ``openb_node_list_gpu_node.csv``, one pool per GPU model, racks of 16
  nodes in file order (the trace gives no topology).
- Tasks: ``openb_pod_list_default.csv``. QoS ``LS`` (latency-sensitive) and
  ``Guaranteed`` become priority ``high``, not preemptible; ``BE``
  (best-effort) priority ``low``, preemptible; ``Burstable`` ``normal``.
  Run time is ``deletion_time - scheduled_time``.
- Not replayed, and counted in the notes: CPU-only tasks (0 GPUs), and tasks
  that never started (no ``scheduled_time``). aicc allocates whole devices, so
  a fractional GPU request (``gpu_milli`` < 1000) takes one whole device.
- Tenants: the trace has none. By default one tenant, ``pai``, owns the center;
  ``tenants_from`` spreads tasks over Helios VCs by their quota shares (seeded).
"""

from __future__ import annotations

import csv
import math
import random
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from scheduler.domain import Center, Node, Quota, Tenant
from scheduler.sim.centers import accelerator
from scheduler.sim.trace import DEFAULT_TRACES, Trace, TraceError, TraceJob

FOLDER = "alibaba-pai-openb-2023"
#: fp16 dense TFLOPS. G1/G2/G3 are Alibaba's undisclosed internal codes: assumed V100-class.
MODEL_TFLOPS = {"P100": 18.7, "T4": 65.0, "V100M16": 125.0, "V100M32": 125.0, "A10": 125.0,
                "G1": 125.0, "G2": 125.0, "G3": 125.0}
QOS_CLASS = {"LS": ("high", False), "Guaranteed": ("high", False), "Burstable": ("normal", True),
             "BE": ("low", True)}
NODES_PER_RACK = 16


def _folder(root: Path) -> Path:
    return root / FOLDER if (root / FOLDER).is_dir() else root


def load_openb_center(root: str | Path = DEFAULT_TRACES) -> Center:
    path = _folder(Path(root)) / "openb_node_list_gpu_node.csv"
    accels = {}
    nodes = []
    count: dict[str, int] = {}
    try:
        with path.open(newline="") as fh:
            for row in csv.DictReader(fh):
                gpus = int(row["gpu"])
                model = row["model"].strip()
                if gpus <= 0 or not model:
                    continue
                name = model.lower()
                if name not in accels:
                    accels[name] = accelerator(name, MODEL_TFLOPS.get(model, 125.0), 32)
                k = count.get(name, 0)
                count[name] = k + 1
                rack = f"{name}-r{k // NODES_PER_RACK + 1:03d}"
                nodes.append((name, Node(row["sn"], name, rack, name, gpus,
                                         math.ceil(int(row["cpu_milli"]) / 1000),
                                         int(row["memory_mib"]) << 20)))
    except (OSError, KeyError, ValueError) as exc:
        raise TraceError(f"{path}: cannot read: {exc}") from None
    # Pools in a stable order (by model name), nodes in file order within each.
    ordered = tuple(n for _, n in sorted(nodes, key=lambda x: x[0]))
    return Center("openb", dict(sorted(accels.items())), ordered)


def load_openb(root: str | Path = DEFAULT_TRACES, *, tenants_from: Mapping[str, int] | None = None,
               seed: int = 0, limit: int | None = None) -> Trace:
    """``tenants_from``: tenant -> share (e.g. Helios VC GPUs); tasks are drawn to tenants by share."""
    folder = _folder(Path(root))
    center = load_openb_center(root)
    path = folder / "openb_pod_list_default.csv"
    rng = random.Random(seed)
    names = sorted(tenants_from) if tenants_from else ["pai"]
    weights = [tenants_from[n] for n in names] if tenants_from else [1]
    jobs: list[TraceJob] = []
    skipped_cpu = skipped_never = fractional = 0
    try:
        with path.open(newline="") as fh:
            rows = list(csv.DictReader(fh))
    except OSError as exc:
        raise TraceError(f"{path}: cannot read: {exc.strerror}") from None
    rows.sort(key=lambda r: int(r["creation_time"]))  # stable: file order within a second
    for row in rows:
        if limit is not None and len(jobs) >= limit:
            break
        gpus = int(row["num_gpu"])
        if gpus <= 0:
            skipped_cpu += 1
            continue
        if not row["scheduled_time"]:
            skipped_never += 1
            continue
        if int(row["gpu_milli"]) < 1000:
            fractional += 1
        priority, preemptible = QOS_CLASS.get(row["qos"], ("normal", True))
        tenant = rng.choices(names, weights)[0] if len(names) > 1 else names[0]
        duration = max(1.0, float(int(row["deletion_time"]) - int(row["scheduled_time"])))
        jobs.append(TraceJob(row["name"], tenant, float(row["creation_time"]), duration, 1, gpus,
                             priority=priority, preemptible=preemptible,
                             cpus=math.ceil(int(row["cpu_milli"]) / 1000),
                             memory_bytes=int(row["memory_mib"]) << 20))
    if not jobs:
        raise TraceError(f"{path}: no GPU tasks")
    capacity = center.capacity_gflops()
    total_w = sum(weights)
    tenants = {}
    for n, w in zip(names, weights, strict=True):
        g = capacity * w // total_w
        tenants[n] = Tenant(n, Quota(g, capacity), weight=max(w / total_w * len(names), 1e-3))
    notes = (f"openb: {len(jobs)} GPU tasks on {len(center.nodes)} GPU nodes "
             f"({sum(center.devices_by_type().values())} GPUs, {len(center.accelerators)} models)",
             f"not replayed: {skipped_cpu} CPU-only tasks, {skipped_never} tasks that never started; "
             f"{fractional} fractional-GPU tasks take one whole GPU each")
    return Trace("openb", tuple(jobs), center, tenants,
                 {"high": 300, "normal": 200, "low": 100}, notes)


def plain_best_fit_fragmentation(trace: Trace) -> dict[str, float]:
    """Baseline: the same tasks placed by plain best-fit, in arrival order, no quotas.

    Each task goes, when it arrives (or as soon as any node can hold it, in
    order, skipping those that cannot), to the node with the fewest free GPUs
    that holds it, any model, first in node order on ties. Measures the same
    fragmentation figure as ``metrics.Recorder`` (time average of free GPUs
    that pending tasks cannot use, while any wait) and the average wait.
    """
    import heapq

    center = trace.center
    assert center is not None
    free = [n.devices for n in center.nodes]
    waiting: list[TraceJob] = []
    ends: list[tuple[float, int, int, int]] = []  # end, seq, node, gpus
    i = 0
    jobs = trace.jobs
    now = jobs[0].submit_s if jobs else 0.0
    frag_area = wait_time = 0.0
    tally = _Tally()
    current = 0.0
    while i < len(jobs) or ends or waiting:
        t_next = min(jobs[i].submit_s if i < len(jobs) else math.inf, ends[0][0] if ends else math.inf)
        if t_next == math.inf:
            break
        if waiting:
            frag_area += current * (t_next - now)
            wait_time += t_next - now
        now = t_next
        while ends and ends[0][0] <= now:
            _, _, node, gpus = heapq.heappop(ends)
            free[node] += gpus
        while i < len(jobs) and jobs[i].submit_s <= now:
            waiting.append(jobs[i])
            i += 1
        waiting = _place_best_fit(waiting, free, ends, now, tally)
        current = _unusable_free(free, waiting)
    queue_total, started = tally.queued_s, tally.started
    return {"unallocated_devices_fragmentation": round(frag_area / wait_time, 3) if wait_time else 0.0,
            "avg_queue_s": round(queue_total / started, 3) if started else 0.0}


@dataclass
class _Tally:
    """The baseline's running totals: queueing seconds and tasks started."""

    queued_s: float = 0.0
    started: int = 0


def _place_best_fit(waiting: list[TraceJob], free: list[int], ends: list[tuple[float, int, int, int]],
                    now: float, tally: _Tally) -> list[TraceJob]:
    """Start, in order, each waiting task some node holds, on the node with the fewest free
    GPUs that holds it; returns those still waiting."""
    import heapq

    still = []
    for job in waiting:
        best = -1
        for k, f in enumerate(free):
            if f >= job.per_worker and (best < 0 or f < free[best]):
                best = k
        if best < 0:
            still.append(job)
            continue
        free[best] -= job.per_worker
        tally.started += 1  # (also the sequence that orders equal ends)
        heapq.heappush(ends, (now + job.duration_s, tally.started, best, job.per_worker))
        tally.queued_s += now - job.submit_s
    return still


def _unusable_free(free: list[int], waiting: list[TraceJob]) -> float:
    """Free GPUs a waiting task cannot use, weighted by the share of waiting tasks too big for them."""
    if not waiting:
        return 0.0
    needs = [j.per_worker for j in waiting]
    total = len(needs)
    out = 0.0
    for f in free:
        if f:
            bigger = sum(1 for x in needs if x > f)
            out += f * bigger / total
    return out


def fragmentation_of(free_by_node: list[int], pending_per_worker: list[int]) -> float:
    """FGD's measure on the waiting workload: free devices a pending worker cannot use, weighted
    by the share of pending workers too big for them."""
    if not pending_per_worker:
        return 0.0
    total = len(pending_per_worker)
    needs = sorted(pending_per_worker)
    import bisect

    out = 0.0
    for f in free_by_node:
        if f:
            bigger = total - bisect.bisect_right(needs, f)
            out += f * bigger / total
    return out


def fill_snapshot(trace: Trace, policy: str = "aicc", *, trace_order: bool = False) -> dict[str, float]:
    """The FGD experiment: every task arrives, in trace order, and none leaves.

    One engine step (repeated while it admits) over the whole list; then how
    many GPUs are allocated, how many sit free while tasks still wait, and the
    fragmentation measure over what waits. The policy considers the tasks in
    its own order (aicc's: priority class first); ``trace_order`` puts every
    task in one class, so that only placement differs from a baseline in
    trace order.
    """
    from scheduler.sim.simulator import Simulation

    jobs = tuple(TraceJob(j.id, j.tenant, 0.0, 1e12, j.workers, j.per_worker, j.accelerator_types,
                          "normal" if trace_order else j.priority, j.preemptible, j.cpus, j.memory_bytes)
                 for j in trace.jobs)
    snap = replace(trace, jobs=jobs)
    sim = Simulation(snap, policy, progress=False)
    engine = sim.engine
    for j in sim.trace.jobs:  # (under static, confined to their tenants' clusters)
        engine.submit(j.spec(), j.id)
    while engine.step().admits:
        engine.sync()
    center = engine.center
    free = dict.fromkeys((n.name for n in center.nodes), 0)
    for n in center.nodes:
        free[n.name] = n.devices
    for a in engine.holding.values():
        for w in a.placement.workers:
            free[w.node] -= len(w.devices)
    waiting = [engine.jobs[p.id].spec.resources.accelerators for p in engine.queue]
    capacity = sum(n.devices for n in center.nodes)
    allocated = capacity - sum(free.values())
    return {"allocated_gpus": allocated, "unallocated_gpus": capacity - allocated,
            "placed_tasks": len(jobs) - len(waiting), "waiting_tasks": len(waiting),
            "fragmented_gpus": round(fragmentation_of(list(free.values()), waiting), 1)}


def fill_snapshot_best_fit(trace: Trace, *, priority_order: bool = False) -> dict[str, float]:
    """Baseline for ``fill_snapshot``: plain best-fit (tightest node of any model, first in node
    order on ties), each task in trace order, or with ``priority_order`` highest class first
    (aicc's order), skipped if no node holds it."""
    center = trace.center
    assert center is not None
    free = [n.devices for n in center.nodes]
    cpu = [n.cpus for n in center.nodes]
    mem = [n.memory_bytes for n in center.nodes]
    waiting = []
    classes = trace.priority_classes or {}
    jobs = sorted(trace.jobs, key=lambda j: -classes.get(j.priority, 0)) if priority_order else trace.jobs
    for j in jobs:
        best = -1
        for k, f in enumerate(free):
            if f >= j.per_worker and cpu[k] >= j.cpus and mem[k] >= j.memory_bytes and (
                    best < 0 or f < free[best]):
                best = k
        if best < 0:
            waiting.append(j.per_worker)
            continue
        free[best] -= j.per_worker
        cpu[best] -= j.cpus
        mem[best] -= j.memory_bytes
    capacity = sum(n.devices for n in center.nodes)
    allocated = capacity - sum(free)
    return {"allocated_gpus": allocated, "unallocated_gpus": capacity - allocated,
            "placed_tasks": len(trace.jobs) - len(waiting), "waiting_tasks": len(waiting),
            "fragmented_gpus": round(fragmentation_of(free, waiting), 1)}


def fill_comparison(trace: Trace, policies: list[str]) -> dict[str, Any]:
    """The FGD experiment for each policy, and against plain best-fit in the same order: aicc in
    trace order vs best-fit in trace order (placement alone), aicc vs best-fit in priority order."""
    fill: dict[str, Any] = {name: fill_snapshot(trace, name) for name in policies}
    fill["aicc_trace_order"] = fill_snapshot(trace, "aicc", trace_order=True)
    fill["plain_best_fit"] = fill_snapshot_best_fit(trace)
    fill["plain_best_fit_priority_order"] = fill_snapshot_best_fit(trace, priority_order=True)

    def fewer(ours: str, base: str) -> float | None:
        b = fill[base]["unallocated_gpus"]
        return round(1 - fill[ours]["unallocated_gpus"] / b, 3) if b else None

    fill["unallocated_fewer_than_best_fit"] = {
        "same_trace_order": fewer("aicc_trace_order", "plain_best_fit"),
        "same_priority_order": fewer("aicc", "plain_best_fit_priority_order") if "aicc" in fill else None}
    return fill
