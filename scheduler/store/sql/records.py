"""What the SQL store hands out besides domain objects: tokens, runs, and its errors."""

from __future__ import annotations

from dataclasses import dataclass


class StoreError(RuntimeError):
    """The database refused or failed a write."""


class DuplicateIdempotencyKey(StoreError):
    """Another job of this tenant was submitted with the same Idempotency-Key."""


@dataclass(frozen=True, slots=True)
class TokenInfo:
    id: str
    tenant: str | None  # None: an admin token
    name: str
    sha256: str
    created_at: float
    created_by: str
    revoked_at: float | None


@dataclass(frozen=True, slots=True)
class Run:
    """A stretch of a job holding devices while running (``ended_at`` None: still running)."""

    job_id: str
    tenant: str
    kind: str
    accelerator: str
    devices: int
    started_at: float
    ended_at: float | None
