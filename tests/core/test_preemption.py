"""Reclaim of lent guarantees and priority preemption within a tenant.

Test devices have 250 TFLOPS: 4 devices are 1 PFLOPS.
"""

from dataclasses import replace

from scheduler.core import PreemptReason
from tests.core.scenario import admitted, center, decide, pending, running, spec, waiting

QUOTAS = [{"name": "a", "guaranteed": "2P", "limit": "4P"}, {"name": "b", "guaranteed": "2P", "limit": "4P"}]


def full_of_b(preemptible: bool = True, started_at: float = 0.0) -> list:
    """b holds all four 4-device slots of two nodes: 4P, of which 2P borrowed."""
    return [running(f"b{i}", spec("b", 1, 4, preemptible=preemptible), [(f"p-r01-n0{1 + i // 2}", range(4 * (i % 2), 4 * (i % 2) + 4))],
                    "gpu", started_at=started_at + i, seq=i) for i in range(4)]


def test_a_tenant_under_its_guarantee_reclaims_from_a_borrower() -> None:
    c, tenants = center(("p", "gpu", 1, 2), tenants=QUOTAS)
    d = decide(c, tenants, pending(spec("a", 1, 4)), full_of_b())
    assert [(p.job_id, p.reason, p.for_job) for p in d.preempts] == [("b3", PreemptReason.RECLAIM, "p1")]
    assert waiting(d) == {"p1": "WaitingForPreemption"}


def test_reclaim_takes_the_fewest_most_recent_victims_that_let_the_job_fit() -> None:
    c, tenants = center(("p", "gpu", 1, 2), tenants=QUOTAS)
    d = decide(c, tenants, pending(spec("a", 1, 8)), full_of_b())
    # 8 devices on one node: the two most recent jobs share node 2
    assert sorted(p.job_id for p in d.preempts) == ["b2", "b3"]


def test_reclaim_never_takes_a_borrower_below_its_own_guarantee() -> None:
    c, tenants = center(("p", "gpu", 1, 2), tenants=QUOTAS)
    # a asks for 4P (its limit) but only 2P of it is guaranteed: no reclaim beyond that
    d = decide(c, tenants, pending(spec("a", 2, 8)), full_of_b())
    assert d.preempts == ()


def test_reclaim_never_takes_non_preemptible_or_young_jobs() -> None:
    c, tenants = center(("p", "gpu", 1, 2), tenants=QUOTAS)
    d = decide(c, tenants, pending(spec("a", 1, 4)), full_of_b(preemptible=False))
    assert d.preempts == ()
    d = decide(c, tenants, pending(spec("a", 1, 4)), full_of_b(started_at=990), now=1000, min_runtime_s=60)
    assert d.preempts == ()
    d = decide(c, tenants, pending(spec("a", 1, 4)), full_of_b(started_at=900), now=1000, min_runtime_s=60)
    assert len(d.preempts) == 1


def test_jobs_being_stopped_are_waited_for_not_preempted_again() -> None:
    c, tenants = center(("p", "gpu", 1, 2), tenants=QUOTAS)
    allocs = full_of_b()
    allocs[3] = running("b3", spec("b", 1, 4), [("p-r01-n02", range(4, 8))], "gpu", seq=3, terminating=True)
    d = decide(c, tenants, pending(spec("a", 1, 4)), allocs)
    assert d.preempts == ()
    assert waiting(d) == {"p1": "WaitingForPreemption"}


def test_after_the_victims_are_gone_the_job_starts_where_they_were() -> None:
    c, tenants = center(("p", "gpu", 1, 2), tenants=QUOTAS)
    allocs = full_of_b()
    first = decide(c, tenants, pending(spec("a", 1, 4)), allocs)
    gone = {p.job_id for p in first.preempts}
    second = decide(c, tenants, pending(spec("a", 1, 4)), [a for a in allocs if a.id not in gone])
    assert list(admitted(second)) == ["p1"]
    assert second.preempts == ()


def test_a_higher_priority_job_preempts_lower_priority_work_of_its_own_tenant() -> None:
    c, tenants = center(("p", "gpu", 1, 1), tenants=[{"name": "a", "guaranteed": "2P", "limit": "2P"}])
    low = running("low", spec("a", 1, 8, priority="low"), [("p-r01-n01", range(8))], "gpu")
    d = decide(c, tenants, pending(spec("a", 1, 8, priority="high")), [low])
    assert [(p.job_id, p.reason) for p in d.preempts] == [("low", PreemptReason.PRIORITY)]
    # an equal priority job does not
    d = decide(c, tenants, pending(spec("a", 1, 8, priority="low")), [low])
    assert d.preempts == ()


def test_priority_preemption_frees_quota_as_well_as_devices() -> None:
    c, tenants = center(("p", "gpu", 1, 2), tenants=[{"name": "a", "guaranteed": "2P", "limit": "2P"}])
    low = running("low", spec("a", 1, 8, priority="low"), [("p-r01-n01", range(8))], "gpu")
    d = decide(c, tenants, pending(spec("a", 1, 8, priority="high")), [low])  # devices free, quota not
    assert [p.job_id for p in d.preempts] == ["low"]


def test_other_tenants_lower_priority_jobs_are_not_preempted_for_priority() -> None:
    c, tenants = center(("p", "gpu", 1, 1), tenants=[
        {"name": "a", "guaranteed": 0, "limit": "2P"}, {"name": "b", "guaranteed": "2P", "limit": "2P"}])
    low = running("low", spec("b", 1, 8, priority="low"), [("p-r01-n01", range(8))], "gpu")
    d = decide(c, tenants, pending(spec("a", 1, 8, priority="high")), [low])
    assert d.preempts == ()


def test_a_lowered_guarantee_makes_the_excess_reclaimable() -> None:
    c, tenants = center(("p", "gpu", 1, 2), tenants=[
        {"name": "a", "guaranteed": "1P", "limit": "4P"}, {"name": "b", "guaranteed": "3P", "limit": "4P"}])
    # a runs 2P (its guarantee was 2P, an admin lowered it to 1P); b wants its 3P
    a_jobs = [running(f"a{i}", spec("a", 1, 4), [("p-r01-n01", range(4 * i, 4 * i + 4))], "gpu", seq=i)
              for i in range(2)]
    b_job = running("b0", spec("b", 1, 8), [("p-r01-n02", range(8))], "gpu", seq=5)
    d = decide(c, tenants, pending(spec("b", 1, 4)), [*a_jobs, b_job])
    assert [p.job_id for p in d.preempts] == ["a1"]


def test_reclaim_and_requeue_reach_a_fixed_point() -> None:
    """No preemption loops: after the reclaim settles, further steps preempt nothing."""
    from scheduler.core import PendingJob

    c, tenants = center(("p", "gpu", 1, 2), tenants=QUOTAS)
    allocs = full_of_b()
    queue = pending(spec("a", 1, 4), spec("a", 1, 4), start_seq=10)
    now = 1000.0
    for _ in range(6):
        d = decide(c, tenants, queue, allocs, now=now)
        gone = {p.job_id for p in d.preempts}
        started = admitted(d)
        specs = {j.id: j.spec for j in queue}
        allocs = [a for a in allocs if a.id not in gone] + [
            running(j, specs[j], [(w.node, w.devices) for w in p.workers], p.accelerator, started_at=now, seq=100)
            for j, p in started.items()]
        # preempted jobs come back to the queue
        queue = [j for j in queue if j.id not in started] + [
            PendingJob(g, 1 + int(g[1:]), spec("b", 1, 4), 0.0) for g in sorted(gone)]
        now += 1000
    assert d.preempts == ()
    held = {}
    for a in allocs:
        held[a.spec.tenant] = held.get(a.spec.tenant, 0) + a.placement.devices
    assert held == {"a": 8, "b": 8}


def test_victims_that_lose_the_least_work_go_first() -> None:
    # b2 checkpointed a minute ago: stopping it loses less than stopping the more recent b3
    c, tenants = center(("p", "gpu", 1, 2), tenants=QUOTAS)
    allocs = full_of_b()
    allocs[2] = replace(allocs[2], checkpointed_at=940.0)
    d = decide(c, tenants, pending(spec("a", 1, 4)), allocs)
    assert [p.job_id for p in d.preempts] == ["b2"]
    # today's order (most recent first) without it
    d = decide(c, tenants, pending(spec("a", 1, 4)), allocs, victims_by_cost=False)
    assert [p.job_id for p in d.preempts] == ["b3"]


def test_without_checkpoints_victims_go_by_most_recent_start_as_before() -> None:
    c, tenants = center(("p", "gpu", 1, 1), tenants=[{"name": "a", "guaranteed": "1P", "limit": "2P"},
                                                    {"name": "b", "guaranteed": "1P", "limit": "2P"}])
    allocs = [running("b1", spec("b", 1, 4), [("p-r01-n01", range(4))], "gpu", started_at=0, seq=1),
              running("b2", spec("b", 1, 2), [("p-r01-n01", range(4, 6))], "gpu", started_at=300, seq=2),
              running("b3", spec("b", 1, 2), [("p-r01-n01", range(6, 8))], "gpu", started_at=400, seq=3)]
    for by_cost in (True, False):
        d = decide(c, tenants, pending(spec("a", 1, 2)), allocs, restart_cost_s=600.0, victims_by_cost=by_cost)
        assert [p.job_id for p in d.preempts] == ["b3"]
