"""Tenants and their quotas, in normalized compute (GFLOPS, fp16 dense)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from scheduler.domain.errors import Invalid
from scheduler.domain.units import format_compute


class QuotaError(Invalid):
    """A quota that contradicts itself; the message names the field."""

    def __init__(self, message: str) -> None:
        super().__init__("invalid-quota", message)


@dataclass(frozen=True, slots=True)
class Quota:
    """What a tenant bought.

    ``guaranteed``: always obtainable, by preemption of borrowers if lent.
    ``limit``: how far the tenant may go by borrowing idle capacity.
    ``lending_limit``: how much of its unused guarantee others may borrow
    (None: all of it). ``caps``: devices per accelerator type at most.
    """

    guaranteed: int
    limit: int
    lending_limit: int | None = None
    caps: Mapping[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.guaranteed < 0:
            raise QuotaError("guaranteed must not be negative")
        if self.limit < self.guaranteed:
            raise QuotaError("guaranteed must not exceed limit")
        if self.lending_limit is not None and not 0 <= self.lending_limit <= self.guaranteed:
            raise QuotaError("lending_limit must be between 0 and guaranteed")
        for accel, cap in self.caps.items():
            if cap < 0:
                raise QuotaError(f"caps.{accel} must not be negative")


class Isolation(StrEnum):
    """How far a tenant's job code is kept from other tenants' (see docs/SECURITY.md).

    ``isolated``: each job in a Ray instance of its own, as an OS identity of its tenant,
    in a sandbox that holds nothing of other tenants' or of the service's.
    ``shared``: the center's Ray cluster, for tenants that trust each other (the fast path).
    """

    ISOLATED = "isolated"
    SHARED = "shared"


@dataclass(frozen=True, slots=True)
class Tenant:
    name: str
    quota: Quota
    weight: float = 1.0
    #: SIGTERM to SIGKILL when its jobs are cancelled or preempted, unless a job's spec says
    #: (``runtime_env.grace_period_s``); None: the center's default
    grace_period_s: float | None = None
    #: the tenant this one's quota is carved out of (None: a top-level tenant); a parent
    #: holds quota and children, never jobs of its own
    parent: str | None = None
    isolation: Isolation = Isolation.ISOLATED

    def __post_init__(self) -> None:
        if not self.weight > 0:
            raise QuotaError("weight must be positive")
        if self.grace_period_s is not None and not 0 <= self.grace_period_s <= 86_400:
            raise QuotaError("grace_period_s must be between 0 and 86400")
        if self.parent is not None and self.parent == self.name:
            raise QuotaError("parent must not be the tenant itself")


class TreeError(QuotaError):
    """Tenants that do not form a tree whose guarantees fit; the message names both ends."""


def parents_of(tenants: Mapping[str, Tenant]) -> set[str]:
    """The tenants that have children (they hold no jobs)."""
    return {t.parent for t in tenants.values() if t.parent is not None}


def sold(tenants: Mapping[str, Tenant]) -> int:
    """The guarantees the center has sold: the top-level tenants' (children's are carved
    out of their parents')."""
    return sum(t.quota.guaranteed for t in tenants.values() if t.parent is None or t.parent not in tenants)


def ancestors(tenants: Mapping[str, Tenant], name: str) -> list[str]:
    """The tenant's parent, its parent's parent, ... (nearest first)."""
    out: list[str] = []
    up = tenants[name].parent if name in tenants else None
    while up is not None and up in tenants and up not in out and up != name:
        out.append(up)
        up = tenants[up].parent
    return out


def check_tree(tenants: Mapping[str, Tenant]) -> None:
    """Refuse tenants that are not a tree, or whose children's guarantees sum beyond their
    parent's: a quota change is checked against the whole tree, not one tenant."""
    children: dict[str, list[Tenant]] = {}
    for name in sorted(tenants):
        t = tenants[name]
        if t.parent is None:
            continue
        if t.parent not in tenants:
            raise TreeError(f"tenant {name}: parent {t.parent} does not exist")
        children.setdefault(t.parent, []).append(t)
    for name in sorted(tenants):  # no cycles: every chain of parents ends
        seen = {name}
        up = tenants[name].parent
        while up is not None:
            if up in seen:
                raise TreeError(f"tenant {name}: its parents form a cycle through {up}")
            seen.add(up)
            up = tenants[up].parent
    for parent in sorted(children):
        kids = children[parent]
        total = sum(k.quota.guaranteed for k in kids)
        p = tenants[parent].quota
        if total > p.guaranteed:
            each = ", ".join(f"{k.name} {format_compute(k.quota.guaranteed)}" for k in kids)
            raise TreeError(
                f"children of {parent} ({each}) guarantee {format_compute(total)} in all, more than "
                f"{parent}'s {format_compute(p.guaranteed)}")
