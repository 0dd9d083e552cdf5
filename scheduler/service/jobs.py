"""Jobs: submission (never behind a step), views with why and when, cancel, checkpoints, logs."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Future
from typing import Any

from scheduler.core.projection import Projection, project
from scheduler.domain import JobRecord, JobSpec, JobState
from scheduler.domain.errors import Conflict, Invalid, NotFound, Unavailable
from scheduler.engine.ports import OffersLogs
from scheduler.service.base import JobView, ServiceBase

#: expected starts: how many of the first pending jobs a projection covers (besides those
#: asked for), and how long one is reused before it is projected afresh
ETA_JOBS = 1000
ETA_REFRESH_S = 5.0


class Jobs(ServiceBase):
    """Jobs: submit, see, cancel; checkpoints and expected starts."""

    def submit(self, spec: JobSpec, idempotency_key: str | None = None,
               request_sha256: str | None = None) -> tuple[JobRecord, Future[None], bool]:
        """Queue a job. Returns (job, commit future, created); answer only once the future is done.

        Never waits for a scheduling step: the job gets its sequence number and its
        insert is queued under a small lock of its own; the loop hands it to the
        engine before the next step (the insert is committed first: the writer
        keeps order).
        """
        if self.role != "leader":
            raise Unavailable("not-leader", "this replica does not lead; send writes to the leader")
        with self._submit_lock:
            if idempotency_key is not None:
                hit = self._idempotent(spec.tenant, idempotency_key)
                if hit is not None:
                    job, sha, future = hit
                    if sha != request_sha256:
                        raise Invalid("idempotency-key-reused",
                                           "this Idempotency-Key was used with another request body")
                    return self.engine.jobs.get(job.id, job), future, False
            self._check_accelerator_types(spec)
            job = self.engine.prepare_submit(spec)
            future = self.store.add_job_deferred(job, idempotency_key, request_sha256)
            self._inbox.append(job)
            self._submits += 1
            if idempotency_key is not None:
                if len(self._idem) > 10_000:
                    self._idem = {k: v for k, v in self._idem.items() if not v[2].done()}
                self._idem[(spec.tenant, idempotency_key)] = (job, request_sha256, future)
        future.add_done_callback(lambda f: self._committed(job.id, f))
        self.kick()
        return job, future, True

    def _check_accelerator_types(self, spec: JobSpec) -> None:
        """A type the center does not have could never run: refused at submission rather
        than left waiting forever (a known type that no node can hold is ``Unsatisfiable``).
        The simulator keeps such jobs, which never start, as its traces have them."""
        catalog = self.engine.center.accelerators
        unknown = [t for t in spec.resources.accelerator_types if t not in catalog]
        if unknown:
            raise Invalid("unknown-accelerator",
                               f"accelerator type {', '.join(map(repr, unknown))} is not one of this "
                               f"center's: {', '.join(catalog)}")

    def _committed(self, job_id: str, future: Future[None]) -> None:
        if future.exception() is not None:
            self._unrecorded.append(job_id)
            self.kick()

    def _idempotent(self, tenant: str, key: str) -> tuple[JobRecord, str | None, Future[None]] | None:
        hit = self._idem.get((tenant, key))
        if hit is not None:
            return hit
        stored = self.store.find_idempotent(tenant, key)
        if stored is None:
            return None
        job = self.store.get_job(stored[0])
        assert job is not None
        done: Future[None] = Future()
        done.set_result(None)
        return job, stored[1], done

    def current(self, job: JobRecord) -> JobRecord:
        """The freshest record of a job: memory for live jobs, else what is stored."""
        return self.engine.jobs.get(job.id, job)

    def quick_view(self, job: JobRecord) -> JobView:
        """The answer to a submission: the freshest record without taking the lock (no queue
        position), with the budget warning of the job as submitted (a step may have admitted it
        since: the warning is about its cost, which did not change)."""
        warning = self.budget_warning(job, submitted=True)
        job = self.engine.jobs.get(job.id, job)
        return JobView(job, job.reason, job.detail, None, warning)

    def view(self, job: JobRecord) -> JobView:
        projection = self.expected_starts([job.id]) if job.id in self.engine.queue else None
        with self._locked():
            return self._view(job, projection)

    def _view(self, job: JobRecord, projection: Projection | None = None) -> JobView:
        live = self.engine.jobs.get(job.id)
        if live is not None:
            job = live
        pending = job.state is JobState.PENDING
        eta = projection.get(job.id) if pending and projection is not None else None
        waiting = self.engine.waiting(job.id) if pending else None
        warning = self.budget_warning(job)
        if waiting is not None:
            return JobView(job, waiting[0], waiting[1], waiting[2], warning, eta)
        if pending:
            return JobView(job, job.reason or "Queued", job.detail or "not yet considered", None, warning, eta)
        return JobView(job, job.reason, job.detail, None)

    def expected_starts(self, include: Sequence[str] = ()) -> Projection:
        """The expected starts of the first pending jobs and ``include``: the engine's last
        projection while it is fresh (``eta_refresh_s``), else a new one, projected outside
        the engine's lock so that no step waits for it."""
        limit, max_age = ETA_JOBS, ETA_REFRESH_S
        with self._projection_lock:
            with self._locked():
                engine = self.engine
                cached = engine.projection
                if (cached is not None and self.clock.now() - cached.at <= max_age
                        and all(j in cached.etas or j not in engine.queue for j in include)):
                    return cached
                inputs = engine.projection_inputs(limit, include)
            projection = project(*inputs, limit=len(inputs[1]))
            projection.limit = limit
            engine.projection = projection
            return projection

    def get_job(self, job_id: str, tenant: str | None = None) -> JobView:
        job = self.engine.jobs.get(job_id) or self.store.get_job(job_id)
        if job is None or (tenant is not None and job.spec.tenant != tenant):
            raise NotFound("job-not-found", f"job {job_id!r} not found")
        return self.view(job)

    def list_jobs(self, *, tenant: str | None, states: Sequence[str], kinds: Sequence[str],
                  after_seq: int | None, limit: int) -> list[JobView]:
        jobs = self.store.list_jobs(tenant=tenant, states=states, kinds=kinds, after_seq=after_seq,
                                    limit=limit)
        queue = self.engine.queue
        waiting = [j.id for j in jobs if j.id in queue]
        projection = self.expected_starts(waiting) if waiting else None
        with self._locked():
            return [self._view(j, projection) for j in jobs]

    def cancel(self, actor: str, job_id: str, tenant: str | None = None) -> JobView:
        self.get_job(job_id, tenant)  # 404 for another tenant's job
        with self._locked():
            if job_id in self.engine.jobs:
                self.engine.cancel(job_id)
                if tenant is None:
                    self.store.audit(actor, "job.cancel", job_id, {})
        self.kick()
        return self.get_job(job_id, tenant)

    def checkpoint(self, job_id: str, tenant: str | None = None, at: float | None = None) -> float:
        """The job (its credential, or its tenant) reports a checkpoint: the work before it
        survives a preemption, so the scheduler prefers other victims. Returns its time."""
        self.get_job(job_id, tenant)  # 404 for another tenant's job
        with self._locked():
            now = self.clock.now()
            when = now if at is None else min(at, now)
            if not self.engine.checkpoint(job_id, when):
                raise Conflict("job-not-running", f"job {job_id!r} holds no devices: nothing to checkpoint")
        return when

    def stop_requested(self, job_id: str, tenant: str | None = None) -> tuple[bool, float | None, float | None]:
        """Whether the job is being preempted, when it is to be stopped (with a notice), and its
        last checkpoint: a job polls this to checkpoint before SIGTERM."""
        job = self.get_job(job_id, tenant).job
        with self._locked():
            alloc = self.engine.holding.get(job_id)
            return (job.state is JobState.PREEMPTED, self.engine.stop_notice(job_id),
                    alloc.checkpointed_at if alloc is not None else None)

    def job_events(self, job_id: str, tenant: str | None = None) -> list[dict[str, Any]]:
        """Every state change of a job, oldest first (404 for another tenant's job)."""
        self.get_job(job_id, tenant)
        return self.store.job_events(job_id)

    def live_job(self, job_id: str) -> JobRecord | None:
        """The job if the engine holds it (not finished long ago), without the lock."""
        return self.engine.jobs.get(job_id)

    def logs(self, job_id: str, tenant: str | None = None) -> str:
        job = self.get_job(job_id, tenant).job
        can = self._can
        if isinstance(can, OffersLogs):
            return str(can.logs(job_id))
        runtime = job.spec.runtime_env.get("sleep_s") if job.spec.runtime_env else None
        lines = [f"[aicc] job {job.id} ({job.spec.name}) is {job.state.value}",
                 f"[aicc] the sleep executor runs no process: a job sleeps for its runtime"
                 f" ({runtime if runtime is not None else job.spec.estimated_runtime_s or job.spec.max_runtime_s or 60}"
                 " s) and succeeds"]
        if job.placement is not None:
            lines.append(f"[aicc] placed on {', '.join(job.placement.nodes)} ({job.placement.devices}"
                         f" x {job.placement.accelerator})")
        return "\n".join(lines) + "\n"
