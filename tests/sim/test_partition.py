"""Separate clusters (the static policies): each tenant runs on nodes of its own and nothing else."""

from __future__ import annotations

from scheduler.core import Decision
from scheduler.domain import Quota, Tenant
from scheduler.sim import Simulation
from scheduler.sim.partition import separate_clusters
from scheduler.sim.trace import Trace
from tests.sim.helpers import G, job, small_center, trace


def test_each_tenant_gets_whole_nodes_for_its_guarantee_and_the_rest_stay_idle() -> None:
    center = small_center(5)  # 5 nodes of 8
    tenants = {"b": Tenant("b", Quota(12 * G, 40 * G)), "a": Tenant("a", Quota(8 * G, 40 * G, caps={"gpu": 8}))}
    jobs = [job(1, "a", 0, 10, 8), job(2, "b", 0, 10, 1), job(3, "c", 0, 10, 1)]
    split, confined, out = separate_clusters(center, tenants, jobs)
    # a (first by name) takes node 1; b needs 12 devices: nodes 2 and 3; nodes 4 and 5 are nobody's.
    assert [n.accelerator for n in split.nodes] == ["gpu@a", "gpu@b", "gpu@b", "gpu", "gpu"]
    assert split.accelerators["gpu@b"].gflops == G
    # A tenant's quota is its cluster: b's two nodes hold 16 devices, more than its 12.
    assert confined["a"].quota == Quota(8 * G, 8 * G, 0, {"gpu@a": 8})
    assert confined["b"].quota.guaranteed == confined["b"].quota.limit == 16 * G
    # Jobs ask for their own cluster's types; a tenant with no cluster for types no node has.
    assert [j.accelerator_types for j in out] == [("gpu@a",), ("gpu@b",), ("none@c",)]


def test_static_keeps_each_tenant_on_its_own_nodes_however_idle_the_others() -> None:
    # a floods the center with 1-device jobs; b's cluster stays idle but a never touches it.
    jobs = [job(i, "a", 0, 100, 1) for i in range(40)] + [job(99, "b", 50, 10, 8)]
    t = trace(jobs, nodes=4, a=16, b=16)
    owner = {n.name: ("a" if i < 2 else "b") for i, n in enumerate(t.center.nodes)}  # type: ignore[union-attr]
    landed: list[tuple[str, str]] = []

    def watch(d: Decision) -> None:
        landed.extend((a.job_id, w.node) for a in d.admits for w in a.placement.workers)

    for name in ("static", "static-backfill"):
        landed.clear()
        sim = Simulation(t, name)
        res = sim.run(on_step=watch)
        assert all(owner[node] == ("b" if job_id == "j099" else "a") for job_id, node in landed), name
        r = res.recorder.results
        assert r["j099"].first_admit_s == 50.0  # its own cluster was free
        # a's 40 jobs run 16 at a time on its 2 nodes: three waves of 100 s.
        assert max(x.finish_s or 0 for x in r.values() if x.tenant == "a") == 300.0, name
    # Pooled, a's jobs spread over the whole center.
    pooled = Simulation(t, "fifo").run().recorder.results
    assert max(x.finish_s or 0 for x in pooled.values() if x.tenant == "a") == 200.0


def test_static_is_a_fifo_queue_per_cluster_and_static_backfill_lets_short_jobs_pass() -> None:
    # a's cluster is one node. A 4-device job runs 100 s; a's 8-device gang waits for it; a
    # 2-device 10 s job behind the gang passes it only with backfill (it ends long before).
    jobs = [job(1, "a", 0, 100, 4), job(2, "a", 1, 50, 8), job(3, "a", 2, 10, 2)]
    t = trace(jobs, nodes=2, a=8, b=8)
    fifo = Simulation(t, "static").run().recorder.results
    assert fifo["j003"].first_admit_s == 150.0  # behind the gang, which runs from 100 to 150
    backfill = Simulation(t, "static-backfill").run().recorder.results
    assert backfill["j003"].first_admit_s == 2.0
    assert backfill["j002"].first_admit_s == 100.0  # and the gang is not delayed


def test_a_gang_larger_than_its_tenants_cluster_never_starts_under_static() -> None:
    t = Trace("t", (job(1, "a", 0, 10, 16), job(2, "b", 0, 10, 16)), small_center(4),
              {"a": Tenant("a", Quota(8 * G, 32 * G)), "b": Tenant("b", Quota(24 * G, 32 * G))})
    r = Simulation(t, "static").run(max_wall_s=5).recorder.results
    assert r["j002"].finish_s == 10.0
    assert r["j001"].first_admit_s is None  # a's cluster is one node: 8 devices
