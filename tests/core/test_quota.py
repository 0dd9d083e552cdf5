"""Quotas in PFLOPS: guarantees, borrowing up to the limit, lending limits, per-type caps.

Test devices have 250 TFLOPS: 4 devices are 1 PFLOPS.
"""

from tests.core.scenario import admitted, center, decide, pending, running, spec, waiting


def two_tenants(**a: object) -> list[dict[str, object]]:
    return [{"name": "a", "guaranteed": "2P", "limit": "4P", **a},
            {"name": "b", "guaranteed": "2P", "limit": "4P"}]


def test_within_the_guarantee_a_job_is_not_borrowing() -> None:
    c, tenants = center(("p", "gpu", 1, 2), tenants=two_tenants())  # 16 devices = 4P
    d = decide(c, tenants, pending(spec("a", 1, 8)))  # 8 devices = 2P = its guarantee
    assert [a.borrowing for a in d.admits] == [False]


def test_beyond_the_guarantee_a_tenant_borrows_idle_capacity_up_to_its_limit() -> None:
    c, tenants = center(("p", "gpu", 1, 4), tenants=two_tenants())  # 32 devices = 8P
    d = decide(c, tenants, pending(*[spec("a", 1, 8) for _ in range(3)]))
    assert [a.borrowing for a in d.admits] == [False, True]  # 2P guaranteed, 2P borrowed
    assert waiting(d) == {"p3": "QuotaExhausted"}  # 6P would pass the 4P limit
    assert d.pending[0].detail == "limit"


def test_borrowing_takes_only_what_others_may_lend() -> None:
    # a: 2P guaranteed; b: 2P guaranteed but lends at most 1P; nothing unassigned.
    c, tenants = center(("p", "gpu", 1, 2), tenants=[
        {"name": "a", "guaranteed": "2P", "limit": "4P"},
        {"name": "b", "guaranteed": "2P", "limit": "4P", "lending_limit": "1P"}])
    d = decide(c, tenants, pending(spec("a", 1, 8), spec("a", 1, 4), spec("a", 1, 4)))
    assert list(admitted(d)) == ["p1", "p2"]
    assert waiting(d) == {"p3": "NoBorrowableCapacity"}


def test_a_tenant_with_no_guarantee_only_borrows() -> None:
    c, tenants = center(("p", "gpu", 1, 2), tenants=[
        {"name": "a", "guaranteed": 0, "limit": "1P"}, {"name": "b", "guaranteed": "2P", "limit": "2P"}])
    d = decide(c, tenants, pending(spec("a", 1, 4), spec("a", 1, 1)))
    assert [a.borrowing for a in d.admits] == [True]
    assert waiting(d) == {"p2": "QuotaExhausted"}


def test_per_type_device_caps_hold_whatever_the_compute_quota() -> None:
    c, tenants = center(("x", "gpu-x", 1, 2), ("y", "gpu-y", 1, 2), tenants=[
        {"name": "a", "guaranteed": "8P", "limit": "8P", "caps": {"gpu-x": 4}}])
    d = decide(c, tenants, pending(spec("a", 1, 4), spec("a", 1, 4), spec("a", 1, 4, types=["gpu-x"])))
    assert admitted(d)["p1"].accelerator == "gpu-x"
    assert admitted(d)["p2"].accelerator == "gpu-y"  # the cap moves it to the other type
    assert waiting(d) == {"p3": "QuotaExhausted"}
    assert "gpu-x cap of 4" in d.pending[0].detail


def test_caps_of_zero_on_every_type_refuse_the_job() -> None:
    c, tenants = center(("x", "gpu-x", 1, 1), ("y", "gpu-y", 1, 1), tenants=[
        {"name": "a", "guaranteed": "1P", "limit": "1P", "caps": {"gpu-x": 0, "gpu-y": 0}}])
    d = decide(c, tenants, pending(spec("a", 1, 1)))
    assert waiting(d) == {"p1": "QuotaExhausted"}


def test_a_quota_lowered_below_usage_keeps_running_jobs_and_refuses_new_ones() -> None:
    c, tenants = center(("p", "gpu", 1, 4), tenants=[
        {"name": "a", "guaranteed": "1P", "limit": "1P"}, {"name": "b", "guaranteed": "2P", "limit": "4P"}])
    big = running("r1", spec("a", 1, 8), [("p-r01-n01", range(8))], "gpu")  # 2P, limit is now 1P
    d = decide(c, tenants, pending(spec("a", 1, 1)), [big])
    assert d.preempts == ()
    assert waiting(d) == {"p1": "QuotaExhausted"}


def test_without_borrowing_a_tenant_stops_at_its_guarantee() -> None:
    c, tenants = center(("p", "gpu", 1, 4), tenants=two_tenants())
    d = decide(c, tenants, pending(spec("a", 1, 8), spec("a", 1, 1)), borrowing=False)
    assert list(admitted(d)) == ["p1"]
    assert waiting(d) == {"p2": "QuotaExhausted"}
    assert d.pending[0].detail == "guaranteed quota"


def test_with_quotas_off_only_capacity_counts() -> None:
    c, tenants = center(("p", "gpu", 1, 2), tenants=[{"name": "a", "guaranteed": 0, "limit": 0}])
    d = decide(c, tenants, pending(spec("a", 1, 8), spec("a", 1, 8), spec("a", 1, 1)), quotas=False)
    assert list(admitted(d)) == ["p1", "p2"]
    assert waiting(d) == {"p3": "NoCapacity"}


def test_unknown_tenants_and_priority_classes_wait_with_a_reason() -> None:
    c, tenants = center(("p", "gpu", 1, 1), tenants=two_tenants())
    d = decide(c, tenants, pending(spec("ghost"), spec("a", priority="urgent")))
    assert waiting(d) == {"p1": "UnknownTenant", "p2": "UnknownPriorityClass"}


def test_a_guarantee_its_owner_waits_for_is_not_lent_where_restarts_cost() -> None:
    # One node of 8: b holds its 4 guaranteed devices and 2 borrowed ones (none can be preempted);
    # a's 4-device job waits for its guarantee (2 are free). b's next 2 devices would borrow a's guarantee.
    c, tenants = center(("p", "gpu", 1, 1), tenants=[{"name": "a", "guaranteed": "1P", "limit": "2P"},
                                                    {"name": "b", "guaranteed": "1P", "limit": "2P"}])
    allocs = [running("b1", spec("b", 1, 4, preemptible=False), [("p-r01-n01", range(4))], "gpu", seq=1),
              running("b2", spec("b", 1, 2, preemptible=False), [("p-r01-n01", range(4, 6))], "gpu", seq=2)]
    jobs = pending(spec("a", 1, 4), spec("b", 1, 2))
    costly = decide(c, tenants, jobs, allocs, restart_cost_s=600.0)
    assert admitted(costly) == {} and waiting(costly)["p2"] == "NoBorrowableCapacity"
    # lent where restarts are free, or where the policy says so: b borrows, to be reclaimed later
    assert list(admitted(decide(c, tenants, jobs, allocs))) == ["p2"]
    assert list(admitted(decide(c, tenants, jobs, allocs, restart_cost_s=600.0, lend_wanted_guarantee=True))) == ["p2"]
