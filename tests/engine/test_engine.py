"""The engine: record, then act; requeue after preemption; cancel; restart and reconcile."""

from __future__ import annotations

import contextlib
from dataclasses import replace

import pytest

from scheduler.core import Policy
from scheduler.domain import JobKind, JobSpec, JobState, NodeState, Resources
from scheduler.domain.errors import Invalid
from scheduler.engine import Engine, EventKind, ManualClock
from scheduler.engine.ports import DEFAULT_GRACE_S
from scheduler.executors.sleep import SleepExecutor
from scheduler.store.memory import MemoryStore
from tests.core.scenario import center

TENANTS = [{"name": "a", "guaranteed": "2P", "limit": "4P"}, {"name": "b", "guaranteed": "2P", "limit": "4P"}]


def job(tenant: str, per: int = 4, runtime: float = 100.0, priority: str = "normal") -> JobSpec:
    return JobSpec(tenant, "j", JobKind.TRAINING, 1, Resources(per), priority=priority, estimated_runtime_s=runtime)


class RecordingExecutor(SleepExecutor):
    """Checks record-then-act: when told to start a job, the store already has it admitted."""

    def __init__(self, clock: ManualClock, store: MemoryStore) -> None:
        super().__init__(clock)
        self.store = store
        self.started: list[str] = []

    def start(self, job, grace_s: float = 0.0) -> None:
        assert self.store.jobs[job.id].state is JobState.ADMITTED
        self.started.append(job.id)
        super().start(job, grace_s)


def make(min_runtime: float = 0.0) -> tuple[Engine, ManualClock, MemoryStore, RecordingExecutor]:
    c, tenants = center(("p", "gpu", 1, 2), tenants=TENANTS)  # 16 devices, 4P
    clock = ManualClock(0.0)
    store = MemoryStore(tenants)
    ex = RecordingExecutor(clock, store)
    return Engine(c, store, ex, clock, Policy(min_runtime_s=min_runtime)), clock, store, ex


def run_until_quiet(engine: Engine, clock: ManualClock, ex: SleepExecutor) -> None:
    while (t := ex.next_event_at()) is not None:
        clock.advance_to(t)
        engine.sync()
        engine.step()


def test_jobs_run_to_completion_and_leave_the_engine_but_not_the_store() -> None:
    engine, clock, store, ex = make()
    ids = [engine.submit(job("a")).id for _ in range(6)]
    engine.step()
    assert ex.started == ids[:4]  # a's 4P limit: 16 devices
    run_until_quiet(engine, clock, ex)
    assert ex.started == ids
    assert all(store.jobs[i].state is JobState.SUCCEEDED for i in ids)
    assert engine.jobs == {} and engine.holding == {}


def test_a_reclaimed_job_is_stopped_then_requeued_keeping_its_place() -> None:
    engine, clock, store, _ex = make()
    b_jobs = [engine.submit(job("b", runtime=1000)).id for _ in range(4)]  # b borrows 2P
    engine.step()
    clock.advance_to(10.0)
    engine.sync()
    a_job = engine.submit(job("a", per=8)).id
    d = engine.step()
    victims = [p.job_id for p in d.preempts]
    assert victims == b_jobs[2:]  # the two most recent
    assert {store.jobs[v].state for v in victims} == {JobState.PREEMPTED}
    assert engine.waiting(a_job)[0] == "WaitingForPreemption"
    clock.advance_to(11.0)
    engine.sync()  # the executor reports them stopped
    assert [store.jobs[v].state for v in victims] == [JobState.PENDING] * 2
    assert [store.jobs[v].preemptions for v in victims] == [1, 1]
    d = engine.step()
    assert [a.job_id for a in d.admits] == [a_job]
    assert engine.waiting(victims[0])[0] in ("QuotaExhausted", "NoCapacity", "NoBorrowableCapacity")


def test_what_a_job_ran_adds_up_over_its_attempts() -> None:
    engine, clock, store, ex = make()
    b_jobs = [engine.submit(job("b", runtime=1000)).id for _ in range(4)]
    engine.step()
    clock.advance_to(10.0)
    engine.sync()
    engine.submit(job("a", per=8))
    victims = [p.job_id for p in engine.step().preempts]
    assert store.jobs[victims[0]].ran_s == 0.0  # stopping: it still runs
    clock.advance_to(11.0)
    engine.sync()
    assert [store.jobs[v].ran_s for v in victims] == [10.0, 10.0]  # from 0 to its stop, at once
    run_until_quiet(engine, clock, ex)
    assert [store.jobs[v].ran_s for v in victims] == [1010.0, 1010.0]  # and 1,000 s more in full
    assert store.jobs[b_jobs[0]].ran_s == 1000.0
    late = engine.submit(job("a")).id
    engine.step()
    clock.advance_to(clock.now() + 25.0)
    engine.sync()
    assert engine.cancel(late).ran_s == 25.0


def test_cancel_releases_devices_only_when_the_executor_has_stopped_the_job() -> None:
    engine, clock, store, ex = make()
    first = engine.submit(job("a", per=8)).id
    second = engine.submit(job("a", per=8)).id
    third = engine.submit(job("b", per=8)).id
    engine.step()
    assert {first, second} <= set(ex.started) or {first, third} <= set(ex.started)
    running = [j for j in (first, second, third) if j in ex.started]
    waiting = next(j for j in (first, second, third) if j not in ex.started)
    cancelled = engine.cancel(running[0])
    assert cancelled.state is JobState.CANCELLED and store.jobs[running[0]].state is JobState.CANCELLED
    d = engine.step()
    assert d.admits == ()  # its devices are still held while it stops
    clock.advance_to(1.0)
    engine.sync()
    d = engine.step()
    assert [a.job_id for a in d.admits] == [waiting]
    assert store.jobs[running[0]].state is JobState.CANCELLED  # terminal stays terminal


def test_a_lost_node_requeues_its_jobs_and_restores_usage() -> None:
    engine, clock, store, ex = make()
    j = engine.submit(job("a", per=8)).id
    engine.step()
    clock.advance_to(1.0)
    engine.sync()
    ex.lose(j)
    engine.sync()
    assert store.jobs[j].state is JobState.PENDING and store.jobs[j].reason == "NodeLost"
    assert engine.tenant_usage_gflops()["a"] == 0
    node = next(iter(store.jobs[j].placement.nodes)) if store.jobs[j].placement else "p-r01-n01"
    engine.set_node_state(node, NodeState.DOWN)
    d = engine.step()
    assert d.admits and all(node not in a.placement.nodes for a in d.admits)


def test_a_job_lost_with_its_node_more_often_than_its_max_retries_fails() -> None:
    engine, clock, store, ex = make()
    spec = JobSpec("a", "j", JobKind.TRAINING, 1, Resources(8), estimated_runtime_s=100.0, max_retries=1)
    j = engine.submit(spec).id
    for loss, t in enumerate((1.0, 2.0)):
        engine.step()
        clock.advance_to(t)
        engine.sync()
        assert store.jobs[j].state is JobState.RUNNING
        ex.lose(j, "node p-r01-n01 lost")
        engine.sync()
        if loss == 0:  # one retry: back in the queue
            assert store.jobs[j].state is JobState.PENDING and store.jobs[j].node_losses == 1
    failed = store.jobs[j]
    assert failed.state is JobState.FAILED and failed.reason == "NodeLost"
    assert failed.detail == "node p-r01-n01 lost; no retry left (max_retries 1)"
    assert failed.node_losses == 1 and failed.preemptions == 1
    assert engine.tenant_usage_gflops()["a"] == 0


def test_the_grace_period_is_the_jobs_else_its_tenants_else_the_centers() -> None:
    engine, _, _, ex = make()
    graces: dict[str, float] = {}
    ex.start = lambda job, grace_s=0.0: graces.setdefault(job.spec.name, grace_s)  # type: ignore[method-assign]
    engine.put_tenant(replace(engine.tenants["a"], grace_period_s=90.0))

    def named(tenant: str, name: str, env: dict[str, object]) -> JobSpec:
        return JobSpec(tenant, name, JobKind.TRAINING, 1, Resources(1), estimated_runtime_s=100.0, runtime_env=env)

    engine.submit(named("a", "own", {"grace_period_s": 5}))
    engine.submit(named("a", "tenants", {}))
    engine.submit(named("b", "centers", {}))
    engine.step()
    assert graces == {"own": 5.0, "tenants": 90.0, "centers": DEFAULT_GRACE_S}


def test_a_restart_rebuilds_the_same_state_and_reconcile_repairs_the_gap() -> None:
    engine, clock, store, _ex = make()
    ids = [engine.submit(job("a")).id for _ in range(5)]
    engine.step()  # four admitted and started
    clock.advance_to(1.0)
    engine.sync()
    # Crash: a new engine on the same store; a fresh executor that knows only two jobs.
    ex2 = SleepExecutor(clock)
    for i in ids[:2]:
        ex2.start(store.jobs[i])
    ex2.poll()
    engine2 = Engine(engine.center, store, ex2, clock, engine.policy)
    assert set(engine2.holding) == set(ids[:4])
    assert [j.id for j in engine2.queue] == ids[4:]
    repairs = engine2.reconcile()
    assert sorted(repairs) == sorted(f"requeue {i}" for i in ids[2:4])
    assert store.jobs[ids[2]].state is JobState.PENDING
    run_until_quiet(engine2, clock, ex2)
    assert all(store.jobs[i].state is JobState.SUCCEEDED for i in ids)


def test_reconcile_starts_a_job_recorded_as_admitted_but_never_started() -> None:
    engine, clock, store, _ex = make()
    j = engine.submit(job("a")).id

    class Crashing(SleepExecutor):
        def start(self, job, grace_s: float = 0.0) -> None:
            raise RuntimeError("crash between record and act")

    engine.executor = Crashing(clock)
    with contextlib.suppress(RuntimeError):
        engine.step()
    assert store.jobs[j].state is JobState.ADMITTED
    ex2 = SleepExecutor(clock)
    engine2 = Engine(engine.center, store, ex2, clock, engine.policy)
    assert engine2.reconcile() == [f"start {j}"]
    assert ex2.known() == {j: EventKind.STARTED}
    assert engine2.reconcile() == []  # idempotent once started


def test_the_decision_journal_is_the_same_for_the_same_inputs() -> None:
    journals = []
    for _ in range(2):
        c, tenants = center(("p", "gpu", 2, 2), tenants=TENANTS)
        clock = ManualClock(0.0)
        store = MemoryStore(tenants)
        ex = SleepExecutor(clock)
        journal: list[str] = []
        engine = Engine(c, store, ex, clock, Policy(), journal=journal)
        for i in range(30):
            engine.submit(job("ab"[i % 2], per=1 + i % 8, runtime=10 + i * 7))
        engine.step()
        run_until_quiet(engine, clock, ex)
        journals.append(journal)
    assert journals[0] == journals[1]
    assert len(journals[0]) > 30


def test_expected_starts_follow_the_queue_and_are_reused_while_fresh() -> None:
    engine, clock, _store, ex = make()
    ids = [engine.submit(job("a")).id for _ in range(6)]  # a's limit: 4 at a time, 100 s each
    engine.step()
    clock.advance_to(10.0)
    engine.sync()
    p = engine.expected_starts()
    assert [p.get(i).start for i in ids[4:]] == [100.0, 100.0]
    assert engine.expected_starts() is p  # fresh: reused
    late = engine.submit(job("a")).id
    assert engine.expected_starts(include=[late]) is not p  # asked for a job it lacks: projected anew
    clock.advance_to(20.0)
    assert engine.expected_starts(max_age_s=5.0).at == 20.0
    engine.step()  # projecting changed nothing the step sees
    assert ex.started == ids[:4]


def test_a_checkpoint_makes_a_running_job_the_cheaper_victim() -> None:
    engine, clock, _store, _ex = make()
    b = [engine.submit(job("b", runtime=10_000)).id for _ in range(4)]  # b borrows all 16 devices
    engine.step()
    clock.advance_to(1.0)
    engine.sync()
    clock.advance_to(500.0)
    assert engine.checkpoint(b[0]) and engine.holding[b[0]].checkpointed_at == 500.0
    assert not engine.checkpoint("nope")
    engine.submit(job("a"))
    d = engine.step()
    assert [p.job_id for p in d.preempts] == [b[0]]  # not the most recent: it lost least since its checkpoint


def test_a_victim_given_notice_is_stopped_only_when_the_notice_is_over() -> None:
    c, tenants = center(("p", "gpu", 1, 2), tenants=TENANTS)
    clock = ManualClock(0.0)
    store = MemoryStore(tenants)
    ex = RecordingExecutor(clock, store)
    engine = Engine(c, store, ex, clock, Policy(min_runtime_s=0.0), preemption_notice_s=60.0)
    b = [engine.submit(job("b", runtime=10_000)).id for _ in range(4)]
    engine.step()
    clock.advance_to(1.0)
    engine.sync()
    engine.submit(job("a"))
    [victim] = [p.job_id for p in engine.step().preempts]
    assert victim in b and engine.jobs[victim].state is JobState.PREEMPTED
    assert engine.stop_notice(victim) == 61.0
    clock.advance_to(30.0)
    engine.sync()
    assert engine.jobs[victim].state is JobState.PREEMPTED and ex.next_event_at() == 10_000.0  # not stopped yet
    clock.advance_to(61.0)
    engine.sync()  # the notice is over: stopped now
    clock.advance_to(ex.next_event_at() or 61.0)
    engine.sync()
    assert engine.jobs[victim].state is JobState.PENDING and engine.stop_notice(victim) is None


def test_a_tenant_past_its_budget_runs_best_effort_jobs_preemptible_in_the_lowest_class() -> None:
    engine, _, _, _ = make()
    engine.budget_exhausted = {"a": "best-effort"}
    first = engine.submit(replace(job("a", priority="high"), preemptible=False))
    engine.step()
    ran = engine.jobs[first.id]
    assert ran.state is JobState.ADMITTED and ran.borrowing
    assert (ran.spec.preemptible, ran.spec.priority) == (True, "low")
    assert "best-effort" in ran.detail
    engine.budget_exhausted = {"a": "hold"}
    held = engine.submit(job("a"))
    engine.step()
    assert engine.waiting(held.id) is not None and engine.waiting(held.id)[0] == "BudgetExhausted"  # type: ignore[index]


def test_a_parent_tenant_takes_no_jobs() -> None:
    engine, _, _, _ = make()
    engine.tenants["org"] = replace(engine.tenants["a"], name="org")
    engine.tenants["a"] = replace(engine.tenants["a"], parent="org")
    with pytest.raises(Invalid, match="is a parent") as err:
        engine.submit(job("org"))
    assert err.value.code == "tenant-is-parent"
