"""One scheduling step, and the requests that change the engine's picture.

The engine owns the live picture (queue, devices held, usage history) in
memory, loaded from the store at start. Every change is recorded in the store
before anyone acts on it: a step writes its admissions and preemptions, then
tells the executor. ``reconcile`` repairs what a crash between the two left.
The live service and the simulator both drive this class; only the clock,
the store and the executor differ.

Its parts, one concern each: ``bookkeeping`` (the picture and its indexes),
``executor_sync`` (the executor's events, notices, restarts), ``reading``
(queries); this module has the requests and the step.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace

from scheduler.core import Admit, Decision, Policy, Snapshot, schedule
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
from scheduler.engine.bookkeeping import ran_until
from scheduler.engine.clock import Clock
from scheduler.engine.executor_sync import ExecutorSync
from scheduler.engine.hooks import EngineObserver, RuntimeEstimator
from scheduler.engine.ports import Executor, SeparatesTenants, Store, StoredState, unwrapped
from scheduler.engine.reading import EngineReads

__all__ = ["Engine", "EngineObserver", "RuntimeEstimator"]


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


class Engine(ExecutorSync, EngineReads):
    """The live picture and the scheduling step; its requests record before they act."""

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
        self.preemption_notice_s = preemption_notice_s
        state = store.load()
        self._restore_center(center, state)
        self._init_holdings()
        self._init_step_state(state)
        if estimator is not None:  # it resumes from what finished before a restart
            for job in state.finished:
                estimator.observe(job)
        for job in state.jobs:
            self._load(job)

    def _restore_center(self, center: Center, state: StoredState) -> None:
        """The center as recorded (nodes cordoned or drained) and its tenants."""
        for name, node_state in state.node_states.items():
            if center.has_node(name):
                center = center.with_node_state(name, node_state)
        self.center = center
        self.tenants = dict(state.tenants)
        can = unwrapped(self.executor)  # the Ray executor: who runs isolated
        if isinstance(can, SeparatesTenants):
            can.bind_tenants(lambda name: t.isolation if (t := self.tenants.get(name)) is not None else None)

    def _init_step_state(self, state: StoredState) -> None:
        """The usage history and sequence as recorded; no step, budget or notice yet."""
        self.history = dict(state.usage_history)
        self.budget_exhausted = {}
        self.budget_figures = {}
        self.history_at = state.history_at
        self.next_seq = state.next_seq
        self.last_decision = None
        self._memo = {}
        self.last_step_at = None
        self.projection = None
        self._noticed = {}
        self.steps = 0
        self.decision_seconds = 0.0
        self._waiting = None
        self._unrecorded = []

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
                       ran_s=ran_until(job, now))
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

    def _preempt(self, job: JobRecord, reason: str, detail: str) -> None:
        stopped = replace(job, state=JobState.PREEMPTED, reason=reason, detail=detail)
        self.store.update_jobs([stopped])
        self.jobs[job.id] = stopped
        self._stopping(job.id)
        self.executor.stop(job.id, self._grace(job.spec))
        self._notify([(job, stopped)])

    # -- the step ----------------------------------------------------------------------

    def step(self) -> Decision:
        """Decide, record the admissions and preemptions, then tell the executor."""
        now = self.clock.now()
        began = time.perf_counter()
        decision = self._decide(now)
        admitted = [self._admitted(a, now) for a in decision.admits]
        preempted = []
        for p in decision.preempts:
            job = self.jobs[p.job_id]
            check_transition(job.state, JobState.PREEMPTED)
            preempted.append(replace(job, state=JobState.PREEMPTED, reason=p.reason.value,
                                     detail=f"for {p.for_job}"))
        if admitted or preempted:
            self.store.update_jobs(admitted + preempted)  # record ...
        before = {j.id: self.jobs[j.id] for j in admitted + preempted}
        self._apply_decision(admitted, preempted, now)  # ... then act
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

    def _decide(self, now: float) -> Decision:
        """The core's decision over the picture as of ``now`` (usage history advanced)."""
        self._advance_history(now)
        snapshot = Snapshot(self.center, self.tenants, tuple(self.holding.values()), self.history,
                            memo=self._memo, running_changes=self._held_changes,
                            budget_exhausted=self.budget_exhausted)
        with _gc_paused():
            deciding = time.perf_counter()
            decision = schedule(snapshot, self.queue, self.policy, now)
            self.decision_seconds += time.perf_counter() - deciding
        self._held_changes = {}  # (kept should the decision fail: applying them twice is harmless)
        return decision

    def _admitted(self, admit: Admit, now: float) -> JobRecord:
        """The job as admitted; a tenant whose budget is spent gets it best-effort."""
        job = self.jobs[admit.job_id]
        check_transition(job.state, JobState.ADMITTED)
        detail = ""
        if self.budget_exhausted and self.budget_exhausted.get(job.spec.tenant) == "best-effort":
            # budget spent: it runs on idle capacity, preemptible whatever it asked, and in
            # the lowest class, so that it is among the first victims
            classes = self.policy.priority_classes
            lowest = min(classes, key=lambda c: (classes[c], c))
            job = replace(job, spec=replace(job.spec, preemptible=True, priority=lowest))
            detail = f"best-effort: its tenant's budget is spent (runs preemptible, as {lowest})"
        return replace(job, state=JobState.ADMITTED, admitted_at=now, placement=admit.placement,
                       borrowing=admit.borrowing, reason="", detail=detail)

    def _apply_decision(self, admitted: list[JobRecord], preempted: list[JobRecord], now: float) -> None:
        """Hold the admitted jobs' devices, mark the victims stopping, tell the executor."""
        for job in admitted:
            self.jobs[job.id] = job
            queued = self.queue.remove(job.id)  # its runtime estimate lets backfill plan around it
            self._hold(self._allocation(
                job, terminating=False, estimate=queued.estimated_runtime_s if queued else None))
        for job in preempted:
            self.jobs[job.id] = job
            self._stopping(job.id)
        for job in admitted:
            self.executor.start(job, self._grace(job.spec))
        for job in preempted:
            if self.preemption_notice_s > 0:
                self._noticed[job.id] = now + self.preemption_notice_s
            else:
                self.executor.stop(job.id, self._grace(job.spec))
