"""Tenants and their quotas: create, update, show, quota history, delete."""

from __future__ import annotations

from pydantic import ConfigDict, Field

from scheduler.api.models.common import Caps, Compute, GraceS, Name, Request, Response, Weight
from scheduler.domain import Isolation


class QuotaIn(Request):
    """``PUT /v1/admin/tenants/{name}/quota``; omitted fields keep their value."""

    guaranteed: Compute | None = None
    limit: Compute | None = None
    #: How much of its unused guarantee others may borrow; null: all of it.
    lending_limit: Compute | None = None
    caps: Caps | None = None
    weight: Weight | None = None
    #: Accept guarantees that sum beyond the center's capacity.
    allow_overcommit: bool = False


class QuotaOut(Response):
    guaranteed: str
    guaranteed_pflops: float
    limit: str
    limit_pflops: float
    lending_limit: str | None
    lending_limit_pflops: float | None
    caps: dict[str, int]


class TenantCreate(Request):
    """``POST /v1/admin/tenants``; the quota may be given here or set later."""

    name: Name
    weight: Weight = 1.0
    guaranteed: Compute = 0
    limit: Compute | None = None
    lending_limit: Compute | None = None
    caps: Caps = Field(default_factory=dict)
    #: Seconds from SIGTERM to SIGKILL when its jobs are stopped, unless a job says; null: the center's.
    grace_period_s: GraceS | None = None
    #: The tenant whose guarantee this one's is carved out of; a parent holds no jobs.
    parent: Name | None = None
    #: isolated: each job in a Ray instance and sandbox of its own; shared: the center's Ray cluster.
    isolation: Isolation = Field(default=Isolation.ISOLATED, strict=False)  # its value, as in JSON
    allow_overcommit: bool = False


class TenantUpdate(Request):
    """``PATCH /v1/admin/tenants/{name}``: what is given changes; ``grace_period_s: null`` goes
    back to the center's default. An empty body changes nothing and is refused."""

    model_config = ConfigDict(json_schema_extra={"minProperties": 1})

    weight: Weight | None = None
    grace_period_s: GraceS | None = None
    #: Moves the tenant (and its subtree) under this parent; null: to the top level.
    parent: Name | None = None
    #: Jobs started from now on run so; running jobs keep theirs.
    isolation: Isolation | None = Field(default=None, strict=False)


class TenantOut(Response):
    name: str
    #: The tenant whose guarantee this one's is carved out of; null: a top-level tenant.
    parent: str | None = None
    #: Its children, if it is a parent (a parent holds no jobs).
    children: list[str] = []  # noqa: RUF012  (pydantic copies a default per instance)
    weight: float
    #: Seconds from SIGTERM to SIGKILL when its jobs are stopped, unless a job says; null: the center's.
    grace_period_s: float | None
    isolation: Isolation
    quota: QuotaOut
    live_jobs: dict[str, int]


class TenantList(Response):
    items: list[TenantOut]


class QuotaHistoryOut(Response):
    at: str
    actor: str
    action: str
    weight: float | None
    guaranteed: str | None
    limit: str | None
    lending_limit: str | None
    caps: dict[str, int] | None


class QuotaHistoryList(Response):
    items: list[QuotaHistoryOut]


class TenantDeleted(Response):
    name: str
    cancelled_jobs: list[str]
