"""The replay: every job runs for its trace duration, in the policy's order, deterministically."""

from __future__ import annotations

from dataclasses import replace

from scheduler.core import Decision
from scheduler.sim import Failures, Simulation, make_policy
from scheduler.sim.report import summarize
from scheduler.sim.synthetic import synthetic_trace
from tests.sim.helpers import G, job, small_center, tenants, trace


def test_one_job_waits_for_the_other_and_metrics_add_up() -> None:
    # One 8-device node; a takes it all for 100 s, b arrives at 10 s and waits 90 s.
    t = trace([job(1, "a", 0, 100, 8), job(2, "b", 10, 50, 8)], nodes=1, a=4, b=4)
    res = Simulation(t, "drf").run()
    r = res.recorder.results
    assert (r["j001"].first_admit_s, r["j001"].finish_s) == (0.0, 100.0)
    assert (r["j002"].first_admit_s, r["j002"].finish_s) == (100.0, 150.0)
    s = summarize(res)
    assert s["avg_queue_s"] == 45.0 and s["avg_jct_s"] == 120.0 and s["makespan_s"] == 150.0
    # 8 of 8 devices held for 150 s: fully allocated; saturated from 10 s to 100 s
    assert s["allocation_ratio"] == 1.0
    assert s["saturated_time_s"] == 90.0 and s["allocation_ratio_saturated"] == 1.0
    assert s["preemptions"] == s["preempted_jobs"] == s["max_preemptions_of_a_job"] == 0


def test_fifo_keeps_strict_order_where_drf_backfills() -> None:
    # a's 8-device gang waits behind a running job; fifo lets nothing pass it.
    jobs = [job(1, "a", 0, 100, 4), job(2, "a", 1, 50, 8), job(3, "b", 2, 10, 2)]
    fifo = Simulation(trace(jobs, nodes=1, a=4, b=4), "fifo").run().recorder.results
    drf = Simulation(trace(jobs, nodes=1, a=4, b=4), "drf").run().recorder.results
    assert fifo["j003"].first_admit_s == 150.0  # behind j002, which runs from 100 to 150
    assert drf["j003"].first_admit_s == 2.0  # fits beside j001 at once


def test_static_never_lends_a_guarantee() -> None:
    t = trace([job(i, "a", 0, 100, 4) for i in range(4)] + [job(10, "b", 500, 10, 4)], nodes=2, a=8, b=8)
    peaks: list[int] = []

    def watch(_: Decision) -> None:
        peaks.append(sim.engine.tenant_usage_gflops().get("a", 0) // G)

    sim = Simulation(t, "static")
    sim.run(on_step=watch)
    assert max(peaks) == 8  # a never goes beyond its 8 devices, though 16 sit idle
    sim2 = Simulation(t, "aicc")
    res = sim2.run()
    assert max(r.first_admit_s or 0 for r in res.recorder.results.values() if r.tenant == "a") == 0.0


def test_reclaim_preempts_a_borrower_and_the_victim_reruns() -> None:
    # a borrows the whole center; b comes for its guarantee once a's jobs are past the
    # minimum runtime (1,800 s); a's youngest job is stopped.
    jobs = [job(i, "a", 0, 5000, 8) for i in range(4)] + [job(9, "b", 2000, 100, 8)]
    res = Simulation(trace(jobs, nodes=4, a=16, b=16), "aicc").run()
    r = res.recorder.results
    assert res.recorder.preemptions == 1
    assert r["j009"].first_admit_s is not None and r["j009"].first_admit_s <= 2000 + 30 + 1
    victim = next(x for x in r.values() if x.preemptions)
    assert victim.finish_s is not None and victim.finish_s >= 5000 + 30  # stopped, then resumed
    s = summarize(res)
    assert s["guarantee_violations"] == 0.0  # b got its guarantee within the grace
    assert (s["preemptions"], s["preempted_jobs"], s["max_preemptions_of_a_job"]) == (1, 1, 1)


def test_a_restart_loses_its_cost_in_work_and_the_summary_counts_it() -> None:
    # As above; the victim ran 2,030 s (stopping included) when it was requeued.
    jobs = [job(i, "a", 0, 5000, 8) for i in range(4)] + [job(9, "b", 2000, 100, 8)]
    runs = {cost: Simulation(trace(jobs, nodes=4, a=16, b=16), "aicc", restart_cost_s=cost).run()
            for cost in (0.0, 600.0, 3000.0)}
    ends = {}
    for cost, res in runs.items():
        [victim] = [x for x in res.recorder.results.values() if x.preemptions]
        assert victim.finish_s is not None
        ends[cost] = victim.finish_s
    assert ends[600.0] - ends[0.0] == 600.0  # 600 s of its work done again
    assert ends[3000.0] - ends[0.0] == 2030.0  # an attempt never loses more than it ran
    lost = {cost: summarize(res)["lost_work_device_h"] for cost, res in runs.items()}
    assert lost == {0.0: 0.0, 600.0: round(8 * 600 / 3600, 1), 3000.0: round(8 * 2030 / 3600, 1)}
    assert summarize(Simulation(trace(jobs, nodes=4, a=16, b=16), "aicc", resume=False).run()
                     )["lost_work_device_h"] == round(8 * 2030 / 3600, 1)  # no checkpoint: all of it


def test_guarantee_violation_is_counted_when_nothing_reclaims() -> None:
    # Same load under drf (no quotas, no preemption): b waits 800 s with its guarantee lent out.
    jobs = [job(i, "a", 0, 1000, 8) for i in range(4)] + [job(9, "b", 200, 100, 8)]
    s = summarize(Simulation(trace(jobs, nodes=4, a=16, b=16), "drf").run())
    assert s["guarantee_violations"] == 1000 - 200 - 120  # beyond the 120 s grace


def test_same_seed_same_journal_byte_for_byte() -> None:
    center = small_center(6)
    ten = tenants(a=16, b=16, c=16)
    t = synthetic_trace(center, ten, 400, seed=3, load=1.3, median_s=600)
    journals = []
    for _ in range(2):
        journal: list[str] = []
        Simulation(t, "aicc", journal=journal, seed=5, failures=Failures(mtbf_s=20_000, repair_s=600)).run()
        journals.append("\n".join(journal))
    assert journals[0] == journals[1] and len(journals[0]) > 1000
    other: list[str] = []
    Simulation(t, "aicc", journal=other, seed=6, failures=Failures(mtbf_s=20_000, repair_s=600)).run()
    assert "\n".join(other) != journals[0]  # the seed drives the failures


def test_node_failures_requeue_jobs_and_every_job_still_finishes() -> None:
    center = small_center(6)
    t = synthetic_trace(center, tenants(a=16, b=16, c=16), 300, seed=1, load=1.0, median_s=900)
    res = Simulation(t, "aicc", seed=2, failures=Failures(mtbf_s=5_000, repair_s=900)).run()
    done = [r for r in res.recorder.results.values() if r.finish_s is not None]
    assert len(done) == 300
    lost = [r for r in done if r.finish_s is not None and r.finish_s - r.submit_s > r.duration_s + 1
            and r.start_s is not None and r.start_s > (r.first_admit_s or 0)]
    assert lost  # some jobs were restarted after their node failed


def test_oracle_alone_sees_true_durations() -> None:
    t = trace([job(1, "a", 0, 100, 1)], nodes=1, a=8)
    seen = {}
    for name in ("fifo", "static", "drf", "aicc", "oracle"):
        sim = Simulation(t, name)
        sim.run(on_step=lambda d, s=sim, n=name: seen.setdefault(n, s.engine.holding["j001"].spec.estimated_runtime_s))
    assert seen == {"fifo": None, "static": None, "drf": None, "aicc": None, "oracle": 100.0}


def test_shortest_first_with_learned_estimates_beats_fifo_on_mixed_runtimes() -> None:
    # Tenant s runs short jobs, tenant l long ones, on one 8-device node, all 1-device jobs.
    jobs = []
    for k in range(40):
        jobs.append(job(2 * k, "l", k * 10, 3000, 1))
        jobs.append(job(2 * k + 1, "s", k * 10 + 5, 60, 1))
    t = trace(jobs, nodes=1, s=4, l=4)
    fifo = summarize(Simulation(t, "fifo").run())
    spec = make_policy("aicc")
    aicc = summarize(Simulation(t, replace(spec, policy=replace(spec.policy, quotas=False))).run())
    assert aicc["avg_jct_s"] < 0.7 * fifo["avg_jct_s"]


def test_fill_snapshot_counts_gpus_left_free_by_fragmentation() -> None:
    from scheduler.sim.openb import fill_snapshot, fill_snapshot_best_fit

    # Two 8-GPU nodes; tasks of 3, 3, 6 then 4 GPUs: 2 + 2 GPUs stay free, and the 4 fits nowhere.
    t = trace([job(1, "a", 0, 10, 3), job(2, "a", 1, 10, 3), job(3, "a", 2, 10, 6), job(4, "a", 3, 10, 4)],
              nodes=2, a=16)
    expect = {"allocated_gpus": 12, "unallocated_gpus": 4, "placed_tasks": 3, "waiting_tasks": 1,
              "fragmented_gpus": 4.0}
    assert fill_snapshot_best_fit(t) == expect
    assert fill_snapshot(t, "aicc") == expect
    # Under static, a's tasks stay in its own cluster (one node): its 4 waits beside b's idle node.
    t = trace([job(1, "a", 0, 10, 6), job(2, "a", 1, 10, 4)], nodes=2, a=8, b=8)
    assert fill_snapshot(t, "aicc")["unallocated_gpus"] == 6
    assert fill_snapshot(t, "static") == {"allocated_gpus": 6, "unallocated_gpus": 10, "placed_tasks": 1,
                                          "waiting_tasks": 1, "fragmented_gpus": 2.0}


def test_the_fill_comparison_sets_aicc_against_best_fit_in_the_same_order() -> None:
    from scheduler.sim.openb import fill_comparison

    # One 8-GPU node; a low task of 6 arrives first, then a high task of 4. Best-fit in trace order
    # places the 6 (2 free); aicc's order places the high 4 first (4 free, the 6 waits).
    t = trace([job(1, "a", 0, 10, 6, priority="low"), job(2, "a", 1, 10, 4, priority="high")], nodes=1, a=8)
    t = replace(t, priority_classes={"high": 300, "normal": 200, "low": 100})
    fill = fill_comparison(t, ["aicc"])
    assert fill["plain_best_fit"]["unallocated_gpus"] == 2
    assert fill["aicc_trace_order"]["unallocated_gpus"] == 2
    assert fill["plain_best_fit_priority_order"]["unallocated_gpus"] == 4
    assert fill["aicc"]["unallocated_gpus"] == 4
    assert fill["unallocated_fewer_than_best_fit"] == {"same_trace_order": 0.0, "same_priority_order": 0.0}


def test_checkpoints_keep_the_work_before_them_and_a_notice_keeps_all() -> None:
    # As above: the victim ran 2,030 s, of which 600 s were its restart; checkpoints every 500 s
    # of progress kept 1,000 s of it; with a notice before the stop it keeps all 1,430 s.
    jobs = [job(i, "a", 0, 5000, 8) for i in range(4)] + [job(9, "b", 2000, 100, 8)]
    seen: list[float | None] = []

    def checkpoints(_: Decision) -> None:
        seen.extend(a.checkpointed_at for a in sim.engine.holding.values())

    lost = {}
    for notice in (False, True):
        sim = Simulation(trace(jobs, nodes=4, a=16, b=16), "aicc", restart_cost_s=600.0,
                         checkpoint_every_s=500.0, checkpoint_on_notice=notice)
        lost[notice] = summarize(sim.run(on_step=checkpoints))["lost_work_device_h"]
    assert lost == {False: round(8 * 1030 / 3600, 1), True: round(8 * 600 / 3600, 1)}
    assert 1600.0 in seen  # the engine was told: start 0 + restart 600 + 2 x 500


def test_the_expected_start_at_submission_is_scored_against_the_start() -> None:
    # One node: a runs 0..1000; b arrives at 10 and is expected (the oracle knows a's runtime) at 1000.
    t = trace([job(1, "a", 0, 1000, 8), job(2, "b", 10, 50, 8)], nodes=1, a=4, b=4)
    res = Simulation(t, "oracle").run()
    r = res.recorder.results
    assert r["j001"].predicted_start_s == 0.0 and r["j002"].predicted_start_s == 1000.0
    s = summarize(res)
    assert (s["eta_jobs_scored"], s["eta_median_rel_error"], s["eta_started_by_predicted_plus_10min"]) == (1, 0.0, 1.0)
    off = summarize(Simulation(t, "oracle", eta=False).run())
    assert off["eta_jobs_scored"] == 0 and off["eta_median_rel_error"] is None
