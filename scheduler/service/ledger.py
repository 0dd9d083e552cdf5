"""Accounting: what each tenant consumed, from the recorded runs of its jobs.

A run is a stretch of a job holding devices while it ran (the store writes
one when a job starts and closes it when the job ends or is requeued). The
ledger clips each run to the window asked for and sums device-seconds and
GFLOPS-seconds per tenant, accelerator type and job kind.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from scheduler.domain.units import GFLOPS_PER_PFLOPS
from scheduler.store import Run


@dataclass(frozen=True, slots=True)
class LedgerLine:
    tenant: str
    accelerator: str
    kind: str
    jobs: int
    device_hours: float
    pflops_hours: float


def ledger(runs: Iterable[Run], start: float, end: float, now: float,
           gflops_by_type: Mapping[str, int]) -> list[LedgerLine]:
    sums: dict[tuple[str, str, str], list[float]] = {}
    jobs: dict[tuple[str, str, str], set[str]] = {}
    for r in runs:
        lo = max(r.started_at, start)
        hi = min(r.ended_at if r.ended_at is not None else now, end)
        if hi <= lo:
            continue
        key = (r.tenant, r.accelerator, r.kind)
        dev_s = r.devices * (hi - lo)
        acc = sums.setdefault(key, [0.0, 0.0])
        acc[0] += dev_s
        acc[1] += dev_s * gflops_by_type.get(r.accelerator, 0)
        jobs.setdefault(key, set()).add(r.job_id)
    return [LedgerLine(t, a, k, len(jobs[(t, a, k)]), v[0] / 3600.0,
                       v[1] / 3600.0 / GFLOPS_PER_PFLOPS)
            for (t, a, k), v in sorted(sums.items())]
