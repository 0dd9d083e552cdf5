"""Frozen domain objects: the center, tenants, quotas, jobs. No I/O."""

from scheduler.domain.center import AcceleratorType, Center, Node, NodeState, Pool
from scheduler.domain.job import (
    JobKind,
    JobRecord,
    JobSpec,
    JobState,
    Placement,
    Resources,
    TransitionError,
    WorkerPlacement,
    check_transition,
)
from scheduler.domain.tenant import (
    Isolation,
    Quota,
    QuotaError,
    Tenant,
    TreeError,
    ancestors,
    check_tree,
    parents_of,
    sold,
)
from scheduler.domain.units import format_compute, parse_compute, parse_memory

__all__ = [
    "AcceleratorType",
    "Center",
    "Isolation",
    "JobKind",
    "JobRecord",
    "JobSpec",
    "JobState",
    "Node",
    "NodeState",
    "Placement",
    "Pool",
    "Quota",
    "QuotaError",
    "Resources",
    "Tenant",
    "TransitionError",
    "TreeError",
    "WorkerPlacement",
    "ancestors",
    "check_transition",
    "check_tree",
    "format_compute",
    "parents_of",
    "parse_compute",
    "parse_memory",
    "sold",
]
