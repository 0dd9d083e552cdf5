"""Usage now (per tenant) and the ledger of what was consumed over a time range."""

from __future__ import annotations

from scheduler.api.models.common import Response


class UsageOut(Response):
    tenant: str
    #: A parent's figures are its whole subtree's.
    parent: str | None = None
    guaranteed: str
    guaranteed_pflops: float
    limit: str
    limit_pflops: float
    in_use: str
    in_use_pflops: float
    borrowed: str
    borrowed_pflops: float
    devices: dict[str, int]
    pending_jobs: int
    running_jobs: int


class UsageList(Response):
    items: list[UsageOut]


class LedgerLineOut(Response):
    tenant: str
    accelerator: str
    kind: str
    jobs: int
    device_hours: float
    pflops_hours: float


class SubtreeTotalOut(Response):
    #: a parent: the figures are its whole subtree's
    tenant: str
    device_hours: float
    pflops_hours: float


class LedgerOut(Response):
    start: str
    end: str
    items: list[LedgerLineOut]
    total_device_hours: float
    total_pflops_hours: float
    #: per parent tenant whose leaves consumed something: the subtree summed
    subtrees: list[SubtreeTotalOut] = []  # noqa: RUF012  (pydantic copies a default per instance)
