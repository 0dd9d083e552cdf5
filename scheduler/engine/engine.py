"""One scheduling step, and the bookkeeping around it.

The engine owns the live picture (queue, devices held, usage history) in
memory, loaded from the store at start. Every change is recorded in the store
before anyone acts on it: a step writes its admissions and preemptions, then
tells the executor. ``reconcile`` repairs what a crash between the two left.
The live service and the simulator both drive this class; only the clock,
the store and the executor differ.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from typing import Any, Protocol

from scheduler.core import (
    Allocation,
    Decision,
    PendingJob,
    Policy,
    Snapshot,
    decay_usage,
    dominant_share,
    schedule,
)
from scheduler.core.projection import Projection, first_pending, project
from scheduler.core.queue import PendingQueue
from scheduler.core.tree import subtree_sums, tree_of
from scheduler.domain import (
    Center,
    JobRecord,
    JobSpec,
    JobState,
    NodeState,
    Tenant,
    check_transition,
    parents_of,
)
from scheduler.domain.errors import Conflict, Invalid, NotFound
from scheduler.domain.job import FINISHED_STATES
from scheduler.engine.clock import Clock
from scheduler.engine.ports import DEFAULT_GRACE_S, EventKind, Executor, ExecutorEvent, Store


class RuntimeEstimator(Protocol):
    """Learns how long a tenant's jobs run, for backfill and shortest-first ordering."""

    def estimate(self, spec: JobSpec) -> float | None: ...

    def observe(self, job: JobRecord) -> None:
        """A job finished; ``job.started_at`` and ``finished_at`` say how long it ran."""
        ...


class EngineObserver(Protocol):
    """Told of what the engine did, after it is recorded (metrics, logs, audit)."""

    def submitted(self, job: JobRecord) -> None: ...

    def stepped(self, decision: Decision, seconds: float, at: float) -> None: ...

    def changed(self, before: JobRecord, after: JobRecord) -> None:
        """A job's state changed (admitted, started, finished, preempted, requeued, cancelled)."""
        ...

    def repaired(self, repairs: Sequence[str]) -> None: ...


@contextmanager
def _gc_paused() -> Iterator[None]:
    """A step allocates many short-lived objects over a large live heap; a full
    collection in the middle would cost more than the step itself."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _ran(job: JobRecord, end: float) -> float:
    """What the job will have run once its attempt under way (if any) ends at ``end``."""
    if job.started_at is None:
        return job.ran_s
    return job.ran_s + max(0.0, end - job.started_at)


class Engine:
    def __init__(
        self,
        center: Center,
        store: Store,
        executor: Executor,
        clock: Clock,
        policy: Policy | None = None,
        *,
        journal: list[str] | None = None,
        estimator: RuntimeEstimator | None = None,
        observers: Sequence[EngineObserver] = (),
        preemption_notice_s: float = 0.0,
    ) -> None:
        self.store = store
        self.estimator = estimator
        self.observers = list(observers)
        self.executor = executor
        self.clock = clock
        self.policy = policy or Policy()
        self.journal = journal
        state = store.load()
        for name, node_state in state.node_states.items():
            if center.has_node(name):
                center = center.with_node_state(name, node_state)
        self.center = center
        self.tenants: dict[str, Tenant] = dict(state.tenants)
        bind = getattr(executor, "bind_tenants", None)  # the Ray executor: who runs isolated
        if callable(bind):
            bind(lambda name: t.isolation if (t := self.tenants.get(name)) is not None else None)
        self.jobs: dict[str, JobRecord] = {}
        self.queue = PendingQueue()
        self.holding: dict[str, Allocation] = {}
        #: devices held per tenant and accelerator type, kept as ``holding`` changes:
        #: every step reads them for the usage history
        self._held: dict[str, dict[str, int]] = {}
        self._totals: tuple[Center, dict[str, int]] | None = None  # devices by type of a center
        #: per tenant, its dominant share of those totals, until its holdings change
        self._shares: dict[str, float] = {}
        #: ``holding`` changed since the last decision: by job id, the allocation or None
        self._held_changes: dict[str, Allocation | None] = {}
        #: the same for projections, which keep a memo of their own (``projection_inputs``)
        self._projected_changes: dict[str, Allocation | None] = {}
        self._projection_memo: dict[str, Any] = {}
        self.history: dict[str, float] = dict(state.usage_history)
        #: leaf tenants whose budget (or an ancestor's) is spent: "hold" or "best-effort"
        #: (set by whoever keeps the budgets: the service, the simulator)
        self.budget_exhausted: dict[str, str] = {}
        #: per budgeted tenant, (available, spent) PFLOPS-hours this period, for the metrics
        self.budget_figures: dict[str, tuple[float, float]] = {}
        self.history_at = state.history_at
        self.next_seq = state.next_seq
        self.last_decision: Decision | None = None
        self._memo: dict[str, Any] = {}  # what the decision may reuse between steps
        self.last_step_at: float | None = None
        #: the last projection of expected starts (``expected_starts``), kept off the step
        self.projection: Projection | None = None
        #: a victim of the scheduler is told first (its state is preempted: ``stop_notice``)
        #: and stopped this much later, so that it can checkpoint before SIGTERM
        self.preemption_notice_s = preemption_notice_s
        self._noticed: dict[str, float] = {}  # job -> when it is to be stopped
        self.steps = 0
        self.decision_seconds = 0.0  # spent in the core's decision, over all steps (the rest is the engine's)
        self._waiting: dict[str, tuple[str, str, int]] | None = None
        self._unrecorded: list[ExecutorEvent] = []  # polled, but the store refused them
        if estimator is not None:  # it resumes from what finished before a restart
            for job in state.finished:
                estimator.observe(job)
        for job in state.jobs:
            self._load(job)

    # -- loading and indexing ----------------------------------------------------------

    def _load(self, job: JobRecord) -> None:
        self.jobs[job.id] = job
        if job.state is JobState.PENDING:
            self.queue.add(self._pending(job))
        elif job.state.holds_devices and job.placement is not None:
            self._hold(self._allocation(job, terminating=job.state is JobState.PREEMPTED))

    def _hold(self, alloc: Allocation) -> None:
        before = self.holding.get(alloc.id)
        if before is not None:
            self._count(before, -1)
        self.holding[alloc.id] = alloc
        self._held_changes[alloc.id] = alloc
        self._projected_changes[alloc.id] = alloc
        self._count(alloc, 1)

    def _unhold(self, job_id: str) -> None:
        alloc = self.holding.pop(job_id, None)
        if alloc is not None:
            self._held_changes[job_id] = None
            self._projected_changes[job_id] = None
            self._count(alloc, -1)

    def _stopping(self, job_id: str) -> None:
        """The job's devices stay held until the executor says they are free."""
        self._hold(replace(self.holding[job_id], terminating=True))

    def _count(self, alloc: Allocation, sign: int) -> None:
        tenant = alloc.spec.tenant
        by_type = self._held.setdefault(tenant, {})
        accel = alloc.placement.accelerator
        by_type[accel] = by_type.get(accel, 0) + sign * alloc.placement.devices
        self._shares.pop(tenant, None)

    def _pending(self, job: JobRecord) -> PendingJob:
        estimate = self.estimator.estimate(job.spec) if self.estimator is not None else None
        return PendingJob(job.id, job.seq, job.spec, job.submitted_at, job.preemptions, estimate)

    @staticmethod
    def _allocation(job: JobRecord, terminating: bool, estimate: float | None = None) -> Allocation:
        assert job.placement is not None
        start = job.started_at if job.started_at is not None else job.admitted_at
        return Allocation(job.id, job.seq, job.spec, job.placement, start or job.submitted_at, terminating,
                          estimate)

    # -- requests --------------------------------------------------------------------

    def submit(self, spec: JobSpec, job_id: str | None = None) -> JobRecord:
        job = self.prepare_submit(spec, job_id)
        self.store.add_job(job)
        self.accept(job)
        return job

    def prepare_submit(self, spec: JobSpec, job_id: str | None = None) -> JobRecord:
        """Check a submission and give it its sequence number, without recording it.

        The service records the job itself (batched with others, see the store's
        group commit) and then calls ``accept``; ``submit`` does both in one go.
        """
        if spec.tenant not in self.tenants:
            raise NotFound("unknown-tenant", f"tenant {spec.tenant!r} does not exist")
        if spec.tenant in parents_of(self.tenants):
            raise Invalid("tenant-is-parent", f"tenant {spec.tenant!r} is a parent: it holds quota and "
                          "children, not jobs; submit to one of its leaves")
        if spec.priority not in self.policy.priority_classes:
            known = ", ".join(self.policy.priority_classes)
            raise Invalid("unknown-priority", f"priority class {spec.priority!r} is not one of {known}")
        seq = self.next_seq
        job_id = job_id or f"j{seq}"
        if job_id in self.jobs:
            raise Conflict("duplicate-job", f"job {job_id} exists")
        self.next_seq = seq + 1
        return JobRecord(job_id, seq, spec, JobState.PENDING, self.clock.now())

    def accept(self, job: JobRecord) -> None:
        """Queue a job whose record is written (or queued for writing before any decision)."""
        self.jobs[job.id] = job
        self.queue.add(self._pending(job))
        self._waiting = None
        for o in self.observers:
            o.submitted(job)

    def forget(self, job_id: str) -> None:
        """Drop a pending job whose record could not be written."""
        job = self.jobs.get(job_id)
        if job is not None and job.state is JobState.PENDING:
            self.queue.remove(job_id)
            del self.jobs[job_id]
            self._waiting = None

    def cancel(self, job_id: str) -> JobRecord:
        job = self.jobs.get(job_id)
        if job is None:
            raise NotFound("job-not-found", f"job {job_id} not found")
        if job.state.terminal:
            return job
        now = self.clock.now()
        done = replace(job, state=JobState.CANCELLED, finished_at=now, reason="Cancelled", detail="",
                       ran_s=_ran(job, now))
        self.store.update_jobs([done])
        self.jobs[job_id] = done
        if self.queue.remove(job_id) is None and job_id in self.holding:
            self._stopping(job_id)
            self.executor.stop(job_id, self._grace(job.spec))
        self._forget_if_done(job_id)
        self._waiting = None
        self._notify([(job, done)])
        return done

    def put_tenant(self, tenant: Tenant) -> None:
        self.store.put_tenant(tenant)
        self.tenants[tenant.name] = tenant

    def delete_tenant(self, name: str, *, force: bool = False) -> list[str]:
        """Remove a tenant; with ``force``, cancel its live jobs first. Returns them."""
        live = sorted((j.id for j in self.jobs.values() if j.spec.tenant == name
                       and not j.state.terminal), key=lambda i: self.jobs[i].seq)
        if live and not force:
            raise Conflict("tenant-has-jobs", f"tenant {name!r} has {len(live)} live jobs")
        for job_id in live:
            self.cancel(job_id)
        self.store.delete_tenant(name)
        self.tenants.pop(name, None)
        return live

    def set_node_state(self, name: str, state: NodeState) -> None:
        if not self.center.has_node(name):
            raise NotFound("node-not-found", f"node {name!r} not found")
        self.store.set_node_state(name, state)
        self.center = self.center.with_node_state(name, state)

    def jobs_on_node(self, name: str) -> list[JobRecord]:
        return [self.jobs[a.id] for a in self.holding.values()
                if any(w.node == name for w in a.placement.workers)]

    def drain(self, name: str) -> list[str]:
        """Cordon a node and stop what runs on it (those jobs are requeued)."""
        self.set_node_state(name, NodeState.CORDONED)
        stopped = []
        for job in self.jobs_on_node(name):
            if job.state in (JobState.ADMITTED, JobState.RUNNING):
                self._preempt(job, "Drain", f"node {name} drained")
                stopped.append(job.id)
        return stopped

    # -- the step ----------------------------------------------------------------------

    def step(self) -> Decision:
        now = self.clock.now()
        began = time.perf_counter()
        self._advance_history(now)
        snapshot = Snapshot(self.center, self.tenants, tuple(self.holding.values()), self.history,
                            memo=self._memo, running_changes=self._held_changes,
                            budget_exhausted=self.budget_exhausted)
        with _gc_paused():
            deciding = time.perf_counter()
            decision = schedule(snapshot, self.queue, self.policy, now)
            self.decision_seconds += time.perf_counter() - deciding
        self._held_changes = {}  # (kept should the decision fail: applying them twice is harmless)
        admitted = []
        for a in decision.admits:
            job = self.jobs[a.job_id]
            check_transition(job.state, JobState.ADMITTED)
            detail = ""
            if self.budget_exhausted and self.budget_exhausted.get(job.spec.tenant) == "best-effort":
                # budget spent: it runs on idle capacity, preemptible whatever it asked, and in
                # the lowest class, so that it is among the first victims
                classes = self.policy.priority_classes
                lowest = min(classes, key=lambda c: (classes[c], c))
                job = replace(job, spec=replace(job.spec, preemptible=True, priority=lowest))
                detail = f"best-effort: its tenant's budget is spent (runs preemptible, as {lowest})"
            admitted.append(replace(job, state=JobState.ADMITTED, admitted_at=now,
                                    placement=a.placement, borrowing=a.borrowing, reason="", detail=detail))
        preempted = []
        for p in decision.preempts:
            job = self.jobs[p.job_id]
            check_transition(job.state, JobState.PREEMPTED)
            preempted.append(replace(job, state=JobState.PREEMPTED, reason=p.reason.value,
                                     detail=f"for {p.for_job}"))
        if admitted or preempted:
            self.store.update_jobs(admitted + preempted)  # record ...
        before = {j.id: self.jobs[j.id] for j in admitted + preempted}
        for job in admitted:
            self.jobs[job.id] = job
            queued = self.queue.remove(job.id)  # its runtime estimate lets backfill plan around it
            self._hold(self._allocation(
                job, terminating=False, estimate=queued.estimated_runtime_s if queued else None))
        for job in preempted:
            self.jobs[job.id] = job
            self._stopping(job.id)
        for job in admitted:  # ... then act
            self.executor.start(job, self._grace(job.spec))
        for job in preempted:
            if self.preemption_notice_s > 0:
                self._noticed[job.id] = now + self.preemption_notice_s
            else:
                self.executor.stop(job.id, self._grace(job.spec))
        self.last_decision = decision
        self.last_step_at = now
        self.steps += 1
        self._waiting = None
        if self.journal is not None:
            stamp = f"{now:.3f}"
            self.journal.extend(f"{stamp} {line}" for line in decision.journal_lines())
        self._notify([(before[j.id], j) for j in admitted + preempted])
        seconds = time.perf_counter() - began
        for o in self.observers:
            o.stepped(decision, seconds, now)
        return decision

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

    def _notify(self, changes: Sequence[tuple[JobRecord, JobRecord]]) -> None:
        for o in self.observers:
            for before, after in changes:
                o.changed(before, after)

    def _preempt(self, job: JobRecord, reason: str, detail: str) -> None:
        stopped = replace(job, state=JobState.PREEMPTED, reason=reason, detail=detail)
        self.store.update_jobs([stopped])
        self.jobs[job.id] = stopped
        self._stopping(job.id)
        self.executor.stop(job.id, self._grace(job.spec))
        self._notify([(job, stopped)])

    def _grace(self, spec: JobSpec) -> float:
        """The job's own grace period, else its tenant's, else the default."""
        grace = spec.runtime_env.get("grace_period_s") if spec.runtime_env else None
        if isinstance(grace, int | float):
            return float(grace)
        tenant = self.tenants.get(spec.tenant)
        if tenant is not None and tenant.grace_period_s is not None:
            return tenant.grace_period_s
        return DEFAULT_GRACE_S

    def _advance_history(self, now: float) -> None:
        if self.history_at is not None and now > self.history_at:
            if self._totals is None or self._totals[0] is not self.center:
                self._totals = (self.center, self.center.devices_by_type())
                self._shares = {}
            totals = self._totals[1]
            # What usage() counts; a tenant holding nothing has no share either way.
            shares = self._shares  # (most tenants' holdings did not change since the last step)
            for tenant, by_type in self._held.items():
                if tenant not in shares:
                    shares[tenant] = dominant_share(by_type, totals)
            if any(t.parent is not None for t in self.tenants.values()):
                # a parent's share is its subtree's: fair share compares siblings at each level
                tree = tree_of(self.tenants, self._memo)
                shares = dict(shares)
                for parent, by_type in subtree_sums(tree, self._held).items():
                    shares[parent] = dominant_share(by_type, totals)
            self.history = decay_usage(self.history, shares, now - self.history_at,
                                       self.policy.fair_share_half_life_s)
        self.history_at = now

    # -- what the executor says ------------------------------------------------------------

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
        ran = _ran(job, at)  # the attempt ends here, one way or another
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

    def _forget_if_done(self, job_id: str) -> None:
        """Terminal jobs leave memory once they hold nothing; the store keeps them."""
        job = self.jobs.get(job_id)
        if job is not None and job.state.terminal and job_id not in self.holding:
            del self.jobs[job_id]

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

    def checkpoint(self, job_id: str, at: float | None = None) -> bool:
        """The running job reports a checkpoint at ``at`` (default: now): the work before it
        survives a preemption, so it becomes a cheaper victim. False if it holds no devices
        or is being stopped (nothing changes then)."""
        alloc = self.holding.get(job_id)
        if alloc is None or alloc.terminating:
            return False
        now = self.clock.now()
        at = now if at is None else min(at, now)
        if alloc.checkpointed_at is not None and at <= alloc.checkpointed_at:
            return True
        self._hold(replace(alloc, checkpointed_at=at))
        return True

    # -- reading ----------------------------------------------------------------------

    def waiting(self, job_id: str) -> tuple[str, str, int] | None:
        """(reason, detail, position in its tenant's queue) from the last step."""
        if self._waiting is None:
            self._waiting = {}
            if self.last_decision is not None:
                for p in self.last_decision.pending:
                    self._waiting[p.job_id] = (p.reason.value, p.detail, p.position)
        return self._waiting.get(job_id)

    def projection_inputs(self, limit: int = 1000, include: Iterable[str] = ()
                          ) -> tuple[Snapshot, list[PendingJob], Policy, float]:
        """What ``project`` needs, copied (cheap: the running jobs and the first ``limit``
        pending ones), so that the projection itself runs without the engine's lock.

        The snapshot carries the projections' own memo (one projection at a time may use
        it: the caller serializes them), brought up to date with the changes since the last."""
        changes, self._projected_changes = self._projected_changes, {}
        snapshot = Snapshot(self.center, dict(self.tenants), tuple(self.holding.values()), dict(self.history),
                            memo=self._projection_memo, running_changes=changes)
        return snapshot, first_pending(self.queue, limit, include), self.policy, self.clock.now()

    def expected_starts(self, *, max_age_s: float = 5.0, limit: int = 1000,
                        include: Iterable[str] = ()) -> Projection:
        """The expected starts of the first ``limit`` pending jobs (and ``include``): the last
        projection while younger than ``max_age_s`` and it has them, else a fresh one."""
        wanted = list(include)
        cached = self.projection
        now = self.clock.now()
        if (cached is not None and now - cached.at <= max_age_s
                and all(j in cached.etas or j not in self.queue for j in wanted)):
            return cached
        snapshot, jobs, policy, now = self.projection_inputs(limit, wanted)
        self.projection = project(snapshot, jobs, policy, now, limit=len(jobs))
        self.projection.limit = limit
        return self.projection

    def usage(self) -> dict[str, dict[str, int]]:
        """Per tenant: devices held by accelerator type (terminating jobs included)."""
        out: dict[str, dict[str, int]] = {t: {} for t in sorted(self.tenants)}
        for a in self.holding.values():
            by_type = out.setdefault(a.spec.tenant, {})
            by_type[a.placement.accelerator] = by_type.get(a.placement.accelerator, 0) + a.placement.devices
        return out

    def live_jobs(self) -> Sequence[JobRecord]:
        return sorted(self.jobs.values(), key=lambda j: j.seq)

    def tenant_usage_gflops(self) -> Mapping[str, int]:
        gflops = {name: a.gflops for name, a in self.center.accelerators.items()}
        out = dict.fromkeys(self.tenants, 0)
        for a in self.holding.values():
            out[a.spec.tenant] = out.get(a.spec.tenant, 0) + gflops[a.placement.accelerator] * a.placement.devices
        return out
