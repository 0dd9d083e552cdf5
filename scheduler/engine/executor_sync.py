"""What the executor says, applied to the engine's picture: events, notices, restarts.

The executor reports starts, ends and losses; each becomes a job transition that is
recorded before it is believed. ``reconcile`` repairs what a crash between the
store and the executor left. ``ExecutorSync`` is one of the ``Engine``'s parts.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from scheduler.domain import JobRecord, JobState
from scheduler.domain.job import FINISHED_STATES
from scheduler.engine.bookkeeping import JobBook, ran_until
from scheduler.engine.ports import EventKind, ExecutorEvent


class ExecutorSync(JobBook):
    """The engine's side of the executor's events, preemption notices and restarts."""

    def stop_notice(self, job_id: str) -> float | None:
        """When a preempted job that was given notice is to be stopped (None: not noticed)."""
        return self._noticed.get(job_id)

    def stop_noticed(self) -> None:
        """Stop the noticed victims whose notice is over (or that are no longer preempted)."""
        now = self.clock.now()
        for job_id, due in sorted(self._noticed.items(), key=lambda e: (e[1], e[0])):
            job = self.jobs.get(job_id)
            if job is None or job.state is not JobState.PREEMPTED:
                del self._noticed[job_id]
            elif due <= now:
                del self._noticed[job_id]
                self.executor.stop(job_id, self._grace(job.spec))

    def sync(self) -> int:
        """Poll the executor and apply what it reports; returns the number of events.

        The executor gives each event once: if the store cannot record them (the
        database is down), they are kept and applied first by the next sync.
        """
        if self._noticed:
            self.stop_noticed()
        events = [*self._unrecorded, *self.executor.poll()]
        self._unrecorded = []
        try:
            self.handle(events)
        except Exception:
            self._unrecorded = events
            raise
        return len(events)

    def handle(self, events: Iterable[ExecutorEvent]) -> None:
        changed: list[JobRecord] = []
        transitions: list[tuple[JobRecord, JobRecord]] = []
        released: list[str] = []
        requeued: list[JobRecord] = []
        updated: dict[str, JobRecord] = {}  # believed only once recorded
        for event in events:
            job = updated.get(event.job_id) or self.jobs.get(event.job_id)
            if job is None:
                continue
            new = self._apply(job, event)
            if new is not job:
                changed.append(new)
                transitions.append((job, new))
                updated[job.id] = new
            if event.kind is not EventKind.STARTED:
                released.append(job.id)
                if new.state is JobState.PENDING:
                    requeued.append(new)
        if changed:
            self.store.update_jobs(changed)
            self.jobs.update(updated)
            if self.estimator is not None:
                for job in changed:
                    if job.state in FINISHED_STATES:
                        self.estimator.observe(job)
        for job_id in released:
            self._unhold(job_id)
            self._forget_if_done(job_id)
        for job in requeued:
            self.queue.add(self._pending(job))
        if changed or released:
            self._waiting = None
        self._notify(transitions)

    def _apply(self, job: JobRecord, event: ExecutorEvent) -> JobRecord:
        kind, at, state = event.kind, event.at, job.state
        if kind is EventKind.STARTED:
            if state is JobState.ADMITTED:
                return replace(job, state=JobState.RUNNING, started_at=at)
            return job
        if state.terminal:
            return job  # e.g. cancelled: the stop just finished
        ran = ran_until(job, at)  # the attempt ends here, one way or another
        if kind in (EventKind.SUCCEEDED, EventKind.FAILED):
            final = JobState.SUCCEEDED if kind is EventKind.SUCCEEDED else JobState.FAILED
            return replace(job, state=final, finished_at=at, reason=kind.value.capitalize(),
                           detail=event.detail, ran_s=ran)
        lost = kind is EventKind.LOST
        retries = job.spec.max_retries
        if lost and retries is not None and job.node_losses >= retries:
            return replace(job, state=JobState.FAILED, finished_at=at, reason="NodeLost",
                           detail=f"{event.detail}; no retry left (max_retries {retries})", ran_s=ran)
        # STOPPED or LOST: the job goes back to the queue, keeping its place.
        if state is JobState.PREEMPTED or lost:
            return replace(job, state=JobState.PENDING, admitted_at=None, started_at=None,
                           placement=None, borrowing=False, preemptions=job.preemptions + 1,
                           node_losses=job.node_losses + lost,
                           reason="NodeLost" if lost else job.reason,
                           detail=event.detail or job.detail, ran_s=ran)
        return replace(job, state=JobState.FAILED, finished_at=at, reason="Stopped", detail=event.detail,
                       ran_s=ran)

    # -- restart --------------------------------------------------------------------

    def reconcile(self) -> list[str]:
        """Make the store and the executor agree after a restart; returns what was repaired."""
        known = self.executor.known()
        repairs: list[str] = []
        now = self.clock.now()
        for job_id in sorted(self.holding, key=lambda i: self.jobs[i].seq):
            job = self.jobs[job_id]
            seen = known.get(job_id)
            if seen is None:
                if job.state is JobState.ADMITTED:
                    self.executor.start(job, self._grace(job.spec))  # recorded, never started: start now
                    repairs.append(f"start {job_id}")
                else:  # it ran, or was being stopped, and is gone: requeue
                    self.handle([ExecutorEvent(job_id, EventKind.LOST if job.state is JobState.RUNNING
                                               else EventKind.STOPPED, now, "gone after restart")])
                    repairs.append(f"requeue {job_id}")
            elif seen is not EventKind.STARTED:
                self.handle([ExecutorEvent(job_id, seen, now, "finished while down")])
                repairs.append(f"{seen.value} {job_id}")
            else:
                if job.state is JobState.ADMITTED:
                    self.handle([ExecutorEvent(job_id, EventKind.STARTED, now)])
                if job.state is JobState.PREEMPTED:
                    self.executor.stop(job_id, self._grace(job.spec))
        for job_id in sorted(set(known) - set(self.holding)):
            if known[job_id] is EventKind.STARTED:
                self.executor.stop(job_id, 0.0)  # nobody owns it
                repairs.append(f"stop orphan {job_id}")
        for job_id in list(self.jobs):
            self._forget_if_done(job_id)
        if repairs:
            for o in self.observers:
                o.repaired(repairs)
        return repairs
