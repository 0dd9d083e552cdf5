"""Property test over many steps: whatever arrives, finishes, is cancelled or lost,
terminal states stay terminal, no device is held twice, no tenant passes its limit,
and the engine's memory agrees with the store."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scheduler.core import Policy
from scheduler.core.holdings import Holdings
from scheduler.domain import JobKind, JobSpec, JobState, Resources
from scheduler.engine import Engine, ManualClock
from scheduler.executors.sleep import SleepExecutor
from scheduler.store.memory import MemoryStore
from tests.core.scenario import center

TENANTS = [{"name": "a", "guaranteed": "2P", "limit": "5P"},
           {"name": "b", "guaranteed": "3P", "limit": "6P"},
           {"name": "c", "guaranteed": 0, "limit": "2P"}]

ops = st.lists(st.one_of(
    st.tuples(st.just("submit"), st.sampled_from("abc"), st.integers(1, 3), st.sampled_from([1, 2, 4, 8]),
              st.sampled_from(["low", "normal", "high"]), st.integers(1, 500)),
    st.tuples(st.just("advance"), st.integers(1, 400)),
    st.tuples(st.just("cancel"), st.integers(0, 50)),
    st.tuples(st.just("lose"), st.integers(0, 50)),
), min_size=5, max_size=60)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops)
def test_many_steps_keep_every_invariant(script: list[tuple]) -> None:
    c, tenants = center(("p", "gpu", 2, 2), ("q", "npu", 1, 2), tenants=TENANTS)
    clock = ManualClock(0.0)
    store = MemoryStore(tenants)
    ex = SleepExecutor(clock, stop_delay_s=5.0)
    engine = Engine(c, store, ex, clock, Policy(min_runtime_s=30.0))
    ended: dict[str, JobState] = {}
    ids: list[str] = []
    for op in script:
        if op[0] == "submit":
            _, tenant, workers, per, prio, runtime = op
            spec = JobSpec(tenant, "x", JobKind.BATCH, workers, Resources(per), priority=prio,
                           estimated_runtime_s=float(runtime))
            ids.append(engine.submit(spec).id)
        elif op[0] == "advance":
            clock.advance_to(clock.now() + op[1])
            engine.sync()
        elif op[0] == "cancel" and ids:
            target = ids[op[1] % len(ids)]
            if target in engine.jobs:  # ended jobs leave the engine; the service answers for them
                engine.cancel(target)
        elif op[0] == "lose" and ids:
            ex.lose(ids[op[1] % len(ids)])
            engine.sync()
        _check_remembered(engine)
        engine.step()

        # Terminal states stay terminal, in the store.
        for job_id, state in ended.items():
            assert store.jobs[job_id].state is state
        ended.update({j.id: j.state for j in store.jobs.values() if j.state.terminal})
        # No device held twice; every holder is a live job in the store with that placement.
        seen: set[tuple[str, int]] = set()
        used: dict[str, int] = {}
        for alloc in engine.holding.values():
            for w in alloc.placement.workers:
                for d in w.devices:
                    assert (w.node, d) not in seen
                    seen.add((w.node, d))
            assert store.jobs[alloc.id].placement == alloc.placement
            used[alloc.spec.tenant] = used.get(alloc.spec.tenant, 0) + c.accelerators[
                alloc.placement.accelerator].gflops * alloc.placement.devices
        # No tenant above its limit; usage is exactly what the holders hold.
        for name, t in tenants.items():
            assert used.get(name, 0) <= t.quota.limit
        assert {k: v for k, v in engine.tenant_usage_gflops().items() if v} == used
        # The devices the usage history reads, kept as jobs come and go, are what usage() counts.
        assert {t: {a: n for a, n in d.items() if n} for t, d in engine._held.items()
                if any(d.values())} == {t: d for t, d in engine.usage().items() if d}
        # The queue holds exactly the pending jobs.
        assert sorted(j.id for j in engine.queue) == sorted(
            j.id for j in store.jobs.values() if j.state is JobState.PENDING)


def _check_remembered(engine: Engine) -> None:
    """What decisions remember of the running jobs, kept from the engine's changes, is a fresh count."""
    kept = engine._memo.get("holdings")
    if not isinstance(kept, Holdings):
        return
    running = tuple(engine.holding.values())
    kept.sync(running, engine._held_changes)  # what the next step does first (twice is harmless)
    fresh = Holdings(kept.layout, kept.priorities, kept.type_gflops)
    fresh.sync(running)

    def state(h: Holdings) -> object:
        order = [[(*e[:-2], e[-1].id) for e in entries] for entries in h.ending + h.preemptible]
        used = {t: g for t, g in h.used.items() if g}
        used_dev = {t: d for t, d in h.used_dev.items() if any(d)}
        return (h.cap.free, h.cap.cpu, h.cap.mem, h.cap.buckets, used, used_dev, h.stopping,
                sorted(x.id for x in h.leaving.values()), sorted(h.allocs), order)
    assert state(kept) == state(fresh)
