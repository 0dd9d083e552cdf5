"""Job bodies: the spec a tenant submits (``JobSubmit``), the job as answered (``JobOut``),
its events, logs and checkpoint notices. ``JobSpecFields`` (generated from the domain's
``JobSpec``) is the one field list both share."""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import ConfigDict, Field, field_validator

from scheduler.api.models.common import Request, Response, escapes_jobs_dir
from scheduler.api.models.spec_fields import JobSpecFields


class JobSubmit(JobSpecFields, Request):
    """``POST /v1/jobs``: the job spec; the tenant comes from the token."""

    @field_validator("runtime_env")
    @classmethod
    def _storable(cls, value: dict[str, Any]) -> dict[str, Any]:
        """Plain JSON the store can keep (integers within 64 bits), or a 422 now rather
        than a failed write later."""
        try:
            orjson.dumps(value)
        except TypeError as exc:
            raise ValueError(f"not storable JSON: {exc}") from None
        for key in ("working_dir", "py_modules"):  # Ray packages local paths on the scheduler's host
            paths = value.get(key)
            for path in paths if isinstance(paths, list) else [paths]:
                if isinstance(path, str) and escapes_jobs_dir(path):
                    raise ValueError(f"{key}: {path!r} must be a remote URI (s3://, gs://, https://) "
                                     "or a relative path without '..'")
        return value


class ResourcesOut(Response):
    accelerators: int
    accelerator_types: list[str]
    cpus: int
    memory: str


class WorkerOut(Response):
    node: str
    devices: list[int]


class PlacementOut(Response):
    accelerator: str
    nodes: list[str]
    workers: list[WorkerOut]


class JobOut(JobSpecFields, Response):
    """A job: its spec (``JobSpecFields``, with memory shown with its unit) and where it is."""

    id: str
    tenant: str
    state: str
    devices: int
    resources: ResourcesOut  # type: ignore[assignment]  # memory with its unit, e.g. '80Gi'
    model_config = ConfigDict(json_schema_serialization_defaults_required=True)  # all are answered
    submitted_at: str
    admitted_at: str | None
    started_at: str | None
    finished_at: str | None
    placement: PlacementOut | None
    borrowing: bool
    #: Why it waits (pending), or why it ended; stable codes such as QuotaExhausted.
    reason: str
    detail: str
    #: 1-based place in its tenant's queue, while pending.
    queue_position: int | None
    #: While pending: when it is expected to start (null: unknown) and how that was found:
    #: reservation (backfill holds devices for it), projection (the scheduler run forward
    #: from now), or unknown (the detail says why, e.g. held by quota).
    expected_start_at: str | None = None
    expected_start_how: str | None = None
    expected_start_detail: str | None = None
    #: Times it went back to the queue (preempted, or lost with a node) ...
    preemptions: int
    #: ... of which lost with a node; it fails once this would pass max_retries.
    node_losses: int
    #: Seconds it ran in its attempts that ended; the attempt under way runs from started_at.
    ran_s: float
    #: While it waits: its estimated cost (devices x runtime estimate) exceeds what is left of its
    #: tenant's (or an ancestor's) budget this period.
    budget_warning: str | None = None


class CheckpointOut(Response):
    job: str
    #: when the checkpoint was taken, as recorded (never later than now)
    checkpointed_at: str


class StopNoticeOut(Response):
    job: str
    #: it is being preempted: checkpoint now (SIGTERM follows at stop_at, or at once without a notice)
    stop_requested: bool
    stop_at: str | None
    checkpointed_at: str | None


class JobList(Response):
    items: list[JobOut]
    #: Pass as ``continue`` for the next page; null on the last page.
    continue_: str | None = Field(alias="continue")
    model_config = ConfigDict(populate_by_name=True)


class JobEventOut(Response):
    """One recorded state change of a job (the decisions that moved it, too)."""

    at: str
    state: str
    reason: str
    detail: str
    placement: PlacementOut | None


class JobEventList(Response):
    items: list[JobEventOut]


class LogsOut(Response):
    job_id: str
    text: str
