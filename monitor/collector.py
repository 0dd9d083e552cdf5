"""The live state of the center, read from the engine when Prometheus scrapes.

Nothing here is pushed on every change: a scrape takes a consistent copy of
the engine's containers (under the caller's lock, if the engine is stepped
on another thread), then builds the families from that copy outside the lock.
Tenants, accelerator types, live states and wait reasons are emitted with
zeros, so a quiet center shows zeros on its dashboards, not "No data".
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from operator import attrgetter, itemgetter

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

import scheduler
from monitor import metrics as m
from scheduler.core import Allocation, Decision, PendingJob, Reason
from scheduler.domain import Center, JobRecord, NodeState, Tenant, ancestors
from scheduler.domain.center import QUOTA_PRECISION
from scheduler.engine import Engine

FLOPS_PER_GFLOPS = 1e9
FLOPS_PER_TFLOPS = 1e12

_INF = float("inf")

#: Every reason a pending job may carry, in a stable order.
PENDING_REASONS: tuple[str, ...] = (*(r.value for r in Reason), m.QUEUED_REASON)


@dataclass(frozen=True)
class EngineView:
    """What a scrape copies out of the engine, quickly, under the lock.

    Never every job: the waiting ones are read from the queue's lists (one C-level
    copy each), the rest from the allocations, so a long queue costs little.
    """

    center: Center
    tenants: Mapping[str, Tenant]
    holding: Sequence[Allocation]
    held_jobs: Mapping[str, JobRecord]  # the records of the jobs in ``holding``
    queue: Sequence[tuple[tuple[str, str], Sequence[PendingJob]]]  # (tenant, class), jobs
    decision: Decision | None
    now: float
    last_step_at: float | None
    #: per budgeted tenant: (available, spent) PFLOPS-hours this period (the service keeps them)
    budgets: Mapping[str, tuple[float, float]] = field(default_factory=dict)

    @classmethod
    def of(cls, engine: Engine) -> EngineView:
        """Hold the engine's lock around this. Without one (a test, a demo), a step on
        another thread may change the containers while they are copied: then copy again."""
        for attempt in range(5):
            try:
                holding = list(engine.holding.values())
                jobs = engine.jobs
                held = {a.id: j for a in holding if (j := jobs.get(a.id)) is not None}
                queue = [(key, list(lst)) for key, lst, _, _ in engine.queue.lists()]
                return cls(engine.center, dict(engine.tenants), holding, held, queue,
                           engine.last_decision, engine.clock.now(), engine.last_step_at,
                           dict(engine.budget_figures))
            except (KeyError, RuntimeError, IndexError):
                if attempt == 4:
                    raise
        raise AssertionError("unreachable")


def _gauge(d: m.MetricDef) -> GaugeMetricFamily:
    assert d.kind is m.Kind.GAUGE
    return GaugeMetricFamily(d.name, d.help, labels=list(d.labels))


def _family(d: m.MetricDef) -> Metric:
    if d.kind is m.Kind.COUNTER:
        return CounterMetricFamily(d.family, d.help, labels=list(d.labels))
    return _gauge(d)


class EngineCollector(Collector):
    """A prometheus_client collector over a live engine.

    ``engine`` returns the engine to read, or None before the service has one
    (then only ``aicc_build_info`` is exposed). ``last_step_wall`` returns the
    wall-clock time of the last successful step (the instrumentation keeps it;
    the engine's own clock may be simulated); without it the engine's
    ``last_step_at`` is used. ``device_series`` exposes aicc_device_allocated_info.
    ``step_errors`` returns the service's count of failed scheduling loop iterations.
    """

    def __init__(
        self,
        engine: Callable[[], Engine | None],
        *,
        lock: AbstractContextManager[object] | None = None,
        last_step_wall: Callable[[], float | None] | None = None,
        device_series: bool = True,
        step_errors: Callable[[], int] | None = None,
    ) -> None:
        self._engine = engine
        self.lock = lock
        self._last_step_wall = last_step_wall
        self._device_series = device_series
        #: The service's count of failed loop iterations (``Service.loop_errors``), if any.
        self.step_errors = step_errors

    def describe(self) -> Iterator[Metric]:
        for d in m.STATE_METRICS:
            yield _family(d)

    def collect(self) -> Iterator[Metric]:
        info = _gauge(m.BUILD_INFO)
        info.add_metric([scheduler.__version__], 1.0)
        yield info
        errors = CounterMetricFamily(m.STEP_ERRORS.family, m.STEP_ERRORS.help)
        errors.add_metric([], float(self.step_errors() if self.step_errors is not None else 0))
        yield errors
        engine = self._engine()
        if engine is None:
            return
        with self.lock if self.lock is not None else nullcontext():
            view = EngineView.of(engine)
        wall = self._last_step_wall() if self._last_step_wall is not None else None
        yield from build_families(view, wall, device_series=self._device_series)


def build_families(view: EngineView, last_step_wall: float | None = None, *,
                   device_series: bool = True) -> Iterator[Metric]:
    """The state families for one copy of the engine (pure: testable without a registry)."""
    center = view.center
    accels = center.accelerators
    # Devices held per node, and which allocation holds each device.
    used_on: dict[str, int] = {}
    for a in view.holding:
        for w in a.placement.workers:
            used_on[w.node] = used_on.get(w.node, 0) + len(w.devices)

    yield from _center(center, used_on)

    peak = _gauge(m.ACCELERATOR_PEAK_FLOPS)
    for name in sorted(accels):
        for precision, tflops in sorted(accels[name].tflops.items()):
            peak.add_metric([name, precision], tflops * FLOPS_PER_TFLOPS)
    yield peak

    yield from _tenants(view)
    yield from _jobs(view)

    last = _gauge(m.SCHEDULER_LAST_STEP)
    stamp = last_step_wall if last_step_wall is not None else view.last_step_at
    last.add_metric([], stamp if stamp is not None else 0.0)
    yield last

    if device_series:
        held = _gauge(m.DEVICE_ALLOCATED_INFO)
        rows: list[tuple[str, str, str, str, str]] = []
        for a in view.holding:
            for w in a.placement.workers:
                pool = center.node(w.node).pool
                rows.extend((w.node, str(d), pool, a.placement.accelerator, a.spec.tenant)
                            for d in w.devices)
        for row in sorted(set(rows)):  # a duplicate series would fail the whole scrape
            held.add_metric(list(row), 1.0)
        yield held


def _center(center: Center, used_on: Mapping[str, int]) -> Iterator[Metric]:
    capacity, allocated = _gauge(m.CENTER_CAPACITY_FLOPS), _gauge(m.CENTER_ALLOCATED_FLOPS)
    devices, alloc_dev = _gauge(m.CENTER_DEVICES), _gauge(m.CENTER_ALLOCATED_DEVICES)
    free, nodes = _gauge(m.CENTER_FREE_DEVICES), _gauge(m.NODES)
    for pool in center.pools:
        accel = center.accelerators[pool.accelerator]
        by_state = dict.fromkeys(NodeState, 0)
        devices_by_state = dict.fromkeys(NodeState, 0)
        held = free_count = 0
        for name in pool.nodes:
            node = center.node(name)
            used = used_on.get(name, 0)
            by_state[node.state] += 1
            devices_by_state[node.state] += node.devices
            held += used
            if node.schedulable:
                free_count += max(0, node.devices - used)
        installed = sum(devices_by_state.values())
        for state in NodeState:
            nodes.add_metric([pool.name, accel.name, state.value], float(by_state[state]))
            devices.add_metric([pool.name, accel.name, state.value], float(devices_by_state[state]))
        for precision, tflops in sorted(accel.tflops.items()):
            capacity.add_metric([pool.name, accel.name, precision], installed * tflops * FLOPS_PER_TFLOPS)
            allocated.add_metric([pool.name, accel.name, precision], held * tflops * FLOPS_PER_TFLOPS)
        alloc_dev.add_metric([pool.name, accel.name], float(held))
        free.add_metric([pool.name, accel.name], float(free_count))
    yield from (capacity, allocated, devices, alloc_dev, free, nodes)


def _tenants(view: EngineView) -> Iterator[Metric]:
    accels = view.center.accelerators
    borrowing = {i for i, j in view.held_jobs.items() if j.borrowing}
    used_gflops: dict[str, int] = {}
    used_dev: dict[tuple[str, str], int] = {}
    borrowed_dev: dict[tuple[str, str], int] = {}
    for a in view.holding:
        tenant, accel, count = a.spec.tenant, a.placement.accelerator, a.placement.devices
        used_gflops[tenant] = used_gflops.get(tenant, 0) + accels[accel].gflops * count
        used_dev[tenant, accel] = used_dev.get((tenant, accel), 0) + count
        if a.id in borrowing:
            borrowed_dev[tenant, accel] = borrowed_dev.get((tenant, accel), 0) + count

    guaranteed, limit = _gauge(m.TENANT_GUARANTEED_FLOPS), _gauge(m.TENANT_LIMIT_FLOPS)
    lending, used = _gauge(m.TENANT_LENDING_LIMIT_FLOPS), _gauge(m.TENANT_USED_FLOPS)
    borrowed, weight = _gauge(m.TENANT_BORROWED_FLOPS), _gauge(m.TENANT_WEIGHT)
    used_d, borrowed_d = _gauge(m.TENANT_USED_DEVICES), _gauge(m.TENANT_BORROWED_DEVICES)
    caps = _gauge(m.TENANT_CAP_DEVICES)
    sub_used, sub_borrowed = _gauge(m.TENANT_SUBTREE_USED_FLOPS), _gauge(m.TENANT_SUBTREE_BORROWED_FLOPS)
    p = QUOTA_PRECISION
    # a parent's figures are its subtree's, summed here (no parent label: cardinality stays bounded)
    subtree: dict[str, int] = dict.fromkeys(view.tenants, 0)
    for leaf, g in used_gflops.items():
        if leaf in subtree:
            for up in (leaf, *ancestors(view.tenants, leaf)):
                subtree[up] += g
    for name in sorted(subtree):
        q = view.tenants[name].quota
        sub_used.add_metric([name, p], subtree[name] * FLOPS_PER_GFLOPS)
        sub_borrowed.add_metric([name, p], max(0, subtree[name] - q.guaranteed) * FLOPS_PER_GFLOPS)
    for name in sorted(set(view.tenants) | set(used_gflops)):
        quota_of = view.tenants.get(name)
        u = used_gflops.get(name, 0)
        used.add_metric([name, p], u * FLOPS_PER_GFLOPS)
        if quota_of is not None:
            q = quota_of.quota
            guaranteed.add_metric([name, p], q.guaranteed * FLOPS_PER_GFLOPS)
            limit.add_metric([name, p], q.limit * FLOPS_PER_GFLOPS)
            if q.lending_limit is not None:
                lending.add_metric([name, p], q.lending_limit * FLOPS_PER_GFLOPS)
            borrowed.add_metric([name, p], max(0, u - q.guaranteed) * FLOPS_PER_GFLOPS)
            weight.add_metric([name], quota_of.weight)
            for accel, cap in sorted(q.caps.items()):
                caps.add_metric([name, accel], float(cap))
        for accel in sorted(accels):
            used_d.add_metric([name, accel], float(used_dev.get((name, accel), 0)))
            borrowed_d.add_metric([name, accel], float(borrowed_dev.get((name, accel), 0)))
    yield from (guaranteed, limit, lending, used, borrowed, sub_used, sub_borrowed, used_d, borrowed_d, caps,
                weight)
    yield from _budgets(view)


def _budgets(view: EngineView) -> Iterator[Metric]:
    available, spent = _gauge(m.TENANT_BUDGET_AVAILABLE_FLOP), _gauge(m.TENANT_BUDGET_SPENT_FLOP)
    remaining, ratio = _gauge(m.TENANT_BUDGET_REMAINING_FLOP), _gauge(m.TENANT_BUDGET_SPENT_RATIO)
    p = QUOTA_PRECISION
    for name in sorted(view.budgets):
        total, used = view.budgets[name]
        available.add_metric([name, p], total * FLOP_PER_PFLOPS_HOUR)
        spent.add_metric([name, p], used * FLOP_PER_PFLOPS_HOUR)
        remaining.add_metric([name, p], (total - used) * FLOP_PER_PFLOPS_HOUR)
        ratio.add_metric([name], used / total if total > 0 else float(used > 0))
    yield from (available, spent, remaining, ratio)


#: one PFLOPS sustained for an hour
FLOP_PER_PFLOPS_HOUR = 1e15 * 3600.0


def _jobs(view: EngineView) -> Iterator[Metric]:
    tenants = set(view.tenants)
    states: dict[tuple[str, str], int] = {}
    oldest: dict[str, float] = {}
    tenant_of: dict[str, str] = {}  # waiting job id -> tenant
    for (tenant, _), waiting in view.queue:
        if not waiting:
            continue
        tenants.add(tenant)
        states[tenant, "pending"] = states.get((tenant, "pending"), 0) + len(waiting)
        # Lists are in submission order: the first waited longest (a requeued job keeps its place).
        first = waiting[0].submitted_at
        if first < oldest.get(tenant, _INF):
            oldest[tenant] = first
        tenant_of.update(dict.fromkeys(map(_job_id, waiting), tenant))
    for job in view.held_jobs.values():
        if not job.state.terminal:  # a cancelled job holds devices until it has stopped
            key = (job.spec.tenant, job.state.value)
            states[key] = states.get(key, 0) + 1
            tenants.add(job.spec.tenant)
    # Why they wait, from the last step (counted at C speed: 100,000 rows in milliseconds);
    # jobs the step has not seen are Queued.
    reasons: dict[tuple[str, str], int] = {}
    if view.decision is not None:
        rows = view.decision.pending
        # Keyed by id() of the reason: Enum.__hash__ is Python code, id() is not.
        by_id = {id(r): r.value for r in Reason}
        counted = Counter(zip(map(tenant_of.get, map(_first, rows)), map(id, map(_second, rows)),
                              strict=True))
        for (owner, reason_id), count in counted.items():
            if owner is not None:
                reasons[owner, by_id.get(reason_id, m.OTHER)] = count
    seen: dict[str, int] = {}
    for (tenant, _), count in reasons.items():
        seen[tenant] = seen.get(tenant, 0) + count
    for tenant in tenants:
        queued = states.get((tenant, "pending"), 0) - seen.get(tenant, 0)
        if queued > 0:
            reasons[tenant, m.QUEUED_REASON] = queued
    jobs, pending, age = (_gauge(m.TENANT_JOBS), _gauge(m.TENANT_PENDING_JOBS),
                          _gauge(m.TENANT_OLDEST_PENDING_AGE))
    known_reasons = set(PENDING_REASONS)
    for tenant in sorted(tenants):
        for state in m.LIVE_STATES:
            jobs.add_metric([tenant, state], float(states.get((tenant, state), 0)))
        for reason in PENDING_REASONS:
            pending.add_metric([tenant, reason], float(reasons.get((tenant, reason), 0)))
        for (t, reason), count in sorted(reasons.items()):
            if t == tenant and reason not in known_reasons:
                pending.add_metric([tenant, reason], float(count))
        since = oldest.get(tenant)
        age.add_metric([tenant], max(0.0, view.now - since) if since is not None else 0.0)
    yield from (jobs, pending, age)


_job_id = attrgetter("id")
_first = itemgetter(0)
_second = itemgetter(1)
