"""The center as one cycle leaves it, and the decision recorded so far.

A cycle starts from what the running jobs hold (``Holdings``, kept between
steps in the snapshot's memo) and changes its own copy: an admission takes
devices and quota, a preemption marks its victims as leaving (they keep their
devices and quota until they are gone). Every rule reads this state; only the
cycle changes it, through ``admit`` and ``preempt``.
"""

from __future__ import annotations

from collections.abc import Mapping

from scheduler.core.holdings import Holder, remembered
from scheduler.core.model import (
    Admit,
    Decision,
    PendingJob,
    Policy,
    Preempt,
    PreemptReason,
    Reason,
    Reservation,
    Snapshot,
)
from scheduler.core.placement import Fit
from scheduler.core.quota import Candidate
from scheduler.core.tree import Pools, tree_of
from scheduler.domain import Tenant


class CycleState:
    def __init__(self, snapshot: Snapshot, policy: Policy, now: float) -> None:
        self.policy = policy
        self.now = now
        self.center = snapshot.center
        self.tenants: Mapping[str, Tenant] = snapshot.tenants
        self.history = snapshot.usage_history
        #: tenants whose budget is spent: "hold" or "best-effort"
        self.budget_exhausted = snapshot.budget_exhausted
        holdings = remembered(snapshot, policy)
        self.holdings = holdings
        self.type_of = holdings.type_of
        self.type_gflops = holdings.type_gflops
        self.ready_gflops = holdings.ready_gflops
        self.tenant_rank = {name: i for i, name in enumerate(sorted(self.tenants))}
        self.holders = holdings.sync(snapshot.running, snapshot.running_changes)
        self.base = len(self.holders)  # those after are admitted in this cycle
        self.marked = holdings.marked  # victims marked here are unmarked at the next sync
        self.cap = holdings.cap.copy()
        self.used: dict[str, int] = {t: holdings.used.get(t, 0) for t in self.tenants}
        zeros = [0] * len(holdings.layout.type_names)
        self.used_dev: dict[str, list[int]] = {
            t: list(holdings.used_dev.get(t, zeros)) for t in self.tenants}
        #: the tenant tree; a parent's use is its subtree's, kept up as jobs are admitted
        self.tree = tree = tree_of(self.tenants, snapshot.memo)
        if not tree.flat:
            for leaf in [t for t, u in holdings.used.items() if u and t in tree.up]:
                for a in tree.up[leaf]:
                    self.used[a] += holdings.used[leaf]
                    row = self.used_dev[a]
                    for i, n in enumerate(holdings.used_dev[leaf]):
                        row[i] += n
        #: tree: what each parent's children borrow and lend, made when first asked (quota.py)
        self.pools: Pools | None = None
        self.stopping = dict(holdings.stopping)  # per tenant, its jobs being stopped
        self.leaving = list(holdings.leaving.values())  # their holders, in no particular order
        self.admits: list[Admit] = []
        self.preempts: list[Preempt] = []
        #: the jobs that wait, column-wise: id, (reason, detail), place in its tenant's queue
        self.wait_ids: list[str] = []
        self.wait_infos: list[tuple[Reason, str]] = []
        self.wait_positions: list[int] = []

    def admit(self, job: PendingJob, fit: Fit, cand: Candidate,
              blocked: Mapping[int, int] | None) -> None:
        """Start the job where ``fit`` says: its devices and quota are taken now."""
        cap = self.cap
        spec = job.spec
        res = spec.resources
        placement, masks = cap.to_placement(cand.type_idx, fit.takes, res.accelerators, blocked)
        takes = []
        for (node, mask), (_, count) in zip(masks, fit.takes, strict=True):
            cpus, mem = count * res.cpus, count * res.memory_bytes
            cap.take(node, mask, cpus, mem)
            takes.append((node, mask, cpus, mem))
        devices = spec.devices
        gflops = devices * self.type_gflops[cand.type_idx]
        if self.pools is not None:
            self.pools.add(spec.tenant, self.used[spec.tenant], gflops)
        self.used[spec.tenant] += gflops
        self.used_dev[spec.tenant][cand.type_idx] += devices
        if not self.tree.flat:
            used, used_dev, t = self.used, self.used_dev, cand.type_idx
            for a in self.tree.up[spec.tenant]:
                used[a] += gflops
                used_dev[a][t] += devices
        bound = job.runtime_bound_s
        now = self.now
        self.holders.append(Holder(
            job.id, job.seq, spec.tenant, self.policy.priority_classes[spec.priority], gflops,
            cand.type_idx, devices, takes, now, None if bound is None else now + bound,
            spec.preemptible, False, True,
        ))
        self.admits.append(Admit(job.id, placement, cand.borrowing))

    def preempt(self, holder: Holder, why: PreemptReason, for_job: str) -> None:
        """Mark a victim as leaving: it keeps its devices and quota until it is gone."""
        holder.terminating = True
        self.marked.append(holder)
        self.leaving.append(holder)
        self.stopping[holder.tenant] = self.stopping.get(holder.tenant, 0) + 1
        self.preempts.append(Preempt(holder.id, why, for_job))

    def release(self, holder: Holder) -> None:
        for node, mask, cpus, mem in holder.takes:
            self.cap.give_back(node, mask, cpus, mem)

    def retake(self, holder: Holder) -> None:
        for node, mask, cpus, mem in holder.takes:
            self.cap.take(node, mask, cpus, mem)

    def budget_exhausted_detail(self, tenant: str) -> str:
        return f"the budget of {tenant} (or of a parent) is spent for this period"

    def new_holders(self) -> list[Holder]:
        """The jobs admitted in this cycle."""
        return self.holders[self.base:]

    def decision(self, reservations: list[tuple[float, str, dict[int, int]]]) -> Decision:
        names = self.cap.names
        return Decision(
            tuple(self.admits),
            tuple(self.preempts),
            reservations=tuple(
                Reservation(job, start, tuple(names[n] for n in sorted(masks)))
                for start, job, masks in reservations
            ),
            waiting=(self.wait_ids, self.wait_infos, self.wait_positions),
        )
