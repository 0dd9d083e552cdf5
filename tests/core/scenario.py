"""A small language for scenario tests: these nodes, these quotas, these jobs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from scheduler.centerfile import build_center
from scheduler.core import Allocation, Decision, PendingJob, Policy, Snapshot, schedule
from scheduler.domain import Center, JobKind, JobSpec, Placement, Resources, Tenant, WorkerPlacement

TFLOPS = 250  # one test device: 250 TFLOPS, so 4 devices are 1 PFLOPS


def center(*pools: tuple[str, str, int, int], devices: int = 8, extra_types: Sequence[str] = (),
           tenants: Sequence[dict[str, Any]] = ()) -> tuple[Center, dict[str, Tenant]]:
    """pools: (name, accelerator, racks, nodes per rack). Every accelerator has 250 TFLOPS."""
    types = sorted({p[1] for p in pools} | set(extra_types))
    cfg = build_center({
        "name": "test",
        "accelerators": [{"name": t, "vendor_resource": "nvidia.com/gpu", "ray_resource": "GPU",
                          "memory": "80Gi", "tflops": {"fp16": TFLOPS}} for t in types],
        "pools": [{"name": n, "accelerator": a, "racks": r, "nodes_per_rack": k,
                   "devices_per_node": devices, "cpus_per_node": 64, "memory_per_node": "512Gi"}
                  for n, a, r, k in pools],
        "tenants": list(tenants),
        "allow_overcommit": True,
    })
    return cfg.center, cfg.tenants


def spec(tenant: str, workers: int = 1, per: int = 1, *, types: Sequence[str] = (), priority: str = "normal",
         runtime: float | None = 3600, max_runtime: float | None = None, preemptible: bool = True,
         cpus: int = 0, memory: int = 0, name: str = "job") -> JobSpec:
    return JobSpec(tenant, name, JobKind.TRAINING, workers, Resources(per, tuple(types), cpus, memory),
                   priority=priority, preemptible=preemptible, estimated_runtime_s=runtime,
                   max_runtime_s=max_runtime)


def pending(*specs: JobSpec, start_seq: int = 1, submitted_at: float = 0.0) -> list[PendingJob]:
    return [PendingJob(f"p{start_seq + i}", start_seq + i, s, submitted_at) for i, s in enumerate(specs)]


def running(job_id: str, s: JobSpec, nodes: Sequence[tuple[str, Sequence[int]]], accelerator: str,
            started_at: float = 0.0, seq: int = 0, terminating: bool = False) -> Allocation:
    placement = Placement(accelerator, tuple(WorkerPlacement(n, tuple(d)) for n, d in nodes))
    return Allocation(job_id, seq, s, placement, started_at, terminating)


def decide(c: Center, tenants: dict[str, Tenant], jobs: Sequence[PendingJob],
           allocations: Sequence[Allocation] = (), now: float = 1000.0, **policy: Any) -> Decision:
    """One decision; jobs are victims after 60 s here unless ``min_runtime_s`` says otherwise."""
    policy.setdefault("min_runtime_s", 60.0)
    return schedule(Snapshot(c, tenants, list(allocations)), jobs, Policy(**policy), now)


def admitted(d: Decision) -> dict[str, Placement]:
    return {a.job_id: a.placement for a in d.admits}


def waiting(d: Decision) -> dict[str, str]:
    return {p.job_id: p.reason.value for p in d.pending}


def nodes_of(p: Placement) -> list[str]:
    return [w.node for w in p.workers]
