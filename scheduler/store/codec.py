"""Domain objects to and from the plain dicts kept in JSON columns."""

from __future__ import annotations

from typing import Any

from scheduler.domain import (
    JobRecord,
    JobState,
)
from scheduler.domain import placement_codec as placements
from scheduler.domain.spec_codec import spec_from_dict, spec_to_dict


def job_state_columns(job: JobRecord) -> dict[str, Any]:
    """The columns that change over a job's life."""
    return {
        "state": job.state.value,
        "admitted_at": job.admitted_at,
        "started_at": job.started_at,
        "finished_at": job.finished_at,
        "placement": placements.to_dict(job.placement),
        "borrowing": job.borrowing,
        "reason": job.reason,
        "detail": job.detail,
        "preemptions": job.preemptions,
        "node_losses": job.node_losses,
        "ran_s": job.ran_s,
    }


def job_to_row(job: JobRecord) -> dict[str, Any]:
    return {
        "id": job.id,
        "seq": job.seq,
        "tenant": job.spec.tenant,
        "name": job.spec.name,
        "kind": job.spec.kind.value,
        "spec": spec_to_dict(job.spec),
        "submitted_at": job.submitted_at,
        **job_state_columns(job),
    }


def job_from_row(row: Any) -> JobRecord:
    m = row._mapping if hasattr(row, "_mapping") else row
    return JobRecord(
        id=m["id"],
        seq=int(m["seq"]),
        spec=spec_from_dict(m["tenant"], m["spec"]),
        state=JobState(m["state"]),
        submitted_at=m["submitted_at"],
        admitted_at=m["admitted_at"],
        started_at=m["started_at"],
        finished_at=m["finished_at"],
        placement=placements.from_dict(m["placement"]),
        borrowing=bool(m["borrowing"]),
        reason=m["reason"],
        detail=m["detail"],
        preemptions=int(m["preemptions"]),
        node_losses=int(m["node_losses"]),
        ran_s=float(m["ran_s"]),
    )
