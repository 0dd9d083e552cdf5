"""What-ifs for a study: a change of quotas (``--quota``), of the policy's knobs (``--set``),
or of the tenant tree (``--parent``), applied to a trace's tenants, and what it oversells.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import yaml

from scheduler.core import Policy
from scheduler.domain import Quota, QuotaError, Tenant, check_tree
from scheduler.domain import sold as sold_guarantees
from scheduler.domain.units import UnitError, format_compute, parse_compute
from scheduler.sim.trace import Trace


def policy_knobs(items: list[str]) -> dict[str, Any]:
    """``KNOB=VALUE`` pairs, values read as YAML (``7200``, ``false``, ``global``) as in a center
    file's ``policy:``, and checked by ``Policy.with_knobs``."""
    out: dict[str, Any] = {}
    for item in items:
        name, sep, value = (x.strip() for x in item.partition("="))
        if not sep or not name:
            raise ValueError(f"--set {item!r}: expected KNOB=VALUE, e.g. min_runtime_s=7200")
        try:
            out[name] = yaml.safe_load(value)
        except yaml.YAMLError:
            out[name] = value
    try:
        Policy().with_knobs(out)
    except ValueError as exc:
        raise ValueError(f"--set {exc}") from None
    return out


def with_quotas(tenants: Mapping[str, Tenant], changes: list[str]) -> dict[str, Tenant]:
    """The tenants with quotas changed as ``NAME=GUARANTEED[:LIMIT]`` says (``aicc quota set``'s units)."""
    out = dict(tenants)
    for change in changes:
        name, sep, value = change.partition("=")
        name = name.strip()
        if not sep or not value.strip():
            raise ValueError(f"--quota {change!r}: expected NAME=GUARANTEED[:LIMIT], e.g. vision=40P:60P")
        if name not in out:
            raise ValueError(f"--quota {change!r}: no tenant {name!r} here (tenants: {', '.join(sorted(out))})")
        old = out[name].quota
        guaranteed_s, _, limit_s = value.partition(":")
        try:
            guaranteed = parse_compute(guaranteed_s.strip())
            limit = parse_compute(limit_s.strip()) if limit_s.strip() else max(old.limit, guaranteed)
            lending = None if old.lending_limit is None else min(old.lending_limit, guaranteed)
            quota = replace(old, guaranteed=guaranteed, limit=limit, lending_limit=lending)
        except (UnitError, QuotaError) as exc:
            raise ValueError(f"--quota {change!r}: {exc}") from None
        out[name] = replace(out[name], quota=quota)
    return out


def with_parents(tenants: Mapping[str, Tenant], items: list[str], capacity: int) -> dict[str, Tenant]:
    """The tenants with ``CHILD=PARENT`` moves: a parent not among them is made, holding its
    children's guarantees (and their limits, up to the center's capacity); a made parent may
    itself be put under another."""
    moves: dict[str, str] = {}
    for item in items:
        child, sep, parent = (x.strip() for x in item.partition("="))
        if not sep or not child or not parent:
            raise ValueError(f"--parent {item!r}: expected CHILD=PARENT, e.g. itp01=org-a")
        moves[child] = parent
    made = sorted(set(moves.values()) - set(tenants))
    for child in moves:
        if child not in tenants and child not in made:
            raise ValueError(f"--parent {child}={moves[child]}: no tenant {child!r} here "
                             f"(tenants: {', '.join(sorted(tenants))})")
    out = {n: replace(t, parent=moves[n]) if n in moves else t for n, t in tenants.items()}

    def sums(name: str, seen: frozenset[str]) -> tuple[int, int]:
        if name in seen:
            raise ValueError(f"--parent: the parents form a cycle through {name}")
        if name in out:
            return out[name].quota.guaranteed, out[name].quota.limit
        kids = [sums(c, seen | {name}) for c, p in moves.items() if p == name]
        return sum(g for g, _ in kids), min(capacity, sum(limit for _, limit in kids))

    for name in made:
        g, limit = sums(name, frozenset())
        try:
            out[name] = Tenant(name, Quota(g, max(g, limit)), parent=moves.get(name))
        except QuotaError as exc:
            raise ValueError(f"--parent {name}: {exc}") from None
    try:
        check_tree(out)
    except QuotaError as exc:
        raise ValueError(f"--parent: {exc}") from None
    return out


def oversold(t: Trace, label: str) -> list[str]:
    """A note if the guarantees add up to more than the center holds."""
    sold = sold_guarantees(t.tenants)
    capacity = t.center.capacity_gflops() if t.center is not None else sold
    if sold <= capacity:
        return []
    return [f"{label} the guarantees sum to {format_compute(sold)}, more than the center's "
            f"{format_compute(capacity)}: not every tenant can hold its guarantee at once"]
