"""The real traces, read in place: what the report's sizing rests on."""

from __future__ import annotations

import pytest

from scheduler.sim.helios import helios_shares, tenants_for
from scheduler.sim.itp import guaranteed_gpus, load_itp
from scheduler.sim.openb import load_openb
from scheduler.sim.trace import TraceError
from tests.sim.helpers import traces_root


def test_guarantee_rule_rounds_up_to_nodes_and_the_largest_gang() -> None:
    assert guaranteed_gpus(100 * 3600, 3600, 8) == 104  # 100 GPUs of mean demand -> 13 nodes
    assert guaranteed_gpus(3 * 3600, 3600, 64) == 64  # tiny load, but a 64-GPU gang
    assert guaranteed_gpus(0, 3600, 1) == 8


def test_itp_ten_tenants_on_one_axis_sized_from_their_load() -> None:
    t = load_itp(traces_root())
    assert len(t.jobs) == 69_351
    assert sorted(t.tenants) == [f"itp{i:02d}" for i in range(1, 11)]
    assert t.center is not None
    gpus = sum(t.center.devices_by_type().values())
    assert gpus == 1224 and len(t.center.nodes) == 153
    g = t.center.accelerators["v100"].gflops
    assert sum(x.quota.guaranteed for x in t.tenants.values()) == 1224 * g
    assert t.tenants["itp04"].quota.guaranteed == 496 * g  # the big one
    assert t.tenants["itp10"].quota.guaranteed == 16 * g  # small load, 16-GPU gangs
    submits = [j.submit_s for j in t.jobs]
    assert submits == sorted(submits) and submits[0] == 0.0
    assert max(j.devices for j in t.jobs) == 64
    big = next(j for j in t.jobs if j.devices == 64)
    assert (big.workers, big.per_worker) == (8, 8)
    assert t.jobs[0].spec().estimated_runtime_s is None  # no one sees the true duration


def test_openb_heterogeneous_nodes_and_qos_classes() -> None:
    root = traces_root()
    t = load_openb(root)
    assert t.center is not None
    assert len(t.center.nodes) == 1213
    assert sum(t.center.devices_by_type().values()) == 6212
    assert set(t.center.accelerators) == {"a10", "g2", "g3", "p100", "t4", "v100m16", "v100m32"}
    classes = {(j.priority, j.preemptible) for j in t.jobs}
    assert ("high", False) in classes and ("low", True) in classes
    assert all(j.devices >= 1 for j in t.jobs)


def test_helios_shares_become_proportional_guarantees() -> None:
    root = traces_root()
    shares = helios_shares("venus", root=root)
    assert shares["vcjsw"] == 256 and all(v > 0 for v in shares.values())
    t = load_itp(root, limit_per_tenant=10)
    assert t.center is not None
    ten = tenants_for(shares, t.center)
    total = sum(x.quota.guaranteed for x in ten.values())
    assert total <= t.center.capacity_gflops()
    assert ten["vcjsw"].quota.guaranteed > ten["vcgkz"].quota.guaranteed
    with pytest.raises(TraceError):
        helios_shares("mars", root=root)
