"""Jobs, their events (every state change, with the leader epoch that decided it) and their
runs (each stretch holding devices, for the ledger). A submission is the hot path: its insert
goes to the writer as raw rows."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Future
from typing import Any

from sqlalchemy import Connection, and_, bindparam, func, insert, or_, select, update

from scheduler.domain import JobRecord, JobState
from scheduler.domain import placement_codec as placements
from scheduler.store.codec import job_from_row, job_state_columns, job_to_row
from scheduler.store.sql.base import SqlBase
from scheduler.store.sql.connect import dumps
from scheduler.store.sql.records import Run
from scheduler.store.sql.tables import events_t, jobs_t, runs_t
from scheduler.store.writer import Inserts, RawInsert

_JOB_COLUMNS = ("id", "seq", "tenant", "name", "kind", "state", "spec", "submitted_at", "admitted_at",
                "started_at", "finished_at", "placement", "borrowing", "reason", "detail", "preemptions",
                "node_losses", "ran_s", "idempotency_key", "request_sha256")
_EVENT_COLUMNS = ("job_id", "at", "state", "reason", "detail", "placement", "leader_epoch")
_INSERT_JOB = RawInsert("jobs", _JOB_COLUMNS)
_INSERT_EVENT = RawInsert("job_events", _EVENT_COLUMNS)


class JobTables(SqlBase):
    # -- writes (the engine's Store) ------------------------------------------------------

    def add_job(self, job: JobRecord) -> None:
        self.add_job_deferred(job).result()

    def add_job_deferred(self, job: JobRecord, idempotency_key: str | None = None,
                         request_sha256: str | None = None) -> Future[None]:
        """Queue a job's insert; the future resolves once it is committed."""
        r = job_to_row(job)
        r["spec"] = dumps(r["spec"])
        r["placement"] = None if r["placement"] is None else dumps(r["placement"])
        r["idempotency_key"] = idempotency_key
        r["request_sha256"] = request_sha256
        row = tuple(r[c] for c in _JOB_COLUMNS)
        ev = (job.id, job.submitted_at, job.state.value, job.reason, job.detail, r["placement"], self.epoch)
        return self.writer.submit(Inserts([(_INSERT_JOB, [row]), (_INSERT_EVENT, [ev])]))

    def update_jobs(self, jobs: Sequence[JobRecord]) -> None:
        if not jobs:
            return
        now = self.clock.now()
        rows = [{"_id": j.id, **job_state_columns(j)} for j in jobs]
        events = [_event(j, _event_time(j, now), self.epoch) for j in jobs]
        started = [j for j in jobs if j.state is JobState.RUNNING and j.placement is not None]
        ended = [(j.id, j.finished_at if j.finished_at is not None else now)
                 for j in jobs if j.state is JobState.PENDING or j.state.terminal]

        def write(conn: Connection) -> None:
            stmt = update(jobs_t).where(jobs_t.c.id == bindparam("_id"))
            conn.execute(stmt, rows)
            conn.execute(insert(events_t), events)
            if ended:
                conn.execute(update(runs_t).where(and_(runs_t.c.job_id == bindparam("_id"),
                                                       runs_t.c.ended_at.is_(None)))
                             .values(ended_at=bindparam("_end")),
                             [{"_id": i, "_end": e} for i, e in ended])
            if started:
                ids = [j.id for j in started]
                open_ = set(conn.execute(select(runs_t.c.job_id).where(
                    and_(runs_t.c.job_id.in_(ids), runs_t.c.ended_at.is_(None)))).scalars())
                new = [_run(j) for j in started if j.id not in open_]
                if new:
                    conn.execute(insert(runs_t), new)

        self.writer.run(write)

    # -- reads ----------------------------------------------------------------------------

    def get_job(self, job_id: str) -> JobRecord | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(jobs_t).where(jobs_t.c.id == job_id)).first()
        return job_from_row(row) if row is not None else None

    def find_idempotent(self, tenant: str, key: str) -> tuple[str, str | None] | None:
        """(job id, request sha256) of the job this tenant submitted with this key."""
        with self.engine.connect() as conn:
            row = conn.execute(select(jobs_t.c.id, jobs_t.c.request_sha256).where(
                and_(jobs_t.c.tenant == tenant, jobs_t.c.idempotency_key == key))).first()
        return (row.id, row.request_sha256) if row is not None else None

    def list_jobs(self, *, tenant: str | None = None, states: Sequence[str] = (),
                  kinds: Sequence[str] = (), after_seq: int | None = None,
                  limit: int = 100) -> list[JobRecord]:
        """Jobs in submission order, from after ``after_seq``."""
        q = select(jobs_t)
        if tenant is not None:
            q = q.where(jobs_t.c.tenant == tenant)
        if states:
            q = q.where(jobs_t.c.state.in_(list(states)))
        if kinds:
            q = q.where(jobs_t.c.kind.in_(list(kinds)))
        if after_seq is not None:
            q = q.where(jobs_t.c.seq > after_seq)
        q = q.order_by(jobs_t.c.seq).limit(limit)
        with self.engine.connect() as conn:
            return [job_from_row(r) for r in conn.execute(q)]

    def count_jobs(self, *, tenant: str | None = None, states: Sequence[str] = ()) -> int:
        q = select(func.count()).select_from(jobs_t)
        if tenant is not None:
            q = q.where(jobs_t.c.tenant == tenant)
        if states:
            q = q.where(jobs_t.c.state.in_(list(states)))
        with self.engine.connect() as conn:
            return int(conn.execute(q).scalar() or 0)

    def job_events(self, job_id: str) -> list[dict[str, Any]]:
        q = select(events_t).where(events_t.c.job_id == job_id).order_by(events_t.c.id)
        with self.engine.connect() as conn:
            return [{"at": r.at, "state": r.state, "reason": r.reason, "detail": r.detail,
                     "placement": r.placement} for r in conn.execute(q)]

    def runs(self, start: float, end: float, tenant: str | None = None) -> list[Run]:
        """Runs that overlap [start, end)."""
        q = select(runs_t).where(and_(runs_t.c.started_at < end,
                                      or_(runs_t.c.ended_at.is_(None), runs_t.c.ended_at > start)))
        if tenant is not None:
            q = q.where(runs_t.c.tenant == tenant)
        with self.engine.connect() as conn:
            return [Run(r.job_id, r.tenant, r.kind, r.accelerator, r.devices, r.started_at, r.ended_at)
                    for r in conn.execute(q.order_by(runs_t.c.id))]


def _event_time(job: JobRecord, now: float) -> float:
    s = job.state
    if s is JobState.ADMITTED and job.admitted_at is not None:
        return job.admitted_at
    if s is JobState.RUNNING and job.started_at is not None:
        return job.started_at
    if s.terminal and job.finished_at is not None:
        return job.finished_at
    return now


def _event(job: JobRecord, at: float, epoch: int | None) -> dict[str, Any]:
    return {"job_id": job.id, "at": at, "state": job.state.value, "reason": job.reason,
            "detail": job.detail, "placement": placements.to_dict(job.placement), "leader_epoch": epoch}


def _run(job: JobRecord) -> dict[str, Any]:
    assert job.placement is not None and job.started_at is not None
    return {"job_id": job.id, "tenant": job.spec.tenant, "kind": job.spec.kind.value,
            "accelerator": job.placement.accelerator, "devices": job.placement.devices,
            "started_at": job.started_at, "ended_at": None}
