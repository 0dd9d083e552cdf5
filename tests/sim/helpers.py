"""Small centers and traces the sim tests build themselves."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from scheduler.domain import Quota, Tenant
from scheduler.sim.centers import accelerator, uniform_center
from scheduler.sim.trace import DEFAULT_TRACES, Trace, TraceJob

GPU = accelerator("gpu", 250.0)
G = GPU.gflops  # one device in GFLOPS


def small_center(nodes: int = 4, node_size: int = 8, nodes_per_rack: int = 2):  # type: ignore[no-untyped-def]
    return uniform_center("t", GPU, nodes, node_size, nodes_per_rack)


def tenants(**guarantees: int) -> dict[str, Tenant]:
    """tenant=guaranteed devices; the limit is the whole small center (32 devices)."""
    return {n: Tenant(n, Quota(g * G, 32 * G)) for n, g in guarantees.items()}


def job(i: int, tenant: str, submit: float, duration: float, devices: int = 1, *,
        priority: str = "normal", preemptible: bool = True) -> TraceJob:
    workers, per = (devices // 8, 8) if devices > 8 else (1, devices)
    return TraceJob(f"j{i:03d}", tenant, submit, duration, workers, per, priority=priority,
                    preemptible=preemptible)


def trace(jobs: list[TraceJob], nodes: int = 4, **guarantees: int) -> Trace:
    ordered = tuple(sorted(jobs, key=lambda j: (j.submit_s, j.id)))
    return Trace("test", ordered, small_center(nodes), tenants(**guarantees))


def traces_root() -> Path:
    """The real traces, or a loud skip (a failure under CI, which has them)."""
    root = DEFAULT_TRACES
    if not (root / "microsoft-itp-elasticflow").is_dir():
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but the traces folder {root} is missing")
        pytest.skip(f"SKIPPED: real traces not found at {root} (they sit beside the checkout in CI)")
    return root
