"""The live engine and the simulator make the same decisions for the same trace.

The live side is driven as the service drives it: a loop that, every tick of
its clock, submits what arrived, syncs with the executor and steps, whether or
not anything changed. The simulator steps only at event times (and wake-ups),
on the same one-second tick. Every step the
simulator takes happens at a time the live loop also steps, so each of them
must be byte-identical to the live step at that time, and the two must admit
and preempt exactly the same jobs at the same times.

Usage history is the one thing that depends on how often a loop steps (it
integrates the shares held between steps), so both run with a half-life of 0:
fair share then orders by the shares held at the step.
"""

from __future__ import annotations

from dataclasses import replace

from scheduler.engine import Engine, ManualClock
from scheduler.executors.sleep import SleepExecutor
from scheduler.sim import LearnedEstimator, Simulation, make_policy
from scheduler.sim.trace import Trace
from scheduler.store.memory import MemoryStore
from tests.sim.helpers import job, small_center, tenants


def _trace() -> Trace:
    jobs = []
    k = 0
    for i in range(30):  # a borrows everything early; b and c come for their guarantees
        jobs.append(job(k, "a", i, 400 + 37 * (i % 5), 1 + (i % 3)))
        k += 1
    for i in range(12):
        jobs.append(job(k, "b", 100 + 13 * i, 200 + 11 * i, (1, 2, 4, 8)[i % 4],
                        priority="high" if i % 5 == 0 else "normal"))
        k += 1
    for i in range(10):
        jobs.append(job(k, "c", 150 + 29 * i, 90 + 50 * (i % 3), 16 if i == 3 else 2, priority="low"))
        k += 1
    ordered = tuple(sorted(jobs, key=lambda j: (j.submit_s, j.id)))
    return Trace("equivalence", ordered, small_center(4), tenants(a=8, b=12, c=12))


def _live(trace: Trace, policy_spec, tick: float = 1.0) -> list[str]:  # type: ignore[no-untyped-def]
    assert trace.center is not None
    durations = {j.id: j.duration_s for j in trace.jobs}
    clock = ManualClock(0.0)
    executor = SleepExecutor(clock, runtime_of=lambda j: durations[j.id], stop_delay_s=30.0)
    journal: list[str] = []
    engine = Engine(trace.center, MemoryStore(trace.tenants), executor, clock, policy_spec.policy,
                    journal=journal, estimator=LearnedEstimator())
    jobs = list(trace.jobs)
    i = 0
    t = 0.0
    while i < len(jobs) or engine.queue or engine.holding:
        clock.advance_to(t)
        while i < len(jobs) and jobs[i].submit_s <= t:
            engine.submit(jobs[i].spec(), jobs[i].id)
            i += 1
        engine.sync()
        engine.step()
        t += tick
        assert t < 100_000, "the live loop did not drain"
    return journal


def _by_time(journal: list[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in journal:
        out.setdefault(line.split(" ", 1)[0], []).append(line)
    return out


def test_live_loop_and_simulator_decide_alike() -> None:
    trace = _trace()
    spec = make_policy("aicc")
    spec = replace(spec, policy=replace(spec.policy, fair_share_half_life_s=0.0, min_runtime_s=60.0))
    live = _live(trace, spec)
    sim_journal: list[str] = []
    # resume=False: the live sleep executor restarts a stopped job from scratch
    # tick_s=1: decisions that change with time alone (a reservation's start passing) land on
    # the same tick as the live loop's
    Simulation(trace, spec, journal=sim_journal, stop_delay_s=30.0, resume=False, tick_s=1.0).run()
    decisions = [x for x in live if " admit " in x or " preempt " in x]
    assert [x for x in sim_journal if " admit " in x or " preempt " in x] == decisions
    assert any(" preempt " in x for x in decisions) and len(decisions) > 50
    live_steps = _by_time(live)
    for stamp, lines in _by_time(sim_journal).items():
        assert lines == live_steps[stamp], f"the step at {stamp} differs"
