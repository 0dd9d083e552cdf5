"""Tenants and their quotas, in normalized compute (GFLOPS, fp16 dense)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from scheduler.domain.errors import Invalid


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
    isolation: Isolation = Isolation.ISOLATED

    def __post_init__(self) -> None:
        if not self.weight > 0:
            raise QuotaError("weight must be positive")
        if self.grace_period_s is not None and not 0 <= self.grace_period_s <= 86_400:
            raise QuotaError("grace_period_s must be between 0 and 86400")
