"""The tenant tree as a cycle reads it: paths, distances, and borrowing nearest-first.

Tenants with a ``parent`` form a forest under the center. A parent holds quota
and children, never jobs; its usage is the sum of its subtree's. Quota rules
apply at every level: a job of a leaf counts against the limit and caps of the
leaf and of every ancestor.

Borrowing goes nearest-first. Each node's unused guarantee is first available
to its siblings (the parent's pool: the parent's guarantee not carved out for
its children, plus what the children lend), and only what a subtree cannot
cover inside itself is borrowed from further up; a node's ``lending_limit``
caps what its whole subtree lends outside it. A borrow is allowed when the
center's pool still covers every subtree's demand after it. With no lending
limits this reduces to the flat rule (limit and free capacity), and with every
tenant at the top level to today's flat computation, which the cycle keeps
using then (``Tree.flat``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from scheduler.domain import Tenant

#: the center, as the parent of the top-level tenants in the pool sums
CENTER = ""


class Tree:
    """Paths and sums of one set of tenants (built once per tenants mapping)."""

    def __init__(self, tenants: Mapping[str, Tenant]) -> None:
        self.tenants = tenants
        #: the tenant objects it was built from (a mapping may change in place)
        self.built_from = dict(tenants)
        names = sorted(tenants)
        self.parent: dict[str, str | None] = {
            n: (p if (p := tenants[n].parent) in tenants else None) for n in names}
        self.flat = all(p is None for p in self.parent.values())
        self.children: dict[str, list[str]] = {}
        for n in names:
            self.children.setdefault(self.parent[n] or CENTER, []).append(n)
        #: a node and its ancestors, nearest first
        self.path: dict[str, tuple[str, ...]] = {}
        for n in names:
            chain = [n]
            seen = {n}
            up = self.parent[n]
            while up is not None and up not in seen:  # (a cycle is refused before it gets here)
                chain.append(up)
                seen.add(up)
                up = self.parent[up]
            self.path[n] = tuple(chain)
        #: a node's ancestors, nearest first
        self.up: dict[str, tuple[str, ...]] = {n: p[1:] for n, p in self.path.items()}
        self.depth = {n: len(p) - 1 for n, p in self.path.items()}
        self.inner = frozenset(n for n in names if n in self.children)
        #: nodes deepest first: children before their parents
        self.bottom_up = sorted(names, key=lambda n: (-self.depth[n], n))
        #: per node, the guarantees carved out of it for its children
        self.carved = {p: sum(tenants[c].quota.guaranteed for c in kids) for p, kids in self.children.items()}
        self._branch: dict[tuple[str, str], tuple[str | None, int]] = {}
        #: per node: its guarantee; what a parent keeps of it (not carved for its children);
        #: how much it lends at most
        self.guaranteed = {n: tenants[n].quota.guaranteed for n in names}
        self.uncarved = {n: self.guaranteed[n] - self.carved[n] for n in self.inner}
        self.lends_at_most = {n: _NO_LIMIT if (ll := tenants[n].quota.lending_limit) is None else ll
                              for n in names}
        #: per leaf: (node, limit, guaranteed, caps or None) on its path, nearest first
        self.quotas = {n: [(a, tenants[a].quota.limit, tenants[a].quota.guaranteed, tenants[a].quota.caps or None)
                           for a in self.path[n]] for n in names}

    def root_path(self, name: str) -> tuple[str, ...]:
        """The path from the top level down to the node."""
        return self.path[name][::-1]

    def branch(self, of: str, other: str) -> tuple[str | None, int]:
        """Where ``other`` meets ``of`` in the tree: the ancestor-or-self of ``other`` just
        below their nearest common ancestor (None if ``other`` is on ``of``'s path), and
        that ancestor's depth (-1: they meet only at the center, the farthest)."""
        key = (of, other)
        hit = self._branch.get(key)
        if hit is None:
            mine = set(self.path[of])
            theirs = self.path[other]
            below: str | None = None
            meet_depth = -1
            for node in theirs:
                if node in mine:
                    meet_depth = self.depth[node]
                    break
                below = node
            hit = self._branch[key] = (below, meet_depth)
        return hit


def tree_of(tenants: Mapping[str, Tenant], memo: dict[str, Any] | None) -> Tree:
    """The tenants' tree, kept in the snapshot's memo while the tenants mapping is the same."""
    if memo is not None:
        kept = memo.get("tree")
        if isinstance(kept, Tree) and kept.tenants is tenants and _same(kept.built_from, tenants):
            return kept
    tree = Tree(tenants)
    if memo is not None:
        memo["tree"] = tree
    return tree


class Pools:
    """Per inner node (and the center): the demand its children put on it beyond their
    guarantees, and what they lend it, for the usage of one moment."""

    def __init__(self, tree: Tree, used: Mapping[str, int], ready_gflops: int) -> None:
        self.tree = tree
        demand: dict[str, int] = dict.fromkeys([*tree.inner, CENTER], 0)
        lend = dict(demand)
        at_most = tree.lends_at_most
        for n in tree.bottom_up:
            inside = self.inside(n, used[n], demand.get(n, 0), lend.get(n, 0))
            p = tree.parent[n] or CENTER
            demand[p] += max(0, -inside)
            lend[p] += min(max(0, inside), at_most[n])
        self.demand, self.lend = demand, lend
        self.center_free = ready_gflops - tree.carved.get(CENTER, 0)

    def inside(self, n: str, used: int, demand: int, lend: int) -> int:
        """What node ``n`` has left over (negative: what it must borrow from its parent):
        a leaf its guarantee less its use; a parent its uncarved guarantee and what its
        children lend, less what they borrow."""
        tree = self.tree
        if n in tree.inner:
            return tree.uncarved[n] + lend - demand
        return tree.guaranteed[n] - used

    def may_borrow(self, leaf: str, used: int, gflops: int) -> bool:
        """Whether the leaf, holding ``used``, may take ``gflops`` more: every pool on its
        path, nearest first, covers what it cannot, and the center covers the rest."""
        return self._walk(leaf, used, gflops, False)

    def add(self, leaf: str, used: int, gflops: int) -> None:
        """The leaf, holding ``used``, took ``gflops`` more: the pools on its path follow."""
        self._walk(leaf, used, gflops, True)

    def _walk(self, leaf: str, used: int, gflops: int, commit: bool) -> bool:
        tree = self.tree
        parent, uncarved, at_most = tree.parent, tree.uncarved, tree.lends_at_most
        demand, lend = self.demand, self.lend
        before = tree.guaranteed[leaf] - used
        after = before - gflops
        node = leaf
        while True:
            d_demand = (-after if after < 0 else 0) - (-before if before < 0 else 0)
            cap = at_most[node]
            lend_after = after if 0 < after < cap else (cap if after > 0 else 0)
            lend_before = before if 0 < before < cap else (cap if before > 0 else 0)
            d_lend = lend_after - lend_before
            if not d_demand and not d_lend:
                return True  # covered below: nothing changes further up
            p = parent[node] or CENTER
            d, s = demand[p], lend[p]
            if commit:
                demand[p], lend[p] = d + d_demand, s + d_lend
            if p == CENTER:
                return commit or self.center_free + s + d_lend - d - d_demand >= 0
            before = uncarved[p] + s - d
            after = before + d_lend - d_demand
            node = p


def _same(before: Mapping[str, Tenant], now: Mapping[str, Tenant]) -> bool:
    return len(before) == len(now) and all(now.get(n) is t for n, t in before.items())


def subtree_sums(tree: Tree, per_leaf: Mapping[str, Mapping[str, int]]) -> dict[str, dict[str, int]]:
    """Per parent: what its leaves hold, summed (by accelerator type, or any key)."""
    out: dict[str, dict[str, int]] = {}
    for leaf, counts in per_leaf.items():
        for a in tree.up.get(leaf, ()):
            row = out.setdefault(a, {})
            for k, v in counts.items():
                row[k] = row.get(k, 0) + v
    return out


#: a lending limit that never binds
_NO_LIMIT = 1 << 62
