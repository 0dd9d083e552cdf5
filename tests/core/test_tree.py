"""A tree of tenants: limits at every level, borrowing and reclaim nearest-first,
fair share among siblings.

Test devices have 250 TFLOPS: 4 devices are 1 PFLOPS.
"""

import pytest

from scheduler.centerfile import CenterFileError
from scheduler.core import PreemptReason
from scheduler.core.tree import Tree
from scheduler.domain import Quota, Tenant, TreeError, check_tree
from tests.core.scenario import admitted, center, decide, pending, running, spec, waiting


def banks(*, bank_limit: str = "4P", bank_lending: str | None = None, desk_limit: str = "4P") -> list[dict]:
    """finance (4P) > bank-a, bank-b (2P each) > desks a1, a2, b1, b2 (1P each)."""
    lending = {} if bank_lending is None else {"lending_limit": bank_lending}
    return [
        {"name": "finance", "guaranteed": "4P", "limit": "4P"},
        {"name": "bank-a", "guaranteed": "2P", "limit": bank_limit, "parent": "finance", **lending},
        {"name": "bank-b", "guaranteed": "2P", "limit": bank_limit, "parent": "finance", **lending},
        {"name": "a1", "guaranteed": "1P", "limit": desk_limit, "parent": "bank-a"},
        {"name": "a2", "guaranteed": "1P", "limit": desk_limit, "parent": "bank-a"},
        {"name": "b1", "guaranteed": "1P", "limit": desk_limit, "parent": "bank-b"},
        {"name": "b2", "guaranteed": "1P", "limit": desk_limit, "parent": "bank-b"},
    ]


def test_the_tree_knows_paths_and_where_branches_meet() -> None:
    _, tenants = center(("p", "gpu", 1, 2), tenants=banks())
    tree = Tree(tenants)
    assert not tree.flat
    assert tree.path["a1"] == ("a1", "bank-a", "finance")
    assert tree.inner == {"finance", "bank-a", "bank-b"}
    assert tree.branch("a1", "a2") == ("a2", 1)  # siblings meet at bank-a (depth 1)
    assert tree.branch("a1", "b1") == ("bank-b", 0)  # cousins meet at finance
    assert tree.branch("a1", "bank-a") == (None, 1)  # an ancestor is on the path


def test_children_may_not_guarantee_more_than_their_parent_and_the_error_names_both() -> None:
    q = Quota(2_000_000, 4_000_000)
    with pytest.raises(TreeError, match=r"children of bank-a \(a1 1P, a2 2P\) .* 3P .*bank-a's 2P"):
        check_tree({"bank-a": Tenant("bank-a", q),
                    "a1": Tenant("a1", Quota(1_000_000, 2_000_000), parent="bank-a"),
                    "a2": Tenant("a2", Quota(2_000_000, 2_000_000), parent="bank-a")})
    with pytest.raises(TreeError, match="parent nowhere does not exist"):
        check_tree({"a": Tenant("a", q, parent="nowhere")})
    with pytest.raises(TreeError, match="cycle"):
        check_tree({"a": Tenant("a", q, parent="b"), "b": Tenant("b", q, parent="a")})
    with pytest.raises(CenterFileError, match="tenants: children of finance"):
        center(("p", "gpu", 1, 1), tenants=[{"name": "finance", "guaranteed": "1P", "limit": "2P"},
                                            {"name": "x", "guaranteed": "2P", "limit": "2P", "parent": "finance"}])


def test_a_parent_holds_no_jobs() -> None:
    c, tenants = center(("p", "gpu", 1, 2), tenants=banks())
    d = decide(c, tenants, pending(spec("bank-a", 1, 1), spec("a1", 1, 1)))
    assert list(admitted(d)) == ["p2"]
    assert waiting(d) == {"p1": "UnknownTenant"}
    assert "bank-a is a parent" in d.pending[0].detail


def test_an_ancestors_limit_binds_its_whole_subtree() -> None:
    # desks may borrow to 4P, but bank-a is limited to 2P: a1 and a2 together stop there.
    c, tenants = center(("p", "gpu", 1, 4), tenants=banks(bank_limit="2P"))
    d = decide(c, tenants, pending(spec("a1", 1, 8), spec("a2", 1, 1), spec("b1", 1, 1)))
    assert list(admitted(d)) == ["p1", "p3"]
    assert waiting(d) == {"p2": "QuotaExhausted"}
    assert d.pending[0].detail == "limit of bank-a"


def test_caps_apply_at_every_level() -> None:
    tenants = banks()
    tenants[1] = {**tenants[1], "caps": {"gpu": 6}}
    c, ts = center(("p", "gpu", 1, 4), tenants=tenants)
    d = decide(c, ts, pending(spec("a1", 1, 4), spec("a2", 1, 4)))
    assert list(admitted(d)) == ["p1"]
    assert "gpu cap of 6 devices of bank-a" in d.pending[0].detail


def test_borrowing_stays_within_a_parent_that_lends_nothing() -> None:
    # 24 devices = 6P: finance 4P, 2P unassigned. bank-b's desks are idle, but bank-b lends
    # nothing outside itself: a1 borrows bank-a's idle 1P (a2's share) and the center's 2P, no more.
    c, tenants = center(("p", "gpu", 1, 3), tenants=banks(bank_limit="6P", bank_lending="0", desk_limit="6P"))
    tenants = {**tenants, "finance": Tenant("finance", Quota(4_000_000, 6_000_000))}
    jobs = [spec("a1", 1, 4) for _ in range(5)]
    d = decide(c, tenants, pending(*jobs))
    assert list(admitted(d)) == ["p1", "p2", "p3", "p4"]  # 1P own, 1P of a2, 2P unassigned
    assert waiting(d) == {"p5": "NoBorrowableCapacity"}


def test_borrowing_first_uses_the_siblings_share_then_goes_further_up() -> None:
    # bank-a lends nothing outside: b1 cannot take a1's or a2's unused share, only b2's.
    c, tenants = center(("p", "gpu", 1, 2), tenants=banks(bank_lending="0"))
    d = decide(c, tenants, pending(*[spec("b1", 1, 4) for _ in range(3)]))
    assert list(admitted(d)) == ["p1", "p2"]
    assert waiting(d) == {"p3": "NoBorrowableCapacity"}


def b1_borrowing_everything() -> list:
    """b1 holds all 16 devices: 4P, 3P of it borrowed (from b2 and from bank-a)."""
    return [running(f"r{i}", spec("b1", 1, 4), [(f"p-r01-n0{1 + i // 2}", range(4 * (i % 2), 4 * (i % 2) + 4))],
                    "gpu", started_at=float(i), seq=i) for i in range(4)]


def test_reclaim_takes_from_the_farthest_borrowers_first() -> None:
    c, tenants = center(("p", "gpu", 1, 2), tenants=banks())
    allocs = b1_borrowing_everything()
    allocs[0] = running("r0", spec("a2", 1, 4), [("p-r01-n01", range(4))], "gpu", started_at=0.0, seq=0)
    # a2 now holds 1P (its guarantee) and b1 3P, 2P of it bank-a's. a1 wants its 1P back:
    d = decide(c, tenants, pending(spec("a1", 1, 4)), allocs)
    assert [(p.job_id, p.reason) for p in d.preempts] == [("r3", PreemptReason.RECLAIM)]


def test_borrowers_farthest_in_the_tree_are_reclaimed_before_nearer_ones() -> None:
    # 6P: finance 4P (to 6P) and another top-level tenant, 2P. a2 borrows 1P of a1's share,
    # b1 borrows 2P (bank-b is 1P over its guarantee); the nearer borrower's job is the
    # most recent, but the farther one (met at finance, not bank-a) goes first.
    ts = [{**t, "limit": "6P"} if t["name"] == "finance" else t for t in banks()]
    ts.append({"name": "other", "guaranteed": "2P", "limit": "2P"})
    c, tenants = center(("p", "gpu", 1, 3), tenants=ts)
    allocs = [
        running("a2-old", spec("a2", 1, 4), [("p-r01-n01", range(4))], "gpu", started_at=0.0, seq=0),
        running("b1-x", spec("b1", 1, 4), [("p-r01-n02", range(4))], "gpu", started_at=1.0, seq=1),
        running("b1-y", spec("b1", 1, 4), [("p-r01-n02", range(4, 8))], "gpu", started_at=2.0, seq=2),
        running("b1-z", spec("b1", 1, 4), [("p-r01-n03", range(4))], "gpu", started_at=3.0, seq=3),
        running("other", spec("other", 1, 4), [("p-r01-n03", range(4, 8))], "gpu", started_at=4.0, seq=4),
        running("a2-new", spec("a2", 1, 4), [("p-r01-n01", range(4, 8))], "gpu", started_at=5.0, seq=5),
    ]
    d = decide(c, tenants, pending(spec("a1", 1, 4)), allocs)
    assert [p.job_id for p in d.preempts] == ["b1-z"]


def test_a_borrower_whose_branch_is_within_its_guarantee_is_not_reclaimed() -> None:
    c, tenants = center(("p", "gpu", 1, 2), tenants=banks())
    # a2 borrows 1P of a1's share (2P in all), b1 borrows 1P (b2's share) under bank-b:
    # bank-b is within its guarantee, so b1 borrowed nothing from a1's side of the tree.
    allocs = [
        running("a2-old", spec("a2", 1, 4), [("p-r01-n01", range(4))], "gpu", started_at=0.0, seq=0),
        running("a2-new", spec("a2", 1, 4), [("p-r01-n01", range(4, 8))], "gpu", started_at=1.0, seq=1),
        running("b1-x", spec("b1", 1, 4), [("p-r01-n02", range(4))], "gpu", started_at=2.0, seq=2),
        running("b1-y", spec("b1", 1, 4), [("p-r01-n02", range(4, 8))], "gpu", started_at=3.0, seq=3),
    ]
    d = decide(c, tenants, pending(spec("a1", 1, 4)), allocs)
    assert [p.job_id for p in d.preempts] == ["a2-new"]


def test_fair_share_is_decided_among_siblings_first() -> None:
    # bank-a has two busy desks, bank-b one: the first pick goes to bank-b's desk, then the
    # banks alternate; among bank-a's desks the share decides too.
    c, tenants = center(("p", "gpu", 1, 1), tenants=banks(desk_limit="1P"))
    jobs = pending(spec("a1", 1, 1), spec("a2", 1, 1), spec("b1", 1, 1),
                   spec("a1", 1, 1), spec("a2", 1, 1), spec("b1", 1, 1))
    b1_running = running("r", spec("b1", 1, 2), [("p-r01-n01", range(2))], "gpu")
    d = decide(c, tenants, jobs, [b1_running])
    order = [a.job_id for a in d.admits]
    # bank-a holds nothing, bank-b 2 devices: bank-a's desks go first, one each, until equal
    assert order[:2] == ["p1", "p2"]
    assert set(order) >= {"p1", "p2", "p3"}


def test_tenants_without_parents_are_a_flat_tree() -> None:
    _, tenants = center(("p", "gpu", 1, 2), tenants=[{"name": "a", "guaranteed": "2P", "limit": "4P"},
                                                     {"name": "b", "guaranteed": "2P", "limit": "4P"}])
    assert Tree(tenants).flat
