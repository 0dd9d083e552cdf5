"""What a replay measures, kept incrementally as the engine reports changes.

``Recorder`` is an ``EngineObserver``: it sees every submission and state
change, and the simulator tells it when time moves (``advance_to``) so that
time-weighted figures integrate the state that held over each interval.

Definitions (all time-weighted over the replay unless said otherwise):

- queueing delay of a job: JCT minus its true run time (time not spent making
  progress: waiting, and work lost to preemption).
- allocation ratio: devices held / devices in ready nodes. *Saturated*: the
  devices held plus those pending jobs ask for reach the capacity (the center
  could be full); also reported for the stricter "pending demand alone exceeds
  capacity".
- Jain's index over weighted shares: over the tenants with pending work (those
  that want more), x_i = devices held / weight; averaged over the time at least
  two tenants wait. 1 is perfectly fair.
- guarantee violations: per tenant, the time during which one of its pending
  jobs would fit in its unused guarantee and has waited longer than the reclaim
  grace (``grace_s``); summed over tenants, in tenant-seconds.
- unallocated devices due to fragmentation (FGD's measure, on the waiting
  workload): free devices on nodes too small for a pending job's worker,
  weighted by the share of pending jobs that cannot use them; averaged over
  the time some job waits.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from scheduler.core import Decision
from scheduler.domain import Center, JobRecord, JobState, Tenant

SATURATED_TARGET = 0.98


@dataclass
class JobResult:
    id: str
    tenant: str
    devices: int
    submit_s: float
    duration_s: float
    first_admit_s: float | None = None
    start_s: float | None = None
    finish_s: float | None = None
    preemptions: int = 0
    borrowed: bool = False
    #: the start the service would have answered at submission (None: unknown; nan: not asked)
    predicted_start_s: float | None = math.nan

    @property
    def jct_s(self) -> float | None:
        return None if self.finish_s is None else self.finish_s - self.submit_s

    @property
    def queue_s(self) -> float | None:
        jct = self.jct_s
        return None if jct is None else max(0.0, jct - self.duration_s)


@dataclass
class Sample:
    at: float
    held: tuple[int, ...]  # devices by tenant, in ``Recorder.tenant_names`` order
    pending: int  # devices asked for by pending jobs
    capacity: int


@dataclass
class _TenantState:
    guaranteed_gflops: int
    weight: float
    held_dev: int = 0
    held_gflops: int = 0
    pending_dev: int = 0
    pending_jobs: int = 0
    held_area: float = 0.0
    violation_s: float = 0.0
    #: need in GFLOPS -> heap of (pending since, seq, job id); stale entries are skipped
    waiting: dict[int, list[tuple[float, int, str]]] = field(default_factory=dict)
    #: since when its oldest job that fits its unused guarantee waits (inf: none); None: to be
    #: recomputed, after its queue or its usage changed (most intervals change neither)
    oldest: float | None = None


class Recorder:
    def __init__(self, center: Center, tenants: Mapping[str, Tenant], durations: Mapping[str, float],
                 *, grace_s: float = 120.0, samples: int = 2000, span_s: float = 0.0) -> None:
        self.center = center
        self.grace_s = grace_s
        self.durations = durations
        self.tenant_names = sorted(tenants)
        self.tenants = {n: _TenantState(tenants[n].quota.guaranteed, tenants[n].weight)
                        for n in self.tenant_names}
        self.gflops = {name: a.gflops for name, a in center.accelerators.items()}
        self.min_gflops = min(self.gflops.values())
        self._type_gflops: dict[tuple[str, ...], int] = {}  # GFLOPS per device a job counts, by its types
        self.node_size = {n.name: n.devices for n in center.nodes}
        self.node_ready = {n.name: n.schedulable for n in center.nodes}
        self.node_free = {n.name: n.devices for n in center.nodes}
        largest = max((n.devices for n in center.nodes), default=0)
        self.free_hist = [0] * (largest + 1)  # ready nodes by free devices
        for n in center.nodes:
            if n.schedulable:
                self.free_hist[n.devices] += 1
        self.capacity = sum(n.devices for n in center.nodes if n.schedulable)
        self.pending_per_worker = [0] * (largest + 2)  # pending jobs by devices per worker (capped)
        self.results: dict[str, JobResult] = {}
        self._pending_since: dict[str, float] = {}
        self._seq = 0
        self.held = 0
        self.pending_dev = 0
        self.preemptions = 0
        self.lost_device_s = 0.0  # device-seconds run and then lost to restarts (the simulator adds them)
        self.steps = 0
        self.step_seconds = 0.0
        self.max_step_s = 0.0
        self.first_at: float | None = None
        self.now = 0.0
        # integrals
        self.time = 0.0
        self.held_area = 0.0
        self.cap_area = 0.0
        self.sat_time = self.sat_held = self.sat_below = 0.0
        self.strict_time = self.strict_held = 0.0
        self.frag_area = self.wait_time = 0.0
        self.jain_area = self.jain_time = 0.0
        self._dirty = True
        self._frag = 0.0
        self._jain: float | None = None
        self.samples: list[Sample] = []
        self._sample_every = span_s / samples if span_s > 0 and samples > 0 else 0.0
        self._next_sample = 0.0

    # -- time --------------------------------------------------------------------------

    def advance_to(self, t: float) -> None:
        if self.first_at is None:
            self.first_at = t
            self.now = t
            self._next_sample = t
        dt = t - self.now
        if dt > 0:
            self._integrate(self.now, t, dt)
            self.now = t
        if t >= self._next_sample:
            self.sample(t)

    def sample(self, t: float) -> None:
        self.samples.append(Sample(t, tuple(self.tenants[n].held_dev for n in self.tenant_names),
                                   self.pending_dev, self.capacity))
        if self._sample_every:
            self._next_sample = t + self._sample_every

    def _integrate(self, t0: float, t1: float, dt: float) -> None:
        held, cap = self.held, self.capacity
        self.time += dt
        self.held_area += held * dt
        self.cap_area += cap * dt
        for ts in self.tenants.values():
            if ts.held_dev:
                ts.held_area += ts.held_dev * dt
        if self.pending_dev == 0:
            return
        if self._dirty:
            self._refresh()
        if held + self.pending_dev >= cap and cap:
            self.sat_time += dt
            self.sat_held += held / cap * dt
            if held < SATURATED_TARGET * cap:
                self.sat_below += dt
        if self.pending_dev > cap and cap:
            self.strict_time += dt
            self.strict_held += held / cap * dt
        self.wait_time += dt
        self.frag_area += self._frag * dt
        if self._jain is not None:
            self.jain_area += self._jain * dt
            self.jain_time += dt
        grace = self.grace_s
        for ts in self.tenants.values():
            oldest = ts.oldest
            if oldest is None:
                oldest = ts.oldest = self._oldest_fitting(ts)
            if oldest < math.inf:
                ts.violation_s += max(0.0, t1 - max(t0, oldest + grace))

    def _oldest_fitting(self, ts: _TenantState) -> float:
        """Since when the tenant's oldest pending job that fits its unused guarantee waits."""
        oldest = math.inf
        if not ts.pending_jobs:
            return oldest
        free = ts.guaranteed_gflops - ts.held_gflops
        if free <= 0:
            return oldest
        for need, heap in ts.waiting.items():
            if need > free:
                continue
            while heap and self._pending_since.get(heap[0][2]) != heap[0][0]:
                heapq.heappop(heap)
            if heap and heap[0][0] < oldest:
                oldest = heap[0][0]
        return oldest

    def _refresh(self) -> None:
        self._dirty = False
        # fragmentation: free devices on nodes that a pending worker cannot use
        total = sum(self.pending_per_worker)
        frag = 0.0
        if total:
            bigger = total  # pending jobs whose worker needs more than f devices
            per = self.pending_per_worker
            for f, nodes in enumerate(self.free_hist):
                bigger -= per[f] if f < len(per) else 0
                if f and nodes and bigger:
                    frag += nodes * f * bigger / total
        self._frag = frag
        xs = [ts.held_gflops / ts.weight for ts in self.tenants.values() if ts.pending_jobs]
        if len(xs) >= 2:
            s, s2 = sum(xs), sum(x * x for x in xs)
            self._jain = s * s / (len(xs) * s2) if s2 > 0 else 1.0
        else:
            self._jain = None

    # -- nodes -------------------------------------------------------------------------

    def node_state(self, name: str, ready: bool) -> None:
        if self.node_ready[name] == ready:
            return
        self.node_ready[name] = ready
        sign = 1 if ready else -1
        self.capacity += sign * self.node_size[name]
        self.free_hist[self.node_free[name]] += sign
        self._dirty = True

    def _node_take(self, name: str, devices: int) -> None:
        free = self.node_free[name]
        self.node_free[name] = free - devices
        if self.node_ready[name]:
            self.free_hist[free] -= 1
            self.free_hist[free - devices] += 1

    # -- the engine's hooks --------------------------------------------------------------

    def _need(self, job: JobRecord) -> int:
        types = job.spec.resources.accelerator_types
        g = self._type_gflops.get(types)
        if g is None:  # jobs ask for a few sets of types: work each out once
            g = min((self.gflops[t] for t in types if t in self.gflops), default=self.min_gflops)
            self._type_gflops[types] = g
        return job.spec.devices * g

    def _enqueue(self, job: JobRecord) -> None:
        ts = self.tenants[job.spec.tenant]
        devices = job.spec.devices
        ts.pending_dev += devices
        ts.pending_jobs += 1
        self.pending_dev += devices
        per = min(job.spec.resources.accelerators, len(self.pending_per_worker) - 1)
        self.pending_per_worker[per] += 1
        self._seq += 1
        self._pending_since[job.id] = self.now
        heapq.heappush(ts.waiting.setdefault(self._need(job), []), (self.now, self._seq, job.id))
        ts.oldest = None
        self._dirty = True

    def _dequeue(self, job: JobRecord) -> None:
        ts = self.tenants[job.spec.tenant]
        devices = job.spec.devices
        ts.pending_dev -= devices
        ts.pending_jobs -= 1
        self.pending_dev -= devices
        per = min(job.spec.resources.accelerators, len(self.pending_per_worker) - 1)
        self.pending_per_worker[per] -= 1
        del self._pending_since[job.id]
        ts.oldest = None
        self._dirty = True

    def submitted(self, job: JobRecord) -> None:
        spec = job.spec
        self.results[job.id] = JobResult(job.id, spec.tenant, spec.devices, job.submitted_at,
                                         self.durations[job.id])
        self._enqueue(job)

    def predicted(self, job_id: str, start: float | None) -> None:
        r = self.results.get(job_id)
        if r is not None:
            r.predicted_start_s = start

    def stepped(self, decision: Decision, seconds: float, at: float) -> None:
        self.steps += 1
        self.step_seconds += seconds
        if seconds > self.max_step_s:
            self.max_step_s = seconds

    def changed(self, before: JobRecord, after: JobRecord) -> None:
        state = after.state
        if state is JobState.ADMITTED:
            self._dequeue(after)
            placement = after.placement
            assert placement is not None
            devices = placement.devices
            ts = self.tenants[after.spec.tenant]
            ts.held_dev += devices
            ts.held_gflops += devices * self.gflops[placement.accelerator]
            ts.oldest = None
            self.held += devices
            for w in placement.workers:
                self._node_take(w.node, len(w.devices))
            r = self.results[after.id]
            if r.first_admit_s is None:
                r.first_admit_s = self.now
            r.borrowed = r.borrowed or after.borrowing
        elif state is JobState.RUNNING:
            self.results[after.id].start_s = after.started_at
        elif state is JobState.PREEMPTED:
            self.preemptions += 1
            self.results[after.id].preemptions += 1
        elif before.state.holds_devices and not state.holds_devices:
            placement = before.placement
            assert placement is not None
            devices = placement.devices
            ts = self.tenants[before.spec.tenant]
            ts.held_dev -= devices
            ts.held_gflops -= devices * self.gflops[placement.accelerator]
            ts.oldest = None
            self.held -= devices
            for w in placement.workers:
                self._node_take(w.node, -len(w.devices))
            self._dirty = True
            if state is JobState.PENDING:
                self._enqueue(after)
            elif state.terminal:
                self.results[after.id].finish_s = after.finished_at
        elif before.state is JobState.PENDING and state.terminal:
            self._dequeue(after)

    def repaired(self, repairs: Sequence[str]) -> None:
        pass

    # -- results -------------------------------------------------------------------------

    def tenant_used(self) -> dict[str, float]:
        return {n: (ts.held_area / self.time if self.time else 0.0) for n, ts in self.tenants.items()}
