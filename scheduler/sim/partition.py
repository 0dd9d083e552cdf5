"""Separate clusters: the center split into one cluster per tenant, sized to its guarantee.

This is what pooling replaces, and what the ``static`` policies replay: each
tenant runs on nodes of its own and nothing else, however idle the others'.
Tenants take whole nodes in the center's order (tenants by name) until their
guarantee is covered; nodes left over belong to nobody and stay idle. The
split is expressed with what the core already has: a tenant's nodes get an
accelerator type of their own (``v100@itp01``, same device), and its jobs ask
for those types only, so no other tenant's job can land there. A job asking
for a type its tenant's cluster lacks can never start, as in a real cluster.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from scheduler.domain import Center, Quota, Tenant
from scheduler.sim.trace import TraceJob


def owned_type(accelerator: str, tenant: str) -> str:
    return f"{accelerator}@{tenant}"


def separate_clusters(center: Center, tenants: Mapping[str, Tenant], jobs: Sequence[TraceJob]
                      ) -> tuple[Center, dict[str, Tenant], tuple[TraceJob, ...]]:
    """The center split among ``tenants``, their quotas and ``jobs`` confined to their clusters."""
    nodes = list(center.nodes)
    accelerators = dict(center.accelerators)
    owned: dict[str, list[str]] = {}  # per tenant, the (original) types of its nodes
    size: dict[str, int] = {}  # per tenant, the GFLOPS of its nodes
    i = 0
    for name in sorted(tenants):
        kinds = owned[name] = []
        size[name] = 0
        while size[name] < tenants[name].quota.guaranteed and i < len(nodes):
            node = nodes[i]
            kind = center.accelerators[node.accelerator]
            mine = owned_type(kind.name, name)
            accelerators.setdefault(mine, replace(kind, name=mine))
            nodes[i] = replace(node, accelerator=mine)
            if kind.name not in kinds:
                kinds.append(kind.name)
            size[name] += node.devices * kind.gflops
            i += 1
    split = Center(f"{center.name}-separate", accelerators, tuple(nodes))
    # A tenant's quota is its cluster: whole nodes may hold a little more than its guarantee.
    confined = {name: replace(t, quota=Quota(size[name], size[name], 0, {
        owned_type(k, name): v for k, v in t.quota.caps.items()})) for name, t in tenants.items()}
    wanted: dict[tuple[str, tuple[str, ...]], tuple[str, ...]] = {}
    out = []
    for job in jobs:
        key = (job.tenant, job.accelerator_types)
        types = wanted.get(key)
        if types is None:
            # Any type: those of its own cluster; a cluster of no nodes has a type no node has.
            asked = job.accelerator_types or tuple(owned.get(job.tenant, ())) or ("none",)
            types = wanted[key] = tuple(owned_type(t, job.tenant) for t in asked)
        out.append(replace(job, accelerator_types=types))
    return split, confined, tuple(out)
