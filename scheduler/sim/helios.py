"""SenseTime Helios VC quota tables: real per-tenant GPU shares, for tenant quotas.

``helios_shares(cluster, date)`` gives each virtual cluster's GPUs on a day
(the last day by default), leaving out VCs with none; ``tenants_for`` turns
shares into tenants whose guarantees split a center's compute in proportion.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from pathlib import Path

from scheduler.domain import Center, Quota, Tenant
from scheduler.sim.trace import DEFAULT_TRACES, TraceError

FOLDER = "helios-vc-quotas"
CLUSTERS = ("venus", "earth")


def helios_shares(cluster: str = "venus", date: str | None = None,
                  root: str | Path = DEFAULT_TRACES) -> dict[str, int]:
    if cluster not in CLUSTERS:
        raise TraceError(f"unknown Helios cluster {cluster!r}: expected one of {', '.join(CLUSTERS)}")
    folder = Path(root) / FOLDER if (Path(root) / FOLDER).is_dir() else Path(root)
    path = folder / f"{cluster}_cluster_gpu_number.csv"
    try:
        with path.open(newline="") as fh:
            rows = list(csv.DictReader(fh))
    except OSError as exc:
        raise TraceError(f"{path}: cannot read: {exc.strerror}") from None
    if not rows:
        raise TraceError(f"{path}: no rows")
    row = rows[-1] if date is None else next((r for r in rows if r["date"] == date), None)
    if row is None:
        raise TraceError(f"{path}: no row for date {date}")
    return {k.lower(): int(v) for k, v in row.items()
            if k not in ("date", "total") and v and int(v) > 0}


def tenants_for(shares: Mapping[str, int], center: Center, *, borrow_factor: float = 2.0) -> dict[str, Tenant]:
    """Guarantees in proportion to the shares, summing to the center; limits ``borrow_factor`` x."""
    capacity = center.capacity_gflops()
    total = sum(shares.values())
    out = {}
    for name in sorted(shares):
        g = capacity * shares[name] // total
        out[name] = Tenant(name, Quota(g, min(capacity, max(g, round(g * borrow_factor)))),
                           weight=shares[name] / 8)
    return out
