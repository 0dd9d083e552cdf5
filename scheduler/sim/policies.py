"""The policies a replay compares: knob sets of ``scheduler.core.Policy``.

- ``fifo``: one pooled queue in strict submission order; no quotas, no backfill, no preemption.
- ``static``: separate clusters, one per tenant sized to its guarantee (see
  ``scheduler.sim.partition``), each a plain FIFO queue: the status quo that
  pooling replaces, so that ``fifo`` against ``static`` is pooling alone.
- ``static-backfill``: the same clusters, each scheduled as aicc schedules a
  tenant within its guarantee (backfill reservations, priorities, aging; no
  borrowing, as there is nothing to borrow): the strongest baseline without pooling.
- ``drf``: weighted dominant-resource fair share, no quotas.
- ``aicc``: aicc's defaults (guarantees, borrowing, reclaim, fair share,
  backfill) plus shortest-first ordering by runtimes learned from each
  tenant's finished jobs; it never sees a job's true duration.
- ``oracle``: like ``aicc``, but its estimates are the true durations. An upper
  bound, labelled as such; the only policy that sees them.
- ``center``: the center file's own policy exactly as ``aicc serve`` runs it (its
  ``policy:`` knobs; learned estimates where it orders shortest first): the one
  to replay a center's history with.

Every policy starts from the center file's policy (``base``), so that knobs it sets
that a policy does not define (``min_runtime_s``, ``reservations``, ...) hold for all.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from scheduler.core import Blocking, Policy

POLICY_NAMES = ("fifo", "static", "static-backfill", "drf", "aicc", "oracle", "center")
#: ``--policy all``: every policy but the oracle and the center's own, which are asked for by name.
ALL_POLICIES = ("fifo", "static", "static-backfill", "drf", "aicc")


@dataclass(frozen=True)
class PolicySpec:
    name: str
    policy: Policy
    learned_estimates: bool  # use the learned runtime estimator
    oracle: bool = False  # estimates are the true durations
    label: str = ""
    separate: bool = False  # each tenant on a cluster of its own (scheduler.sim.partition)


def make_policy(name: str, base: Policy | None = None) -> PolicySpec:
    """The policy ``name`` from ``base`` (a trace's ``base_policy``; aicc's defaults if None)."""
    base = base or Policy()
    fifo = replace(base, quotas=False, fair_share=False, blocking=Blocking.GLOBAL, reclaim=False,
                   priority_preemption=False, aging_boost=0, shortest_first=False)
    if name == "fifo":
        return PolicySpec(name, fifo, False, label="FIFO: one queue, strict order")
    if name == "static":
        # A queue per cluster (the clusters share nothing, so the order across them
        # does not matter; fair share only keeps each tenant's jobs together).
        return PolicySpec(name, replace(fifo, fair_share=True, blocking=Blocking.TENANT), False,
                          label="static: separate clusters, each a FIFO queue", separate=True)
    if name == "static-backfill":
        return PolicySpec(name, replace(base, borrowing=False), False,
                          label="static-backfill: separate clusters, each with backfill", separate=True)
    if name == "drf":
        return PolicySpec(name, replace(base, quotas=False, shortest_first=False), False,
                          label="DRF: fair share, no quotas")
    if name == "aicc":
        return PolicySpec(name, replace(base, shortest_first=True), True,
                          label="aicc: quotas, borrowing, reclaim, fair share, backfill, learned estimates")
    if name == "oracle":
        return PolicySpec(name, replace(base, shortest_first=True), False, oracle=True,
                          label="ORACLE shortest-first (sees true durations; upper bound)")
    if name == "center":
        return PolicySpec(name, base, base.shortest_first,  # as the service: learned runtimes if it orders by them
                          label="center: the center file's policy, as aicc serve runs it")
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


STATIC_NOTES = {
    "static": "separate clusters: each tenant on whole nodes of its own, as many as its guarantee "
              "needs (in center order), each cluster a plain FIFO queue (priority class, then "
              "submission); nodes left over stay idle",
    "static-backfill": "separate clusters as in static, each scheduled as aicc schedules a tenant "
                       "within its guarantee: backfill reservations, priorities, aging",
}
