"""Quota what-if: the pure core run on a copy of the live state with proposed quotas.

Nothing is recorded and nothing is told to the executor: the answer is what
the next step would do if the quotas were changed now, set against what it
would do without the change.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from scheduler.core import Decision, PendingJob, Policy, Snapshot, schedule
from scheduler.core.model import Allocation
from scheduler.core.queue import PendingQueue
from scheduler.domain import Center, Tenant


@dataclass(frozen=True)
class WhatIf:
    proposed: Decision
    current: Decision


def what_if(center: Center, tenants: Mapping[str, Tenant], proposed: Mapping[str, Tenant],
            holding: Sequence[Allocation], pending: Sequence[PendingJob],
            history: Mapping[str, float], policy: Policy, now: float) -> WhatIf:
    """Decide twice over the same state: with the tenants as they are, and as proposed."""
    current = schedule(Snapshot(center, tenants, holding, history), PendingQueue(pending), policy, now)
    changed = schedule(Snapshot(center, proposed, holding, history), PendingQueue(pending), policy, now)
    return WhatIf(changed, current)
