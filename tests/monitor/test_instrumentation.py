"""Events counted as they happen: submissions, admissions, preemptions by reason, requeues,
completions by final state, admission waits, step durations, reconcile repairs, errors."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from monitor import Monitor
from scheduler.core import Policy
from scheduler.domain import JobKind, JobRecord, JobSpec, Resources
from scheduler.engine import Engine, EventKind, ManualClock
from scheduler.executors.sleep import SleepExecutor
from scheduler.store.memory import MemoryStore
from tests.monitor.helpers import samples, small_center, value


def spec(tenant: str, workers: int, per: int, runtime: float = 100, priority: str = "normal") -> JobSpec:
    return JobSpec(tenant, "j", JobKind.TRAINING, workers, Resources(per, ("a800",)),
                   priority=priority, runtime_env={"sleep_s": runtime})


def scrape(monitor: Monitor) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return samples(monitor.exposition()[0])


def test_a_reclaim_is_counted_from_submission_to_completion() -> None:
    cfg = small_center()
    clock = ManualClock(0.0)
    store = MemoryStore(cfg.tenants)
    monitor = Monitor()
    engine = Engine(cfg.center, store, monitor.wrap_executor(SleepExecutor(clock)), clock,
                    Policy(priority_classes=cfg.priority_classes, min_runtime_s=60),
                    observers=[monitor.observer])
    monitor.attach(engine)
    borrower = engine.submit(spec("finance", 2, 8, runtime=10_000))  # all 16 a800: borrows vr's
    engine.step()
    assert engine.jobs[borrower.id].borrowing
    clock.advance_to(100.0)
    engine.sync()
    owner = engine.submit(spec("vr", 1, 8, runtime=50))  # within vr's guarantee: reclaim
    engine.step()
    clock.advance_to(101.0)
    engine.sync()  # the borrower stopped: requeued
    engine.step()  # vr's job starts
    loser = engine.submit(spec("vr", 1, 1, priority="low"))
    engine.cancel(loser.id)
    clock.advance_to(200.0)
    engine.sync()  # vr's job finished
    s = scrape(monitor)

    assert value(s, "aicc_jobs_submitted_total", tenant="finance", priority="normal") == 1
    assert value(s, "aicc_jobs_submitted_total", tenant="vr", priority="normal") == 1
    assert value(s, "aicc_jobs_submitted_total", tenant="vr", priority="low") == 1
    assert value(s, "aicc_jobs_admitted_total", tenant="finance", priority="normal", accelerator="a800") == 1
    assert value(s, "aicc_jobs_admitted_total", tenant="vr", priority="normal", accelerator="a800") == 1
    assert value(s, "aicc_jobs_preempted_total", tenant="finance", reason="Reclaim") == 1
    assert value(s, "aicc_jobs_preempted_total", tenant="finance", reason="Priority") == 0
    assert value(s, "aicc_jobs_requeued_total", tenant="finance", reason="Reclaim") == 1
    assert value(s, "aicc_requeued_run_device_seconds_total", tenant="finance", reason="Reclaim") == 16 * 100.0
    assert value(s, "aicc_jobs_completed_total", tenant="vr", state="succeeded") == 1
    assert value(s, "aicc_jobs_completed_total", tenant="vr", state="cancelled") == 1
    assert value(s, "aicc_jobs_completed_total", tenant="finance", state="succeeded") == 0
    # vr's job waited one second (for the borrower to stop); the borrower none.
    assert value(s, "aicc_job_admission_wait_seconds_count", tenant="vr", priority="normal") == 1
    assert value(s, "aicc_job_admission_wait_seconds_sum", tenant="vr", priority="normal") == 1.0
    assert value(s, "aicc_job_admission_wait_seconds_bucket", tenant="vr", priority="normal", le="1.0") == 1
    assert value(s, "aicc_job_admission_wait_seconds_sum", tenant="finance", priority="normal") == 0.0
    assert value(s, "aicc_scheduler_step_duration_seconds_count") == engine.steps == 3
    assert value(s, "aicc_executor_errors_total", operation="start") == 0
    assert store.jobs[owner.id].state.value == "succeeded"


def test_reconcile_after_a_restart_counts_repairs_by_action() -> None:
    cfg = small_center()
    clock = ManualClock(0.0)
    store = MemoryStore(cfg.tenants)
    before = Engine(cfg.center, store, SleepExecutor(clock), clock, Policy())
    before.submit(spec("vr", 1, 8))
    before.submit(spec("finance", 1, 4))
    before.step()
    # Restart: a new executor that knows none of the admitted jobs.
    monitor = Monitor()
    engine = Engine(cfg.center, store, monitor.wrap_executor(SleepExecutor(clock)), clock, Policy())
    repairs = monitor.reconcile(engine)
    s = scrape(monitor)
    assert len(repairs) == 2
    assert value(s, "aicc_reconcile_repairs_total", action="start") == 2
    assert value(s, "aicc_reconcile_repairs_total", action="requeue") == 0
    assert value(s, "aicc_reconcile_errors_total") == 0


class Broken(SleepExecutor):
    def start(self, job: JobRecord, grace_s: float = 0.0) -> None:
        raise ConnectionError("ray is down")

    def known(self) -> Mapping[str, EventKind]:
        raise ConnectionError("ray is down")


def test_executor_and_reconcile_errors_are_counted_and_raised() -> None:
    cfg = small_center()
    clock = ManualClock(0.0)
    monitor = Monitor()
    engine = Engine(cfg.center, MemoryStore(cfg.tenants), monitor.wrap_executor(Broken(clock)), clock,
                    Policy(), observers=[monitor.observer])
    monitor.attach(engine)
    engine.submit(spec("vr", 1, 1))
    with pytest.raises(ConnectionError):
        engine.step()
    with pytest.raises(ConnectionError):
        monitor.reconcile(engine)
    s = scrape(monitor)
    assert value(s, "aicc_executor_errors_total", operation="start") == 1
    assert value(s, "aicc_executor_errors_total", operation="known") == 1
    assert value(s, "aicc_executor_errors_total", operation="stop") == 0
    assert value(s, "aicc_reconcile_errors_total") == 1
    # The wrapper passes everything else through (the service asks the sleep executor when next).
    assert engine.executor.next_event_at() is None  # type: ignore[attr-defined]


def test_two_monitors_never_share_counts() -> None:
    cfg = small_center()
    clock = ManualClock(0.0)
    a, b = Monitor(), Monitor()
    engine = Engine(cfg.center, MemoryStore(cfg.tenants), SleepExecutor(clock), clock, Policy())
    a.attach(engine)
    engine.submit(spec("vr", 1, 1))
    assert value(scrape(a), "aicc_jobs_submitted_total", tenant="vr", priority="normal") == 1
    b.attach(Engine(cfg.center, MemoryStore(cfg.tenants), SleepExecutor(clock), clock, Policy()))
    assert value(scrape(b), "aicc_jobs_submitted_total", tenant="vr", priority="normal") == 0
