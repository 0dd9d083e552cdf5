"""The engine's live picture and how it is kept: jobs, the queue, devices held, usage.

``JobBook`` is the state every part of the engine reads (the step, the executor's
events, the read side); its methods keep the derived indexes (devices held per
tenant, the changes the decision's and the projections' memos have not seen)
in step with ``holding``. ``Engine`` builds on it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from scheduler.core import Allocation, Decision, PendingJob, Policy, decay_usage, dominant_share
from scheduler.core.projection import Projection
from scheduler.core.queue import PendingQueue
from scheduler.core.tree import subtree_sums, tree_of
from scheduler.domain import Center, JobRecord, JobSpec, JobState, Tenant
from scheduler.engine.clock import Clock
from scheduler.engine.hooks import EngineObserver, RuntimeEstimator
from scheduler.engine.ports import DEFAULT_GRACE_S, Executor, ExecutorEvent, Store


def ran_until(job: JobRecord, end: float) -> float:
    """What the job will have run once its attempt under way (if any) ends at ``end``."""
    if job.started_at is None:
        return job.ran_s
    return job.ran_s + max(0.0, end - job.started_at)


class JobBook:
    """The engine's state, and the bookkeeping that keeps its indexes consistent."""

    store: Store
    executor: Executor
    clock: Clock
    policy: Policy
    estimator: RuntimeEstimator | None
    observers: list[EngineObserver]
    journal: list[str] | None
    center: Center
    tenants: dict[str, Tenant]
    jobs: dict[str, JobRecord]
    queue: PendingQueue
    holding: dict[str, Allocation]
    #: devices held per tenant and accelerator type, kept as ``holding`` changes:
    #: every step reads them for the usage history
    _held: dict[str, dict[str, int]]
    _totals: tuple[Center, dict[str, int]] | None  # devices by type of a center
    #: per tenant, its dominant share of those totals, until its holdings change
    _shares: dict[str, float]
    #: ``holding`` changed since the last decision: by job id, the allocation or None
    _held_changes: dict[str, Allocation | None]
    #: the same for projections, which keep a memo of their own (``projection_inputs``)
    _projected_changes: dict[str, Allocation | None]
    _projection_memo: dict[str, Any]
    history: dict[str, float]
    history_at: float | None
    #: leaf tenants whose budget (or an ancestor's) is spent: "hold" or "best-effort"
    #: (set by whoever keeps the budgets: the service, the simulator)
    budget_exhausted: dict[str, str]
    #: per budgeted tenant, (available, spent) PFLOPS-hours this period, for the metrics
    budget_figures: dict[str, tuple[float, float]]
    next_seq: int
    last_decision: Decision | None
    _memo: dict[str, Any]  # what the decision may reuse between steps
    last_step_at: float | None
    #: the last projection of expected starts (``expected_starts``), kept off the step
    projection: Projection | None
    #: a victim of the scheduler is told first (its state is preempted: ``stop_notice``)
    #: and stopped this much later, so that it can checkpoint before SIGTERM
    preemption_notice_s: float
    _noticed: dict[str, float]  # job -> when it is to be stopped
    steps: int
    decision_seconds: float  # spent in the core's decision, over all steps (the rest is the engine's)
    _waiting: dict[str, tuple[str, str, int]] | None
    _unrecorded: list[ExecutorEvent]  # polled, but the store refused them

    def _init_holdings(self) -> None:
        """Nothing queued or held yet (``_load`` fills them from the store)."""
        self.jobs = {}
        self.queue = PendingQueue()
        self.holding = {}
        self._held = {}
        self._totals = None
        self._shares = {}
        self._held_changes = {}
        self._projected_changes = {}
        self._projection_memo = {}

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

    def _forget_if_done(self, job_id: str) -> None:
        """Terminal jobs leave memory once they hold nothing; the store keeps them."""
        job = self.jobs.get(job_id)
        if job is not None and job.state.terminal and job_id not in self.holding:
            del self.jobs[job_id]

    def _notify(self, changes: Sequence[tuple[JobRecord, JobRecord]]) -> None:
        for o in self.observers:
            for before, after in changes:
                o.changed(before, after)

    def _grace(self, spec: JobSpec) -> float:
        """The job's own grace period, else its tenant's, else the default."""
        grace = spec.runtime_env.get("grace_period_s") if spec.runtime_env else None
        if isinstance(grace, int | float):
            return float(grace)
        tenant = self.tenants.get(spec.tenant)
        if tenant is not None and tenant.grace_period_s is not None:
            return tenant.grace_period_s
        return DEFAULT_GRACE_S

    # -- usage history -------------------------------------------------------------------

    def _advance_history(self, now: float) -> None:
        """Decay the fair-share usage history up to ``now`` by what each tenant held."""
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
