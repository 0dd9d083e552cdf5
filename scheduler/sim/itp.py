"""Microsoft ITP (ElasticFlow raw traces): 10 clusters as 10 tenants on one time axis.

Each cluster file becomes a tenant. Its guaranteed quota is sized from its own
load: its average GPU demand, sum(num_gpu x duration) over the span of the
merged trace (first submission to last end, all files), rounded up to whole
8-GPU nodes and to at least its largest gang. The shared center is the sum of
the guarantees (1,224 GPUs on the shipped files): exactly the cluster an
operator would buy if every tenant were sized to its mean load.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

from scheduler.domain import Quota, Tenant
from scheduler.sim.centers import accelerator, uniform_center
from scheduler.sim.trace import DEFAULT_TRACES, Trace, TraceError, TraceJob, gpu_node_split

FOLDER = "microsoft-itp-elasticflow"
NODE_SIZE = 8
#: ITP does not say which GPUs; a V100-class device (fp16 dense with tensor cores).
ITP_GPU = accelerator("v100", 125.0, 32)


def itp_files(root: Path) -> list[Path]:
    folder = root / FOLDER if (root / FOLDER).is_dir() else root
    files = sorted(folder.glob("cluster*.csv"))
    if not files:
        raise TraceError(f"{folder}: no cluster*.csv files (the ITP trace); pass --traces")
    return files


def load_itp(root: str | Path = DEFAULT_TRACES, *, limit_per_tenant: int | None = None,
             weight_by_guarantee: bool = True) -> Trace:
    """Read the cluster files in place; ``limit_per_tenant`` keeps each file's first jobs (tests)."""
    files = itp_files(Path(root))
    raw: list[tuple[int, int, str, int, int, str]] = []  # submit, file, id, duration, gpus, tenant
    for f_idx, path in enumerate(files):
        tenant = path.stem.replace("cluster", "itp")
        try:
            with path.open(newline="") as fh:
                for n, row in enumerate(csv.DictReader(fh)):
                    if limit_per_tenant is not None and n >= limit_per_tenant:
                        break
                    raw.append((int(row["submission_time"]), f_idx, row["job_id"],
                                int(row["duration"]), int(row["num_gpu"]), tenant))
        except (OSError, KeyError, ValueError) as exc:
            raise TraceError(f"{path}: cannot read: {exc}") from None
    raw.sort(key=lambda r: (r[0], r[1]))  # stable: file order within a second
    if not raw:
        raise TraceError(f"{files[0].parent}: the ITP files hold no jobs")
    start = raw[0][0]
    end = max(r[0] + r[3] for r in raw)
    span = end - start
    work: dict[str, int] = {}
    largest: dict[str, int] = {}
    jobs = []
    for i, (submit, _, _uuid, duration, gpus, tenant) in enumerate(raw):
        work[tenant] = work.get(tenant, 0) + gpus * duration
        largest[tenant] = max(largest.get(tenant, 0), gpus)
        workers, per = gpu_node_split(gpus, NODE_SIZE)
        jobs.append(TraceJob(f"{tenant}-{i}", tenant, float(submit - start), float(duration),
                             workers, per))
    guarantee = {t: guaranteed_gpus(work[t], span, largest[t]) for t in sorted(work)}
    total = sum(guarantee.values())
    center = uniform_center("itp", ITP_GPU, total // NODE_SIZE, NODE_SIZE)
    gflops = ITP_GPU.gflops
    tenants = {
        t: Tenant(t, Quota(g * gflops, total * gflops), weight=g / NODE_SIZE if weight_by_guarantee else 1.0)
        for t, g in guarantee.items()
    }
    notes = (f"ITP: {len(jobs)} jobs from {len(files)} clusters, span {span / 86400:.1f} days, "
             f"center {total} GPUs ({total // NODE_SIZE} nodes of {NODE_SIZE})",
             "guarantees (GPUs): " + ", ".join(f"{t}={g}" for t, g in guarantee.items()))
    return Trace("itp", tuple(jobs), center, tenants, None, notes)


def guaranteed_gpus(gpu_seconds: int, span_s: int, largest_gang: int) -> int:
    """Average demand rounded up to whole nodes, and at least the largest gang."""
    mean = gpu_seconds / span_s if span_s > 0 else 0.0
    nodes = max(math.ceil(mean / NODE_SIZE), math.ceil(largest_gang / NODE_SIZE), 1)
    return nodes * NODE_SIZE
