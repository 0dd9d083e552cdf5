"""Expected starts: the decision run forward from the current state (issue 23)."""

from dataclasses import replace

from scheduler.core import Policy, Snapshot, schedule
from scheduler.core.projection import Derivation, project
from scheduler.core.queue import PendingQueue
from tests.core.scenario import center, pending, running, spec

QUOTAS = [{"name": "a", "guaranteed": "2P", "limit": "2P"}, {"name": "b", "guaranteed": "0", "limit": "2P"}]


def one_node_busy_until(end: float) -> tuple:
    """One 8-device node, all of it held by a job of ``b`` (not preemptible) expected to end at ``end``."""
    c, tenants = center(("p", "gpu", 1, 1), tenants=QUOTAS)
    busy = running("r1", spec("b", 1, 8, runtime=end, preemptible=False), [("p-r01-n01", range(8))], "gpu",
                   seq=100)
    return c, tenants, [busy]


def test_jobs_start_one_after_another_as_the_running_ones_end() -> None:
    c, tenants, busy = one_node_busy_until(1000)
    jobs = pending(spec("a", 1, 8, runtime=1000), spec("a", 1, 8, runtime=500), spec("a", 1, 4, runtime=100))
    p = project(Snapshot(c, tenants, busy), jobs, Policy(), 0.0)
    # the first is reserved (backfill holds the node for it), the others follow it
    assert p.etas["p1"].start == 1000 and p.etas["p1"].how is Derivation.RESERVATION
    assert p.etas["p2"] == (2000, Derivation.PROJECTION, "")
    assert p.etas["p3"].start == 2500 and p.etas["p3"].how is Derivation.PROJECTION


def test_a_job_that_fits_now_starts_now() -> None:
    c, tenants = center(("p", "gpu", 1, 1), tenants=QUOTAS)
    p = project(Snapshot(c, tenants, []), pending(spec("a", 1, 4)), Policy(), 50.0)
    assert p.etas["p1"] == (50.0, Derivation.PROJECTION, "starts now")


def test_a_job_past_its_estimate_is_expected_to_run_as_long_again() -> None:
    c, tenants, busy = one_node_busy_until(1000)  # started at 0, expected at 1000, still running at 3000
    p = project(Snapshot(c, tenants, busy), pending(spec("a", 1, 8)), Policy(), 3000.0)
    assert p.etas["p1"].start == 6000


def test_unknown_starts_say_why() -> None:
    c, tenants, busy = one_node_busy_until(1000)
    jobs = pending(spec("a", 2, 8), spec("a", 1, 8, types=["tpu"]), spec("a", 1, 8))
    forever = replace(busy[0], spec=spec("b", 1, 8, runtime=None, preemptible=False))  # no estimate: never seen to end
    p = project(Snapshot(c, tenants, [forever]), jobs, Policy(), 0.0)
    assert p.etas["p1"].how is Derivation.UNKNOWN and "larger than the center" in p.etas["p1"].detail
    assert "no accelerator type tpu" in p.etas["p2"].detail
    assert p.etas["p3"].start is None and "no start within the projection" in p.etas["p3"].detail
    assert p.get("p9").how is Derivation.UNKNOWN and "not among the first" in p.get("p9").detail


def test_quota_bounds_the_projection() -> None:
    # a's limit is 2P = 8 devices: its two 8-device jobs run one after the other even on two free nodes
    c, tenants = center(("p", "gpu", 1, 2), tenants=QUOTAS)
    p = project(Snapshot(c, tenants, []), pending(spec("a", 1, 8, runtime=700), spec("a", 1, 8)), Policy(), 0.0)
    assert p.etas["p1"].start == 0 and p.etas["p2"].start == 700


def test_only_the_first_jobs_are_projected_and_a_job_asked_for() -> None:
    c, tenants, busy = one_node_busy_until(1000)
    jobs = pending(*[spec("a", 1, 8, runtime=100) for _ in range(5)])
    p = project(Snapshot(c, tenants, busy), PendingQueue(jobs), Policy(), 0.0, limit=2, include=["p5"])
    assert sorted(p.etas) == ["p1", "p2", "p5"]


def test_projecting_changes_neither_the_queue_nor_the_decisions_of_a_kept_memo() -> None:
    c, tenants, busy = one_node_busy_until(1000)
    queue = PendingQueue(pending(spec("a", 1, 8), spec("a", 1, 4), spec("a", 1, 2)))
    memo: dict = {}
    snap = Snapshot(c, tenants, busy, memo=memo)
    first = schedule(snap, queue, Policy(), 10.0)
    projected = project(Snapshot(c, tenants, busy, memo=memo, running_changes={}), queue, Policy(), 20.0)
    again = project(Snapshot(c, tenants, busy, memo=memo, running_changes={}), queue, Policy(), 20.0)
    assert projected.etas == again.etas and len(queue) == 3
    after = schedule(Snapshot(c, tenants, busy, memo=memo, running_changes={}), queue, Policy(), 30.0)
    fresh = schedule(Snapshot(c, tenants, busy), queue, Policy(), 30.0)
    assert after == fresh and first.pending == fresh.pending
