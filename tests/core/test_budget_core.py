"""A spent budget in the decision: hold keeps the tenant's new jobs waiting (BudgetExhausted, in
their order); best-effort lets them start only on idle capacity, as borrowers, never preempting.

Test devices have 250 TFLOPS: 4 devices are 1 PFLOPS.
"""

from scheduler.core import Policy, Snapshot, schedule
from tests.core.scenario import admitted, center, pending, running, spec, waiting

QUOTAS = [{"name": "a", "guaranteed": "2P", "limit": "4P"}, {"name": "b", "guaranteed": "2P", "limit": "4P"}]


def decide(tenants, jobs, allocs=(), exhausted=None):  # type: ignore[no-untyped-def]
    c = center(("p", "gpu", 1, 2), tenants=QUOTAS)[0]
    snap = Snapshot(c, tenants, list(allocs), budget_exhausted=exhausted or {})
    return schedule(snap, jobs, Policy(min_runtime_s=60.0), 1000.0)


def test_hold_keeps_new_jobs_waiting_with_their_place() -> None:
    _, tenants = center(("p", "gpu", 1, 2), tenants=QUOTAS)
    d = decide(tenants, pending(spec("a", 1, 4), spec("a", 1, 4), spec("b", 1, 4)), exhausted={"a": "hold"})
    assert list(admitted(d)) == ["p3"]
    assert waiting(d) == {"p1": "BudgetExhausted", "p2": "BudgetExhausted"}
    assert [p.position for p in d.pending] == [1, 2]
    assert "budget of a" in d.pending[0].detail


def test_best_effort_borrows_idle_capacity_only_and_preempts_nobody() -> None:
    _, tenants = center(("p", "gpu", 1, 2), tenants=QUOTAS)
    # within its guarantee, a's job starts, but as a borrower
    d = decide(tenants, pending(spec("a", 1, 4)), exhausted={"a": "best-effort"})
    assert [x.borrowing for x in d.admits] == [True]
    # b borrows the whole center: a within its guarantee would reclaim, best-effort does not
    b_all = [running(f"b{i}", spec("b", 1, 4), [(f"p-r01-n0{1 + i // 2}", range(4 * (i % 2), 4 * (i % 2) + 4))],
                     "gpu", seq=i) for i in range(4)]
    assert len(decide(tenants, pending(spec("a", 1, 4)), b_all).preempts) == 1
    d = decide(tenants, pending(spec("a", 1, 4)), b_all, exhausted={"a": "best-effort"})
    assert d.preempts == () and list(admitted(d)) == []


def test_best_effort_does_not_take_others_unused_guarantee_that_is_not_lent() -> None:
    _, tenants = center(("p", "gpu", 1, 2), tenants=[
        {"name": "a", "guaranteed": "2P", "limit": "4P"},
        {"name": "b", "guaranteed": "2P", "limit": "4P", "lending_limit": "1P"}])
    # a holds its 2P; best-effort may take only what b lends (1P), not b's whole idle 2P
    a_own = [running(f"a{i}", spec("a", 1, 4), [("p-r01-n01", range(4 * i, 4 * i + 4))], "gpu", seq=i)
             for i in range(2)]
    d = decide(tenants, pending(spec("a", 1, 4), spec("a", 1, 4)), a_own, exhausted={"a": "best-effort"})
    assert list(admitted(d)) == ["p1"]
    assert waiting(d) == {"p2": "NoBorrowableCapacity"}
