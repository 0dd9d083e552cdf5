"""The state read at scrape time: capacity, allocation, quotas, jobs, reasons, ages, nodes."""

from __future__ import annotations

import time
from typing import Any

import pytest

from monitor import Monitor
from monitor.collector import PENDING_REASONS
from scheduler.core import Policy
from scheduler.domain import JobKind, JobSpec, NodeState, Resources
from scheduler.engine import Engine, ManualClock
from scheduler.executors.sleep import SleepExecutor
from scheduler.store.memory import MemoryStore
from tests.monitor.helpers import samples, small_center, value

P = 1e15


def spec(tenant: str, workers: int, per: int, types: tuple[str, ...] = (), runtime: float = 100) -> JobSpec:
    return JobSpec(tenant, "j", JobKind.TRAINING, workers, Resources(per, types),
                   runtime_env={"sleep_s": runtime})


@pytest.fixture
def world() -> tuple[Engine, ManualClock, Monitor]:
    cfg = small_center()
    clock = ManualClock(0.0)
    engine = Engine(cfg.center, MemoryStore(cfg.tenants), SleepExecutor(clock), clock,
                    Policy(priority_classes=cfg.priority_classes))
    monitor = Monitor()
    monitor.attach(engine)
    return engine, clock, monitor


def scrape(monitor: Monitor) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    body, _ = monitor.exposition()
    return samples(body)


def test_capacity_allocation_quotas_jobs_and_reasons(world: Any) -> None:
    engine, clock, monitor = world
    a = engine.submit(spec("vr", 1, 8, ("a800",)))
    b = engine.submit(spec("finance", 1, 8, ("ascend910b",)))
    c = engine.submit(spec("vr", 2, 8, ("a800",)))  # beyond vr's limit and a800 cap
    engine.step()
    clock.advance_to(10.0)
    engine.submit(spec("finance", 1, 1))  # after the step: Queued
    engine.set_node_state("a800-r01-n02", NodeState.CORDONED)
    clock.advance_to(50.0)
    s = scrape(monitor)

    assert engine.jobs[a.id].state.value == "admitted" and engine.jobs[b.id].state.value == "admitted"
    # The center: 16 a800 (2 nodes) at 312T, 8 ascend (1 node) at 320T.
    assert value(s, "aicc_center_capacity_flops", pool="a800", accelerator="a800",
                 precision="fp16") == pytest.approx(16 * 312e12)
    assert value(s, "aicc_center_capacity_flops", pool="a800", accelerator="a800",
                 precision="fp32") == pytest.approx(16 * 19.5e12)
    assert value(s, "aicc_center_allocated_flops", pool="ascend", accelerator="ascend910b",
                 precision="fp16") == pytest.approx(8 * 320e12)
    assert value(s, "aicc_center_allocated_devices", pool="a800", accelerator="a800") == 8
    # 8 a800 devices are held; the other node is cordoned, so none is free.
    assert value(s, "aicc_center_free_devices", pool="a800", accelerator="a800") == 0
    assert value(s, "aicc_center_devices", pool="a800", accelerator="a800", state="cordoned") == 8
    assert value(s, "aicc_center_devices", pool="a800", accelerator="a800", state="ready") == 8
    assert value(s, "aicc_nodes", pool="a800", accelerator="a800", state="cordoned") == 1
    assert value(s, "aicc_nodes", pool="ascend", accelerator="ascend910b", state="down") == 0
    assert value(s, "aicc_accelerator_peak_flops", accelerator="a800", precision="fp16") == 312e12
    # Quotas and use, in FLOPS (fp16): finance holds 2.56P against a 2.496P guarantee.
    assert value(s, "aicc_tenant_guaranteed_flops", tenant="vr", precision="fp16") == pytest.approx(2.496 * P)
    assert value(s, "aicc_tenant_limit_flops", tenant="finance", precision="fp16") == pytest.approx(7.5 * P)
    assert value(s, "aicc_tenant_lending_limit_flops", tenant="finance", precision="fp16") == pytest.approx(P)
    assert ("aicc_tenant_lending_limit_flops", frozenset({("tenant", "vr"), ("precision", "fp16")})) not in s
    assert value(s, "aicc_tenant_used_flops", tenant="vr", precision="fp16") == pytest.approx(2.496 * P)
    assert value(s, "aicc_tenant_borrowed_flops", tenant="vr", precision="fp16") == 0
    assert value(s, "aicc_tenant_borrowed_flops", tenant="finance", precision="fp16") == pytest.approx(0.064 * P)
    assert value(s, "aicc_tenant_used_devices", tenant="finance", accelerator="ascend910b") == 8
    assert value(s, "aicc_tenant_used_devices", tenant="finance", accelerator="a800") == 0
    assert value(s, "aicc_tenant_borrowed_devices", tenant="finance", accelerator="ascend910b") == \
        (8 if engine.jobs[b.id].borrowing else 0)
    assert value(s, "aicc_tenant_cap_devices", tenant="vr", accelerator="a800") == 12
    assert value(s, "aicc_tenant_weight", tenant="vr") == 1
    # Jobs by state, every live state present; pending by reason, every reason present.
    assert value(s, "aicc_tenant_jobs", tenant="vr", state="admitted") == 1
    assert value(s, "aicc_tenant_jobs", tenant="vr", state="pending") == 1
    assert value(s, "aicc_tenant_jobs", tenant="vr", state="running") == 0
    assert value(s, "aicc_tenant_jobs", tenant="finance", state="pending") == 1
    waiting = engine.waiting(c.id)
    assert waiting is not None
    assert value(s, "aicc_tenant_pending_jobs", tenant="vr", reason=waiting[0]) == 1
    assert value(s, "aicc_tenant_pending_jobs", tenant="finance", reason="Queued") == 1
    assert {dict(k[1])["reason"] for k in s if k[0] == "aicc_tenant_pending_jobs"} == set(PENDING_REASONS)
    assert sum(v for k, v in s.items() if k[0] == "aicc_tenant_pending_jobs") == 2
    # Ages: vr's waits since 0, finance's since 10; the clock says 50.
    assert value(s, "aicc_tenant_oldest_pending_age_seconds", tenant="vr") == 50
    assert value(s, "aicc_tenant_oldest_pending_age_seconds", tenant="finance") == 40
    # One info series per held device, with its tenant; no job id anywhere.
    held = {dict(k[1])["node"] + "/" + dict(k[1])["device"]: dict(k[1])["tenant"]
            for k in s if k[0] == "aicc_device_allocated_info"}
    assert len(held) == 16 and sorted(set(held.values())) == ["finance", "vr"]
    job_ids = {j.id for j in engine.live_jobs()}
    assert not any(v in job_ids for k in s for _, v in k[1])


def test_last_step_timestamp_is_wall_clock_of_the_last_step(world: Any) -> None:
    engine, _clock, monitor = world
    assert value(scrape(monitor), "aicc_scheduler_last_step_timestamp_seconds") == 0
    monitor.observer._wall = lambda: 1_700_000_000.0
    engine.step()
    assert value(scrape(monitor), "aicc_scheduler_last_step_timestamp_seconds") == 1_700_000_000.0


def test_quiet_center_shows_zeros_not_nothing(world: Any) -> None:
    _, _, monitor = world
    s = scrape(monitor)
    assert value(s, "aicc_tenant_used_flops", tenant="vr", precision="fp16") == 0
    assert value(s, "aicc_tenant_jobs", tenant="vr", state="pending") == 0
    assert value(s, "aicc_tenant_oldest_pending_age_seconds", tenant="vr") == 0
    assert value(s, "aicc_center_free_devices", pool="a800", accelerator="a800") == 16
    assert value(s, "aicc_jobs_preempted_total", tenant="vr", reason="Reclaim") == 0
    assert value(s, "aicc_jobs_completed_total", tenant="finance", state="failed") == 0


def test_no_engine_yet_exposes_only_build_info() -> None:
    monitor = Monitor(lambda: None)
    s = scrape(monitor)
    names = {k[0] for k in s}
    assert "aicc_build_info" in names
    assert not any(n.startswith(("aicc_tenant_", "aicc_center_")) for n in names)


def test_new_tenant_appears_without_restart(world: Any) -> None:
    from scheduler.domain import Quota, Tenant

    engine, _, monitor = world
    engine.put_tenant(Tenant("newcomer", Quota(0, 10**6)))
    s = scrape(monitor)
    assert value(s, "aicc_tenant_limit_flops", tenant="newcomer", precision="fp16") == pytest.approx(P)
    assert value(s, "aicc_jobs_submitted_total", tenant="newcomer", priority="normal") == 0


def test_a_cancelled_job_still_stopping_holds_devices_but_is_not_live(world: Any) -> None:
    engine, clock, monitor = world
    job = engine.submit(spec("vr", 1, 8, ("a800",), runtime=1000))
    engine.step()
    clock.advance_to(1.0)
    engine.sync()
    engine.executor.stop_delay_s = 30.0  # the stop takes a while
    engine.cancel(job.id)
    s = scrape(monitor)
    assert value(s, "aicc_tenant_used_devices", tenant="vr", accelerator="a800") == 8
    assert sum(v for k, v in s.items() if k[0] == "aicc_tenant_jobs" and dict(k[1])["tenant"] == "vr") == 0
    assert value(s, "aicc_jobs_completed_total", tenant="vr", state="cancelled") == 1


def test_scrapes_while_the_engine_steps_on_another_thread(world: Any) -> None:
    """What the service does (its lock held around the copy), and a scrape never fails."""
    import threading

    engine, clock, _ = world
    lock = threading.Lock()
    monitor = Monitor()
    monitor.attach(engine, lock=lock)
    stop = threading.Event()
    errors: list[BaseException] = []

    def churn() -> None:
        t = 0.0
        try:
            while not stop.is_set():
                with lock:
                    for _ in range(5):
                        engine.submit(spec("vr", 1, 1, runtime=3))
                        engine.submit(spec("finance", 1, 2, runtime=5))
                    t += 1.0
                    clock.advance_to(t)
                    engine.sync()
                    engine.step()
                # As the service's loop does between steps: a lock is not fair, and a
                # thread that takes it again at once could keep a scrape waiting forever.
                time.sleep(0.001)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    worker = threading.Thread(target=churn)
    worker.start()
    try:
        for _ in range(15):
            s = scrape(monitor)
            assert value(s, "aicc_center_capacity_flops", pool="a800", accelerator="a800",
                         precision="fp16") > 0
    finally:
        stop.set()
        worker.join(10)
    assert not errors
    assert engine.steps > 0


def test_step_errors_are_the_service_count(world: Any) -> None:
    engine, _, monitor = world
    assert value(scrape(monitor), "aicc_scheduler_step_errors_total") == 0
    errors = {"n": 0}
    monitor.attach(engine, step_errors=lambda: errors["n"])
    errors["n"] = 4
    assert value(scrape(monitor), "aicc_scheduler_step_errors_total") == 4
