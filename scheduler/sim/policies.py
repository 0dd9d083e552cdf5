"""The policies a replay compares: knob sets of ``scheduler.core.Policy``.

- ``fifo``: one pooled queue in strict submission order; no quotas, no backfill, no preemption.
- ``static``: each tenant confined to its guarantee (no borrowing): separate
  clusters, modelled as slices of one shared pool (see ``static_note``).
- ``drf``: weighted dominant-resource fair share, no quotas.
- ``aicc``: aicc's defaults (guarantees, borrowing, reclaim, fair share,
  backfill) plus shortest-first ordering by runtimes learned from each
  tenant's finished jobs; it never sees a job's true duration.
- ``oracle``: like ``aicc``, but its estimates are the true durations. An upper
  bound, labelled as such; the only policy that sees them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from scheduler.core import Blocking, Policy

POLICY_NAMES = ("fifo", "static", "drf", "aicc", "oracle")
#: ``--policy all``: every policy but the oracle, which is asked for by name.
ALL_POLICIES = ("fifo", "static", "drf", "aicc")


@dataclass(frozen=True)
class PolicySpec:
    name: str
    policy: Policy
    learned_estimates: bool  # use the learned runtime estimator
    oracle: bool = False  # estimates are the true durations
    label: str = ""


def make_policy(name: str, priority_classes: Mapping[str, int] | None = None) -> PolicySpec:
    base = Policy() if priority_classes is None else Policy(priority_classes=dict(priority_classes))
    if name == "fifo":
        p = replace(base, quotas=False, fair_share=False, blocking=Blocking.GLOBAL, reclaim=False,
                    priority_preemption=False, aging_boost=0)
        return PolicySpec(name, p, False, label="FIFO: one queue, strict order")
    if name == "static":
        return PolicySpec(name, replace(base, borrowing=False), False,
                          label="static: each tenant within its guarantee")
    if name == "drf":
        return PolicySpec(name, replace(base, quotas=False), False, label="DRF: fair share, no quotas")
    if name == "aicc":
        return PolicySpec(name, replace(base, shortest_first=True), True,
                          label="aicc: quotas, borrowing, reclaim, fair share, backfill, learned estimates")
    if name == "oracle":
        return PolicySpec(name, replace(base, shortest_first=True), False, oracle=True,
                          label="ORACLE shortest-first (sees true durations; upper bound)")
    raise ValueError(f"unknown policy {name!r}: expected one of {', '.join(POLICY_NAMES)} or all")


def expand(names: str) -> list[str]:
    """``all`` or a comma-separated list, validated."""
    out: list[str] = []
    for n in (x.strip() for x in names.split(",")):
        for m in (ALL_POLICIES if n == "all" else (n,) if n else ()):
            if m not in out:
                out.append(m)
    for n in out:
        if n not in POLICY_NAMES:
            raise ValueError(f"unknown policy {n!r}: expected one of {', '.join(POLICY_NAMES)} or all")
    return out


STATIC_NOTE = (
    "static is modelled as slices of one shared pool: each tenant may hold at most its guarantee, "
    "but its jobs land on any node. Totals match separate clusters exactly (guarantees sum to the "
    "center), so a tenant always has enough free devices in total; what differs is placement: "
    "another tenant's small jobs may sit on the nodes a gang needs (counted as fragmentation), and "
    "no tenant is ever confined to a fixed set of nodes."
)
