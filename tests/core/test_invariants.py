"""Property tests: whatever the center, quotas, running work and queue, the decision
never gives a device twice, never takes a tenant past its limit, places gangs whole,
and preempts only jobs that may be preempted."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scheduler.core import Allocation, PendingJob, Policy, Snapshot, schedule
from tests.core.scenario import center, spec

PRIORITIES = ["low", "normal", "high"]


@st.composite
def worlds(draw: st.DrawFn) -> tuple:
    pools = [("p", "gpu-a", draw(st.integers(1, 3)), draw(st.integers(1, 3)))]
    if draw(st.booleans()):
        pools.append(("q", "gpu-b", draw(st.integers(1, 2)), draw(st.integers(1, 3))))
    ntenants = draw(st.integers(1, 3))
    tenants = []
    for i in range(ntenants):
        guaranteed = draw(st.integers(0, 16))  # in devices of 250 TFLOPS
        limit = guaranteed + draw(st.integers(0, 24))
        t = {"name": f"t{i}", "guaranteed": f"{guaranteed * 250}T", "limit": f"{limit * 250}T",
             "weight": draw(st.sampled_from([1, 2]))}
        if draw(st.booleans()):
            t["caps"] = {"gpu-a": draw(st.integers(0, 24))}
        tenants.append(t)
    c, ts = center(*pools, devices=draw(st.sampled_from([4, 8])), tenants=tenants, extra_types=["gpu-a"])

    def job_specs(n: int) -> list:
        out = []
        for _ in range(n):
            out.append(spec(f"t{draw(st.integers(0, ntenants - 1))}", draw(st.integers(1, 4)),
                            draw(st.sampled_from([1, 2, 4, 8])),
                            types=draw(st.sampled_from([(), ("gpu-a",), ("gpu-b",), ("gpu-a", "gpu-b")])),
                            priority=draw(st.sampled_from(PRIORITIES)),
                            runtime=draw(st.sampled_from([None, 100.0, 5000.0])),
                            preemptible=draw(st.booleans())))
        return out

    first = job_specs(draw(st.integers(0, 12)))
    second = job_specs(draw(st.integers(1, 12)))
    policy = Policy(min_runtime_s=draw(st.sampled_from([0.0, 60.0, 10_000.0])),
                    borrowing=draw(st.booleans()))
    return c, ts, first, second, policy


def devices_of(alloc_like) -> set[tuple[str, int]]:
    return {(w.node, d) for w in alloc_like.workers for d in w.devices}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(worlds())
def test_decisions_keep_every_invariant(world: tuple) -> None:
    c, tenants, first, second, policy = world
    # Running work comes from an earlier decision, so it is consistent with the quotas.
    jobs1 = [PendingJob(f"a{i}", i, s, 0.0) for i, s in enumerate(first)]
    d1 = schedule(Snapshot(c, tenants, []), jobs1, policy, 0.0)
    by_id = {j.id: j for j in jobs1}
    running = [Allocation(a.job_id, by_id[a.job_id].seq, by_id[a.job_id].spec, a.placement, 0.0)
               for a in d1.admits]
    jobs2 = [PendingJob(f"b{i}", 100 + i, s, 50.0) for i, s in enumerate(second)]
    now = 100.0
    d = schedule(Snapshot(c, tenants, running), jobs2, policy, now)

    # Every pending job is either admitted or waits with a reason, exactly once.
    decided = [a.job_id for a in d.admits] + [p.job_id for p in d.pending]
    assert sorted(decided) == sorted(j.id for j in jobs2)

    # No device given twice, and only devices that exist on ready nodes.
    taken: set[tuple[str, int]] = set()
    for a in running:
        taken |= devices_of(a.placement)
    specs = {j.id: j.spec for j in jobs2}
    for a in d.admits:
        mine = devices_of(a.placement)
        assert not (mine & taken), "a device was given twice"
        taken |= mine
        s = specs[a.job_id]
        # The gang is whole: one worker per bundle, each with its devices on one node of one type.
        assert len(a.placement.workers) == s.workers
        for w in a.placement.workers:
            node = c.node(w.node)
            assert len(w.devices) == s.resources.accelerators
            assert all(0 <= dev < node.devices for dev in w.devices)
            assert node.accelerator == a.placement.accelerator
            assert node.schedulable
        assert not s.resources.accelerator_types or a.placement.accelerator in s.resources.accelerator_types

    # No tenant above its limit (or its guarantee without borrowing), no cap exceeded.
    used: dict[str, int] = {}
    per_type: dict[tuple[str, str], int] = {}
    for tenant, placement in [(a.spec.tenant, a.placement) for a in running] + [
            (specs[a.job_id].tenant, a.placement) for a in d.admits]:
        gflops = c.accelerators[placement.accelerator].gflops * placement.devices
        used[tenant] = used.get(tenant, 0) + gflops
        key = (tenant, placement.accelerator)
        per_type[key] = per_type.get(key, 0) + placement.devices
    for name, t in tenants.items():
        ceiling = t.quota.limit if policy.borrowing else t.quota.guaranteed
        assert used.get(name, 0) <= ceiling
        for accel, cap in t.quota.caps.items():
            assert per_type.get((name, accel), 0) <= cap

    # Victims are preemptible, old enough, and preempted once.
    victims = [p.job_id for p in d.preempts]
    assert len(victims) == len(set(victims))
    held = {a.id: a for a in running}
    for p in d.preempts:
        v = held[p.job_id]
        assert v.spec.preemptible
        assert now - v.started_at >= policy.min_runtime_s
        assert p.for_job in specs

    # Deterministic.
    again = schedule(Snapshot(c, tenants, running), list(reversed(jobs2)), policy, now)
    assert again.journal_lines() == d.journal_lines()
