"""Counters and histograms bumped as things happen: the engine's observer,
an executor wrapper that counts errors, and a reconcile wrapper.

All of them live in one ``EventMetrics`` per registry (no module globals), so
tests and several engines in one process never share counts.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence

from prometheus_client import CollectorRegistry, Counter, Histogram

from monitor import metrics as m
from scheduler.core import Decision
from scheduler.domain import JobRecord, JobState
from scheduler.engine import Engine, EventKind, Executor, ExecutorEvent


def make_counter(d: m.MetricDef, registry: CollectorRegistry) -> Counter:
    assert d.kind is m.Kind.COUNTER
    return Counter(d.family, d.help, list(d.labels), registry=registry)


def make_histogram(d: m.MetricDef, registry: CollectorRegistry) -> Histogram:
    assert d.kind is m.Kind.HISTOGRAM
    return Histogram(d.name, d.help, list(d.labels), registry=registry, buckets=d.buckets)


def _bounded(value: str, known: Iterable[str]) -> str:
    return value if value in known else m.OTHER


class EventMetrics:
    """The event families of one registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.submitted = make_counter(m.JOBS_SUBMITTED, registry)
        self.admitted = make_counter(m.JOBS_ADMITTED, registry)
        self.preempted = make_counter(m.JOBS_PREEMPTED, registry)
        self.requeued = make_counter(m.JOBS_REQUEUED, registry)
        self.requeued_run = make_counter(m.REQUEUED_RUN, registry)
        self.completed = make_counter(m.JOBS_COMPLETED, registry)
        self.wait = make_histogram(m.ADMISSION_WAIT, registry)
        self.step = make_histogram(m.STEP_DURATION, registry)
        self.executor_errors = make_counter(m.EXECUTOR_ERRORS, registry)
        self.repairs = make_counter(m.RECONCILE_REPAIRS, registry)
        self.reconcile_errors = make_counter(m.RECONCILE_ERRORS, registry)
        for op in m.EXECUTOR_OPERATIONS:
            self.executor_errors.labels(op)
        for action in m.RECONCILE_ACTIONS:
            self.repairs.labels(action)
        self._seen: set[tuple[str, str]] = set()

    def know(self, tenant: str, priorities: Iterable[str]) -> None:
        """Start a tenant's counters at zero, so rates read 0 rather than nothing."""
        for priority in priorities:
            if (tenant, priority) not in self._seen:
                self._seen.add((tenant, priority))
                self.submitted.labels(tenant, priority)
        if (tenant, "") not in self._seen:
            self._seen.add((tenant, ""))
            for reason in m.PREEMPT_REASONS:
                self.preempted.labels(tenant, reason)
            for reason in m.REQUEUE_REASONS:
                self.requeued.labels(tenant, reason)
                self.requeued_run.labels(tenant, reason)
            for state in m.FINAL_STATES:
                self.completed.labels(tenant, state)


class MetricsObserver:
    """An ``EngineObserver``: counts what the engine recorded.

    Keeps the wall-clock time of the last successful step (``last_step_wall``)
    for ``aicc_scheduler_last_step_timestamp_seconds``: the engine's own clock
    may be simulated, and the alerts compare with Prometheus' ``time()``.
    """

    def __init__(self, events: EventMetrics, wall: Callable[[], float] = time.time) -> None:
        self.events = events
        self._wall = wall
        self.last_step_wall: float | None = None

    def know_engine(self, engine: Engine) -> None:
        for tenant in engine.tenants:
            self.events.know(tenant, engine.policy.priority_classes)

    def submitted(self, job: JobRecord) -> None:
        self.events.know(job.spec.tenant, (job.spec.priority,))
        self.events.submitted.labels(job.spec.tenant, job.spec.priority).inc()

    def stepped(self, decision: Decision, seconds: float, at: float) -> None:
        self.events.step.observe(seconds)
        self.last_step_wall = self._wall()

    def changed(self, before: JobRecord, after: JobRecord) -> None:
        tenant, priority = after.spec.tenant, after.spec.priority
        e = self.events
        state = after.state
        if state is JobState.ADMITTED and after.placement is not None:
            e.admitted.labels(tenant, priority, after.placement.accelerator).inc()
            if after.preemptions == 0 and after.admitted_at is not None:
                e.wait.labels(tenant, priority).observe(max(0.0, after.admitted_at - after.submitted_at))
        elif state is JobState.PREEMPTED:
            e.preempted.labels(tenant, _bounded(after.reason, m.PREEMPT_REASONS)).inc()
        elif state is JobState.PENDING and before.state is not JobState.PENDING:
            reason = _bounded(after.reason, m.REQUEUE_REASONS)
            e.requeued.labels(tenant, reason).inc()
            e.requeued_run.labels(tenant, reason).inc(after.spec.devices * max(0.0, after.ran_s - before.ran_s))
        elif state.terminal and not before.state.terminal:
            e.completed.labels(tenant, state.value).inc()

    def repaired(self, repairs: Sequence[str]) -> None:
        for repair in repairs:
            action = repair.rsplit(" ", 1)[0].replace(" ", "_")
            self.events.repairs.labels(_bounded(action, m.RECONCILE_ACTIONS)).inc()


def reconcile(engine: Engine, events: EventMetrics) -> list[str]:
    """``engine.reconcile()``, counting a run that raises (then re-raising)."""
    try:
        return engine.reconcile()
    except Exception:
        events.reconcile_errors.inc()
        raise


class InstrumentedExecutor:
    """Wraps an ``Executor``: every call that raises is counted by operation, then re-raised."""

    def __init__(self, inner: Executor, events: EventMetrics) -> None:
        self.inner = inner
        self._errors = events.executor_errors

    def start(self, job: JobRecord, grace_s: float) -> None:
        with self._errors.labels("start").count_exceptions():
            self.inner.start(job, grace_s)

    def stop(self, job_id: str, grace_s: float) -> None:
        with self._errors.labels("stop").count_exceptions():
            self.inner.stop(job_id, grace_s)

    def poll(self) -> Sequence[ExecutorEvent]:
        with self._errors.labels("poll").count_exceptions():
            return self.inner.poll()

    def known(self) -> Mapping[str, EventKind]:
        with self._errors.labels("known").count_exceptions():
            return self.inner.known()

    def __getattr__(self, name: str) -> object:
        """Anything else (e.g. ``next_event_at`` of the sleep executor) is the inner one's."""
        return getattr(self.inner, name)
