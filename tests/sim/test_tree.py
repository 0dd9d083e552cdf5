"""The simulator replays a tenant tree: reclaim stays within a parent that lends nothing."""

from __future__ import annotations

from dataclasses import replace

import pytest

from scheduler.domain import Quota, Tenant
from scheduler.sim import Simulation
from scheduler.sim.budgets import parse_budget
from scheduler.sim.report import summarize
from scheduler.sim.whatif import with_parents
from tests.sim.helpers import G, job, trace


def test_a_parent_that_lends_nothing_keeps_its_idle_share_from_other_parents() -> None:
    # 32 devices: org-a (a1, a2) and org-b (b1) hold 16 each. b1 has work for the whole center, but
    # org-a lends nothing outside itself: b1 runs on org-b's 16 only, and a2 finds org-a's free.
    jobs = [job(i, "b1", 0, 1000, 8) for i in range(4)] + [job(9, "a2", 10, 100, 8)]
    t = trace(jobs, nodes=4, a1=8, a2=8, b1=16)
    tenants = with_parents(t.tenants, ["a1=org-a", "a2=org-a", "b1=org-b"], 32 * G)
    tenants["org-a"] = replace(tenants["org-a"], quota=Quota(16 * G, 16 * G, lending_limit=0))
    res = Simulation(replace(t, tenants=tenants), "aicc").run()
    r = res.recorder.results
    assert res.recorder.preemptions == 0
    assert r["j009"].first_admit_s is not None and r["j009"].first_admit_s <= 10 + 1
    assert sorted(round(x.first_admit_s) for k, x in r.items() if k != "j009" and x.first_admit_s is not None) \
        == [0, 0, 1000, 1000]
    assert set(summarize(res)["avg_queue_s_by_tenant"]) == {"a1", "a2", "b1"}  # the leaves


def test_with_parents_makes_the_parents_and_checks_the_tree() -> None:
    base = {n: Tenant(n, Quota(g * G, 32 * G)) for n, g in (("x", 8), ("y", 4))}
    out = with_parents(base, ["x=team", "y=team", "team=org"], 32 * G)
    assert out["team"].quota.guaranteed == 12 * G and out["team"].parent == "org"
    assert out["org"].quota.guaranteed == 12 * G and out["x"].parent == "team"
    with pytest.raises(ValueError, match="expected CHILD=PARENT"):
        with_parents(base, ["x"], 32 * G)
    with pytest.raises(ValueError, match="children of y"):
        with_parents(base, ["x=y"], 32 * G)  # y's 4 devices cannot hold x's 8


def test_a_spent_budget_holds_the_tenants_jobs_until_the_next_period() -> None:
    # 8 devices of 250 TFLOPS = 2 PFLOPS: a's first job spends its 1 PFLOPS-hour (per hour) in
    # 30 minutes; its next job, at 2,000 s, waits for the next period (3,600 s); b is not held.
    jobs = [job(1, "a", 0, 1800, 8), job(2, "a", 2000, 100, 8), job(3, "b", 2000, 100, 8)]
    t = trace(jobs, nodes=4, a=16, b=16)
    free = Simulation(t, "aicc").run().recorder.results
    assert free["j002"].first_admit_s == 2000
    res = Simulation(t, "aicc", budgets=[parse_budget("a=1/1h")]).run()
    r = res.recorder.results
    assert r["j002"].first_admit_s is not None and 3600 <= r["j002"].first_admit_s <= 3601
    assert r["j003"].first_admit_s == 2000
    assert res.budgets["a"]["exhausted_periods"] == 1
    assert summarize(res)["budgets"]["a"]["spent_pflops_hours"] == pytest.approx(1.0 + 2 * 100 / 3600, abs=0.01)
    with pytest.raises(ValueError, match="NAME=PFLOPS_HOURS/PERIOD"):
        parse_budget("a")
    with pytest.raises(ValueError, match="the period is"):
        parse_budget("a=1/fortnight")
