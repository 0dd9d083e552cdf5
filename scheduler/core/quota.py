"""Quota and borrowing: on which accelerator types a tenant's quota lets a job in.

Within its guarantee a job is admitted as is. Beyond it, the job borrows idle
capacity (unassigned capacity plus the lendable unused guarantees of other
tenants) up to the tenant's limit, and is marked borrowing. Per-type caps
count devices, the rest counts normalized compute (gflops).

In a tenant tree (tree.py) the limit and caps of every ancestor apply too, and
a borrow must be covered nearest-first by the pools on the leaf's path.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from scheduler.core.memo import Memo
from scheduler.core.model import Reason
from scheduler.core.tree import Pools

if TYPE_CHECKING:
    from scheduler.core.state import CycleState


@dataclass(slots=True)
class Candidate:
    """An accelerator type the quota allows a job on, and whether it borrows there."""

    type_idx: int
    borrowing: bool


class Quotas:
    def __init__(self, state: CycleState, memo: Memo) -> None:
        self.state = state
        self.memo = memo
        self.policy = state.policy
        self.tenants = state.tenants
        self.type_names = state.cap.type_names
        self.tree = state.tree
        #: per tenant, compute its waiting jobs ask for (at the least: on the cheapest type);
        #: that much of its unused guarantee is not lent (``Policy.lend_wanted_guarantee``)
        self.wanted: dict[str, int] = {}

    def want(self, queued_devices: Mapping[str, int]) -> None:
        """What the tenants' waiting jobs ask for, in devices, at the start of the cycle."""
        policy = self.policy
        if policy.lend_wanted_guarantee or not policy.quotas or policy.restart_cost_s <= 0:
            return  # (while restarts are free, a borrower reclaimed loses nothing: lend it)
        cheapest = min(self.state.type_gflops, default=0)
        self.wanted = {t: n * cheapest for t, n in queued_devices.items()}

    def admitted(self, tenant: str, devices: int) -> None:
        if self.wanted.get(tenant):
            self.wanted[tenant] = max(0, self.wanted[tenant] - devices * min(self.state.type_gflops))

    def allowed(self, tenant: str, types: list[int], devices: int, *, leaving: bool = False
                ) -> tuple[list[Candidate], Reason, str]:
        """The types the tenant's quota allows the job on, else why not; with ``leaving``,
        as if the tenant's jobs that are being stopped were gone already."""
        policy = self.policy
        if not policy.quotas:
            return [Candidate(t, False) for t in types], Reason.QUOTA_EXHAUSTED, ""
        exhausted = self.state.budget_exhausted
        if exhausted and exhausted.get(tenant) == "best-effort":
            return self._best_effort(tenant, types, devices)
        if not self.tree.flat:
            return self._allowed_in_tree(tenant, types, devices, leaving)
        state = self.state
        quota = self.tenants[tenant].quota
        used = state.used[tenant]
        used_dev = state.used_dev[tenant]
        if leaving:
            stopping = [h for h in state.leaving if h.tenant == tenant]
            if not stopping:
                return [], Reason.QUOTA_EXHAUSTED, ""
            used_dev = list(used_dev)
            for h in stopping:
                used -= h.gflops
                used_dev[h.type_idx] -= h.devices
        limit = quota.limit if policy.borrowing else quota.guaranteed
        ok: list[Candidate] = []
        reason, detail = Reason.QUOTA_EXHAUSTED, ""
        for t in types:
            name = self.type_names[t]
            cap = quota.caps.get(name)
            if cap is not None and used_dev[t] + devices > cap:
                detail = f"{name} cap of {cap} devices"
                continue
            after = used + devices * state.type_gflops[t]
            if after > limit:
                detail = "limit" if policy.borrowing else "guaranteed quota"
                continue
            borrowing = after > quota.guaranteed
            if borrowing and after - max(used, quota.guaranteed) > self.lendable():
                reason, detail = Reason.NO_BORROWABLE, "no idle capacity may be lent"
                continue
            ok.append(Candidate(t, borrowing))
        return ok, reason, detail

    def _best_effort(self, tenant: str, types: list[int], devices: int) -> tuple[list[Candidate], Reason, str]:
        """A tenant whose budget is spent, best-effort: its jobs start only on idle capacity, as
        borrowers whatever its guarantee (so they are reclaimed like any borrower)."""
        state = self.state
        quota = self.tenants[tenant].quota
        used = state.used[tenant]
        flat = self.tree.flat
        if not flat:
            ok, reason, detail = self._allowed_in_tree(tenant, types, devices, False)
        else:
            ok, reason, detail = [c for c in self._flat_limits(tenant, types, devices)], Reason.QUOTA_EXHAUSTED, ""
        out: list[Candidate] = []
        for c in ok:
            gflops = devices * state.type_gflops[c.type_idx]
            idle = (gflops <= self.lendable() if flat
                    else self.pools().may_borrow(tenant, max(used, quota.guaranteed), gflops))
            if idle:
                out.append(Candidate(c.type_idx, True))
            else:
                reason, detail = Reason.NO_BORROWABLE, "budget spent: best-effort jobs run only on idle capacity"
        if not ok and not detail:
            detail = "limit"
        return out, reason, detail

    def _flat_limits(self, tenant: str, types: list[int], devices: int) -> list[Candidate]:
        """The types whose cap and limit let the job in (flat tenants)."""
        state, quota = self.state, self.tenants[tenant].quota
        limit = quota.limit if self.policy.borrowing else quota.guaranteed
        out = []
        for t in types:
            cap = quota.caps.get(self.type_names[t])
            if cap is not None and state.used_dev[tenant][t] + devices > cap:
                continue
            if state.used[tenant] + devices * state.type_gflops[t] <= limit:
                out.append(Candidate(t, True))
        return out

    def _allowed_in_tree(self, tenant: str, types: list[int], devices: int, leaving: bool
                         ) -> tuple[list[Candidate], Reason, str]:
        """``allowed`` with the limits and caps of every ancestor, and borrowing nearest-first."""
        state, policy, tenants = self.state, self.policy, self.tenants
        minus, minus_dev = 0, [0] * len(self.type_names)
        if leaving:
            stopping = [h for h in state.leaving if h.tenant == tenant]
            if not stopping:
                return [], Reason.QUOTA_EXHAUSTED, ""
            for h in stopping:
                minus += h.gflops
                minus_dev[h.type_idx] += h.devices
        used, used_dev, borrowing_allowed = state.used, state.used_dev, policy.borrowing
        ok: list[Candidate] = []
        reason, detail = Reason.QUOTA_EXHAUSTED, ""
        for t in types:
            name = self.type_names[t]
            gflops = devices * state.type_gflops[t]
            why = ""
            for a, limit, guaranteed, caps in self.tree.quotas[tenant]:
                cap = caps.get(name) if caps else None
                if cap is not None and used_dev[a][t] - minus_dev[t] + devices > cap:
                    why = f"{name} cap of {cap} devices" + ("" if a == tenant else f" of {a}")
                    break
                if used[a] - minus + gflops > (limit if borrowing_allowed else guaranteed):
                    why = ("limit" if borrowing_allowed else "guaranteed quota") + ("" if a == tenant else f" of {a}")
                    break
            if why:
                detail = why
                continue
            mine = used[tenant] - minus
            borrowing = mine + gflops > tenants[tenant].quota.guaranteed
            if borrowing and not self.pools().may_borrow(tenant, mine, gflops):
                reason, detail = Reason.NO_BORROWABLE, "no idle capacity may be lent"
                continue
            ok.append(Candidate(t, borrowing))
        return ok, reason, detail

    def pools(self) -> Pools:
        """What each parent's children borrow and lend now (tree only; the cycle's state
        keeps it up as it admits)."""
        state = self.state
        if state.pools is None:
            state.pools = Pools(self.tree, state.used, state.ready_gflops)
        return state.pools

    def reclaim_targets(self, tenant: str) -> set[str]:
        """The tenants whose borrowers ``tenant`` may reclaim from: above their guarantee,
        and (in a tree) in a branch that borrows beyond its own guarantee where it meets
        ``tenant``'s, so from the pool that holds ``tenant``'s share."""
        over = self.over_guarantee()
        tree = self.tree
        if tree.flat:
            return over
        memo = self.memo
        hit = memo.targets.get(tenant)
        if hit is None:
            used = self.state.used
            hit = set()
            for v in over:
                if v == tenant or v in tree.inner:
                    continue
                branch, _ = tree.branch(tenant, v)
                if branch is not None and used[branch] > self.tenants[branch].quota.guaranteed:
                    hit.add(v)
            memo.targets[tenant] = hit
        return hit

    def lendable(self) -> int:
        """Compute others may still borrow: unassigned capacity plus lendable idle guarantees."""
        memo = self.memo
        if memo.lendable is None:
            used_by = self.state.used
            wanted = self.wanted
            assigned = borrowed = idle = 0
            for name, tenant in self.tenants.items():
                q = tenant.quota
                used = used_by[name]
                assigned += q.guaranteed
                borrowed += max(0, used - q.guaranteed)
                unused = max(0, q.guaranteed - used - wanted.get(name, 0))
                idle += unused if q.lending_limit is None else min(unused, q.lending_limit)
            memo.lendable = max(0, self.state.ready_gflops - assigned) + idle - borrowed
        return memo.lendable

    def over_guarantee(self) -> set[str]:
        """The tenants above their guarantee (it changes with usage only)."""
        memo = self.memo
        if memo.over is None:
            used = self.state.used
            memo.over = {name for name, t in self.tenants.items() if used[name] > t.quota.guaranteed}
        return memo.over

    def ceiling(self, tenant: str) -> int:
        """How much the tenant may hold: its limit, or its guarantee without borrowing."""
        quota = self.tenants[tenant].quota
        return quota.limit if self.policy.borrowing else quota.guaranteed

    def suffices(self, tenant: str, t: int, devices: int, gflops: int,
                 released: Mapping[str, int], own_devices: int, cap_devices: int | None) -> bool:
        """Whether the tenant's quota lets a job of ``devices`` (``gflops``) of type ``t`` in
        with the ``released`` victims gone (``own_devices`` of them its own)."""
        used = self.state.used[tenant] - released.get(tenant, 0)
        if used + gflops > self.ceiling(tenant):
            return False
        if not self.tree.flat:  # ``released`` counts a victim in its ancestors too
            for a in self.tree.up[tenant]:
                if self.state.used[a] - released.get(a, 0) + gflops > self.ceiling(a):
                    return False
        return cap_devices is None or self.state.used_dev[tenant][t] - own_devices + devices <= cap_devices
