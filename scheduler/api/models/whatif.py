"""Quota what-if: what the next step would preempt and start were these quotas set now."""

from __future__ import annotations

from pydantic import Field

from scheduler.api.models.common import MAX_CHANGES, Caps, Compute, Name, Request, Response, Weight


class WhatIfChange(Request):
    tenant: Name
    guaranteed: Compute | None = None
    limit: Compute | None = None
    lending_limit: Compute | None = None
    caps: Caps | None = None
    weight: Weight | None = None
    #: Move the tenant (a team) under this parent; null: to the top level; absent: where it is.
    parent: Name | None = None


class WhatIfIn(Request):
    changes: list[WhatIfChange] = Field(min_length=1, max_length=MAX_CHANGES)


class WhatIfPreempt(Response):
    job_id: str
    tenant: str
    name: str
    devices: int
    reason: str
    for_job: str


class WhatIfStart(Response):
    job_id: str
    tenant: str
    name: str
    devices: int
    accelerator: str
    borrowing: bool


class WhatIfOut(Response):
    #: Running jobs the next step would preempt with the proposed quotas.
    would_preempt: list[WhatIfPreempt]
    #: Pending jobs the next step would start with the proposed quotas.
    would_start: list[WhatIfStart]
    #: Of those, the ones that would NOT happen without the change.
    preempt_because_of_change: list[str]
    start_because_of_change: list[str]
    #: Jobs that would start or be preempted without the change but not with it.
    prevented_by_change: list[str]
