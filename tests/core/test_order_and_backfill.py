"""Order (priority, fair share, submission, aging), backfill, strict order, determinism."""

import random

from scheduler.core import Blocking, PendingJob
from scheduler.core.queue import PendingQueue
from tests.core.scenario import admitted, center, decide, pending, running, spec, waiting

BIG = [{"name": t, "guaranteed": "8P", "limit": "8P"} for t in ("a", "b")]


def test_a_higher_priority_class_goes_first_whatever_the_submission_order() -> None:
    c, tenants = center(("p", "gpu", 1, 1), tenants=BIG)
    d = decide(c, tenants, pending(spec("a", 1, 8, priority="low"), spec("a", 1, 8, priority="high")))
    assert list(admitted(d)) == ["p2"]


def test_within_a_priority_the_tenant_with_the_lower_weighted_share_goes_first() -> None:
    c, tenants = center(("p", "gpu", 1, 3), tenants=BIG)
    # a already holds a node; b holds nothing: b's job goes first though a submitted first
    held = running("r", spec("a", 1, 8), [("p-r01-n01", range(8))], "gpu")
    d = decide(c, tenants, pending(spec("a", 1, 8), spec("b", 1, 8), spec("b", 1, 8)), [held])
    assert list(admitted(d)) == ["p2", "p1"]  # then a (share 1/3) ties b (1/3): a by name
    assert waiting(d) == {"p3": "NoCapacity"}


def test_weights_share_idle_capacity_in_proportion() -> None:
    c, tenants = center(("p", "gpu", 1, 4), tenants=[
        {"name": "a", "guaranteed": 0, "limit": "8P", "weight": 3},
        {"name": "b", "guaranteed": 0, "limit": "8P", "weight": 1}])
    jobs = pending(*[spec("a", 1, 1) for _ in range(32)], *[spec("b", 1, 1) for _ in range(32)])
    d = decide(c, tenants, jobs)
    by_tenant = {"a": 0, "b": 0}
    owner = {j.id: j.spec.tenant for j in jobs}
    for a in d.admits:
        by_tenant[owner[a.job_id]] += 1
    assert by_tenant == {"a": 24, "b": 8}


def test_past_usage_decays_into_the_order() -> None:
    c, tenants = center(("p", "gpu", 1, 1), tenants=BIG)
    from scheduler.core import Policy, Snapshot, schedule
    jobs = pending(spec("a", 1, 8), spec("b", 1, 8))
    d = schedule(Snapshot(c, tenants, [], usage_history={"a": 0.9}), jobs, Policy(), 0.0)
    assert list(admitted(d)) == ["p2"]  # a used a lot recently


def test_queue_positions_count_within_each_tenant() -> None:
    c, tenants = center(("p", "gpu", 1, 1), tenants=BIG)
    d = decide(c, tenants, pending(spec("a", 2, 8), spec("a", 2, 8), spec("b", 2, 8)))
    assert {p.job_id: p.position for p in d.pending} == {"p1": 1, "p2": 2, "p3": 1}


def test_aging_lets_a_long_waiting_low_priority_job_ahead() -> None:
    c, tenants = center(("p", "gpu", 1, 1), tenants=BIG)
    old_low = PendingJob("old", 1, spec("a", 1, 8, priority="low"), submitted_at=0.0)
    new_normal = PendingJob("new", 2, spec("a", 1, 8, priority="normal"), submitted_at=9000.0)
    d = decide(c, tenants, [old_low, new_normal], now=9000.0, aging_interval_s=3600, aging_boost=100)
    assert list(admitted(d)) == ["old"]
    d = decide(c, tenants, [old_low, new_normal], now=9000.0, aging_interval_s=0)
    assert list(admitted(d)) == ["new"]


def head_blocked(allocs_end: float = 2000.0):
    """Node 1 busy until t=2000; node 2 half free. The head wants both whole nodes."""
    c, tenants = center(("p", "gpu", 1, 2), tenants=BIG)
    allocs = [running("r1", spec("a", 1, 8, runtime=allocs_end), [("p-r01-n01", range(8))], "gpu"),
              running("r2", spec("a", 1, 4, runtime=allocs_end), [("p-r01-n02", range(4))], "gpu")]
    return c, tenants, allocs


def test_backfill_starts_a_short_job_that_ends_before_the_reserved_start() -> None:
    c, tenants, allocs = head_blocked()
    jobs = pending(spec("a", 2, 8), spec("a", 1, 4, runtime=500))
    d = decide(c, tenants, jobs, allocs, now=1000.0)
    assert list(admitted(d)) == ["p2"]
    assert d.reservations[0].job_id == "p1" and d.reservations[0].start == 2000.0
    assert waiting(d) == {"p1": "NoCapacity"}


def test_backfill_refuses_a_job_that_would_delay_the_reserved_start() -> None:
    c, tenants, allocs = head_blocked()
    jobs = pending(spec("a", 2, 8), spec("a", 1, 4, runtime=5000), spec("a", 1, 4, runtime=None))
    d = decide(c, tenants, jobs, allocs, now=1000.0)
    assert d.admits == ()
    assert waiting(d) == {"p1": "NoCapacity", "p2": "BackfillBlocked", "p3": "BackfillBlocked"}


def test_a_job_past_its_estimate_is_expected_to_run_as_long_again() -> None:
    # Node 1's jobs were expected to end at t=2000; at t=3000 they still run: the gang's
    # reserved start is 6000 (they ran 3000 s, so as long again), not "now", and a job
    # that ends by then backfills instead of waiting behind a start that keeps slipping.
    c, tenants, allocs = head_blocked()
    jobs = pending(spec("a", 2, 8), spec("a", 1, 4, runtime=2500))
    d = decide(c, tenants, jobs, allocs, now=3000.0)
    assert d.reservations[0].job_id == "p1" and d.reservations[0].start == 6000.0
    assert list(admitted(d)) == ["p2"]


def test_devices_are_held_only_for_jobs_within_their_guarantee() -> None:
    # Four devices free on each node: a whole-node job cannot start (fragmented). Within its
    # guarantee it gets a reserved start on one node, and the second long job may not take
    # that node's devices; as a borrower it gets none, and both long jobs start.
    c, _ = center(("p", "gpu", 1, 2))
    quarters = [running(f"r{n}", spec("a", 1, 4, runtime=2000), [(f"p-r01-n0{n}", range(4))], "gpu", seq=n)
                for n in (1, 2)]
    jobs = pending(spec("a", 1, 8), spec("a", 1, 4, runtime=5000), spec("a", 1, 4, runtime=5000), start_seq=10)
    for guaranteed, reserved, started in (("8P", ["p10"], ["p11"]), (0, [], ["p11", "p12"])):
        _, tenants = center(("p", "gpu", 1, 2), tenants=[{"name": "a", "guaranteed": guaranteed, "limit": "8P"}])
        d = decide(c, tenants, jobs, quarters)
        assert [r.job_id for r in d.reservations] == reserved
        assert list(admitted(d)) == started
        assert waiting(d)["p10"] == "Fragmented"


def test_without_reservations_later_jobs_start_wherever_they_fit() -> None:
    c, tenants, allocs = head_blocked()
    jobs = pending(spec("a", 2, 8), spec("a", 1, 4, runtime=5000))
    d = decide(c, tenants, jobs, allocs, now=1000.0, blocking=Blocking.NONE)
    assert list(admitted(d)) == ["p2"]


def test_strict_fifo_stops_at_the_first_job_that_cannot_start() -> None:
    c, tenants, allocs = head_blocked()
    jobs = pending(spec("a", 2, 8), spec("b", 1, 1, runtime=10))
    d = decide(c, tenants, jobs, allocs, now=1000.0, blocking=Blocking.GLOBAL, fair_share=False)
    assert waiting(d) == {"p1": "NoCapacity", "p2": "QueueBlocked"}
    d = decide(c, tenants, jobs, allocs, now=1000.0, blocking=Blocking.TENANT)
    assert list(admitted(d)) == ["p2"]  # another tenant's queue is not blocked


def test_shortest_first_orders_a_tenants_jobs_by_their_runtime_bound() -> None:
    c, tenants = center(("p", "gpu", 1, 1), tenants=BIG)
    jobs = pending(spec("a", 1, 8, runtime=900), spec("a", 1, 8, runtime=60), spec("a", 1, 8, runtime=None))
    d = decide(c, tenants, jobs, shortest_first=True)
    assert list(admitted(d)) == ["p2"]
    assert [p.job_id for p in sorted(d.pending, key=lambda p: p.position)] == ["p1", "p3"]


def test_shortest_first_does_not_starve_a_long_job_that_has_waited() -> None:
    c, tenants = center(("p", "gpu", 1, 1), tenants=BIG)
    long = PendingJob("long", 1, spec("a", 1, 8, runtime=36_000), submitted_at=0.0)
    short = PendingJob("short", 2, spec("a", 1, 8, runtime=60), submitted_at=500.0)
    fresh = PendingJob("fresh", 3, spec("a", 1, 8, runtime=30), submitted_at=9_000.0)
    # Both waited beyond the aging interval: they go in the order they came, before fresh jobs.
    d = decide(c, tenants, [long, short, fresh], now=9_000.0, shortest_first=True)
    assert list(admitted(d)) == ["long"]
    # Before either has aged, shortest first.
    d = decide(c, tenants, [long, short], now=1_000.0, shortest_first=True)
    assert list(admitted(d)) == ["short"]


def running_from(admit, jobs):
    job = next(j for j in jobs if j.id == admit.job_id)
    return running(job.id, job.spec, [(w.node, w.devices) for w in admit.placement.workers],
                   admit.placement.accelerator, seq=job.seq)


def test_a_memo_kept_over_changing_steps_never_changes_a_decision() -> None:
    # Jobs start, finish, are preempted (or a decision is taken again without acting on it):
    # what the memo carries from step to step gives the decision a count from scratch gives.
    from dataclasses import replace

    from scheduler.core import Policy, Snapshot, schedule
    from scheduler.core.schedule import _Cycle
    c, tenants = center(("p", "gpu", 2, 4), ("q", "npu", 1, 3), tenants=[
        {"name": t, "guaranteed": g, "limit": "16P", "weight": 1} for t, g in (("a", "2P"), ("b", "8P"), ("c", "4P"))])
    rnd = random.Random(11)
    jobs = pending(*[spec(rnd.choice("abc"), rnd.choice([1, 2]), rnd.choice([1, 2, 4, 8]),
                          priority=rnd.choice(["low", "normal", "high"]), runtime=rnd.choice([60, 600, None]))
                     for _ in range(200)])
    memo: dict = {}
    policy = Policy()  # the memo is kept for one policy
    holding: dict = {}
    queue = list(jobs[:30])
    reserved = 0
    for step in range(40):
        queue += jobs[30 + 4 * step:34 + 4 * step]
        now = 1000.0 + 100 * step
        running = list(holding.values())
        shuffled = rnd.sample(running, len(running))  # where jobs are in the list does not matter
        plain = schedule(Snapshot(c, tenants, shuffled), queue, policy, now)
        cycle = _Cycle(Snapshot(c, tenants, running, memo=memo), policy, now)
        remembered = cycle.run(PendingQueue(queue))
        assert remembered.journal_lines() == plain.journal_lines()
        assert remembered.reservations == plain.reservations
        reserved += len(plain.reservations)
        # The order backfill walks the holders in (kept between steps, this cycle's victims
        # and admissions merged in) is the order of a sort from scratch; a job past its
        # estimate is expected to run as long again.
        for t in (0, 1):
            fresh = sorted((now if h.terminating or h.end is None else h.end if h.end >= now
                            else 2 * now - h.started_at, h.seq, h.id)
                           for h in cycle.state.holders if h.type_idx == t and (h.terminating or h.end is not None))
            assert [e[3].id for e in cycle.backfill.ending(t)] == [job_id for _, _, job_id in fresh]
        if step % 7 == 3:
            continue  # decided again next step, as if nothing was acted on
        for a in plain.admits:
            holding[a.job_id] = replace(running_from(a, jobs), started_at=now)
            queue = [j for j in queue if j.id != a.job_id]
        for p in plain.preempts:
            holding[p.job_id] = replace(holding[p.job_id], terminating=True)
        for job_id in sorted(holding):
            if holding[job_id].terminating or rnd.random() < 0.1:
                del holding[job_id]  # stopped or finished
    assert memo["holdings"].allocs
    assert reserved


def test_the_same_inputs_give_the_same_decision_byte_for_byte() -> None:
    c, tenants = center(("p", "gpu", 2, 4), ("q", "npu", 2, 3), tenants=[
        {"name": t, "guaranteed": "4P", "limit": "12P", "weight": w} for t, w in (("a", 1), ("b", 2), ("c", 1))])
    rnd = random.Random(5)
    jobs = pending(*[spec(rnd.choice("abc"), rnd.choice([1, 2, 4]), rnd.choice([1, 2, 4, 8]),
                          priority=rnd.choice(["low", "normal", "high"]), runtime=rnd.choice([60, 600, None]))
                     for _ in range(300)])
    first = decide(c, tenants, jobs).journal_lines()
    shuffled = list(jobs)
    random.Random(9).shuffle(shuffled)
    again = decide(c, tenants, PendingQueue(shuffled)).journal_lines()
    assert first == again
    # What a memo remembers between steps never changes a decision.
    from scheduler.core import Policy, Snapshot, schedule
    memo: dict = {}
    running = [running_from(a, jobs) for a in decide(c, tenants, jobs[:40]).admits]
    policy = Policy()
    plain = schedule(Snapshot(c, tenants, running), jobs[40:], policy, 1000.0).journal_lines()
    for _ in range(2):
        remembered = schedule(Snapshot(c, tenants, running, memo=memo), jobs[40:], policy, 1000.0)
        assert remembered.journal_lines() == plain
    assert memo["holdings"].allocs
    assert any(line.startswith("admit") for line in first)
    assert any(line.startswith("pending") for line in first)


def test_a_reservation_waits_for_exactly_the_jobs_a_placement_needs_gone() -> None:
    # Backfill finds how many running jobs (in order of their end) must be gone before a gang
    # fits by counting room per node; trying a placement after each release agrees, with CPU,
    # memory and earlier reservations' devices binding too.
    from scheduler.core import Policy, Snapshot
    from scheduler.core.backfill import releases_needed
    from scheduler.core.room import Room
    from scheduler.core.state import CycleState
    c, tenants = center(("a", "gpu", 2, 3), tenants=BIG)
    names = [n.name for n in c.nodes]
    rnd = random.Random(3)
    for trial in range(60):
        allocs = []
        for node in names:
            free = list(range(8))
            rnd.shuffle(free)
            while free and rnd.random() < 0.8:
                devices = sorted(free[:rnd.randint(1, len(free))])
                del free[:len(devices)]
                job = spec("a", 1, len(devices), cpus=rnd.choice([0, 4, 16]), memory=rnd.choice([0, 64 << 30]))
                allocs.append(running(f"r{len(allocs)}", job, [(node, devices)], "gpu", seq=len(allocs)))
        state = CycleState(Snapshot(c, tenants, allocs), Policy(), 0.0)
        ending = list(state.holders)
        rnd.shuffle(ending)
        blocked = {rnd.randrange(len(names)): rnd.randrange(256)} if trial % 2 else None
        for workers, per, cpus, mem in [(1, 8, 0, 0), (2, 4, 8, 0), (3, 2, 0, 100 << 30), (5, 1, 12, 1 << 30)]:
            order = [(0.0, 0, n, h) for n, h in enumerate(ending)]
            found = releases_needed(Room(state.cap, 0, per, cpus, mem, blocked), workers, order)
            counted = found[0] if found else None
            tried = None
            for m, h in enumerate(ending, 1):
                state.release(h)
                if tried is None and state.cap.fit(0, workers, per, cpus, mem, blocked) is not None:
                    tried = m
            for h in ending:
                state.retake(h)
            assert counted == tried
