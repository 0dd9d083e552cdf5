"""What the running jobs hold, kept from one decision to the next.

Every decision starts from the devices and quota the running jobs hold. On a
busy center (hundreds of running jobs, a few of them changed between steps)
counting them afresh cost more than the rest of a typical step, so the
engine's memo keeps one ``Holdings`` and each step applies only the
difference: jobs that started, ended, or began stopping. The result is the
state a count from scratch gives: running jobs hold disjoint devices, so giving
a job's devices back undoes exactly what taking them did. Where they do not (a
hand-made snapshot), or a job id appears twice, every step counts afresh.
The holders are also kept in order of their expected end, which backfill
reservations walk.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import compress
from operator import attrgetter, is_not
from typing import Any

from scheduler.core.model import Allocation, Policy, Snapshot
from scheduler.core.placement import Capacity, Layout


@dataclass(slots=True)
class Holder:
    """A job that holds devices during a decision."""

    id: str
    seq: int
    tenant: str
    priority: int
    gflops: int
    type_idx: int
    devices: int
    takes: list[tuple[int, int, int, int]]  # node, mask, cpus, memory
    started_at: float
    end: float | None
    preemptible: bool
    terminating: bool
    new: bool  # admitted in this decision
    checkpointed_at: float | None = None  # its last checkpoint (None: none since its start)


#: a holder in order of its expected end: (end, seq, tie-breaker, holder)
Ending = tuple[float, int, int, Holder]


class Holdings:
    """Free devices, quota used and jobs being stopped, as the running jobs leave them."""

    def __init__(self, layout: Layout, priorities: Mapping[str, int], type_gflops: list[int]) -> None:
        self.layout = layout
        self.priorities = priorities
        self.type_gflops = type_gflops
        self.type_of = {name: i for i, name in enumerate(layout.type_names)}
        self.ready_gflops = sum(type_gflops[layout.node_type[i]] * layout.size[i]
                                for i in range(len(layout.names)) if layout.ready[i])
        self.cap = Capacity(layout)
        #: per running job: the allocation counted in, and its holder
        self.allocs: dict[str, Allocation] = {}
        self.holder_of: dict[str, Holder] = {}
        self.used: dict[str, int] = {}  # per tenant, gflops held
        self.used_dev: dict[str, list[int]] = {}  # per tenant, devices held by type
        self.stopping: dict[str, int] = {}  # per tenant, its jobs being stopped
        self.leaving: dict[int, Holder] = {}  # the holders of those jobs, by their id()
        #: per type, the holders of jobs not being stopped that have an expected end, as
        #: (end, seq, n, holder) in order
        self.ending: list[list[Ending]] = [[] for _ in layout.type_names]
        #: per type, the preemptible holders of jobs not being stopped, least important and
        #: most recent first, as (priority, -start, -seq, n, holder) in order: a decision's
        #: victims come from these
        self.preemptible: list[list[tuple[int, float, int, int, Holder]]] = [[] for _ in layout.type_names]
        self.seqs: dict[int, int] = {}  # how many holders have each seq
        self.priorities_held: dict[int, int] = {}  # how many holders have each priority
        #: holders sharing a seq with another (a hand-made snapshot): ties in ``ending`` and
        #: in a decision's other orders then go by place in the running list
        self.seq_repeats = 0
        self._n = 0
        #: holders a decision marked as victims (``terminating``); unmarked at the next sync
        self.marked: list[Holder] = []
        self.exact = True  # False: devices overlap or ids repeat, so count afresh
        self.synced = False  # whether a sync compared every running job

    def sync(self, running: Sequence[Allocation],
             changes: Mapping[str, Allocation | None] | None = None) -> list[Holder]:
        """Bring the holdings up to ``running``; returns its holders, in its order where
        two of them have the same seq (elsewhere a decision orders holders by seq).

        ``changes``: what changed since the last sync (see ``Snapshot.running_changes``).
        """
        self._unmark()
        if changes is not None and self.synced and self.exact:
            self._apply(changes)
            if self.exact and len(self.allocs) == len(running):
                return self._holders(running)
        self.synced = True
        ids = list(map(_alloc_id, running))
        live = set(ids)
        if not self.exact or len(live) != len(running):
            return self._recount(running)
        allocs = self.allocs
        # Jobs new or changed since the last sync (C-level: this runs every step over every job).
        changed = list(compress(running, map(is_not, running, map(allocs.get, ids))))
        for a in changed:
            if a.id in allocs:
                self._drop(a.id)
        if len(allocs) > len(running) - len(changed):  # some jobs ended
            for job_id in sorted(allocs.keys() - live):
                self._drop(job_id)
        for a in changed:
            self._add(a)
        if not self.exact:
            return self._recount(running)
        return self._holders(running)

    def _apply(self, changes: Mapping[str, Allocation | None]) -> None:
        """Drop the jobs gone or changed, then count the new allocations in (a change
        already applied is no change)."""
        allocs = self.allocs
        for job_id, alloc in changes.items():
            before = allocs.get(job_id)
            if before is None or before is alloc:
                continue
            if alloc is not None and _stopped(before, alloc):
                self._stopping(alloc)
            else:
                self._drop(job_id)
        for alloc in changes.values():
            if alloc is not None and alloc.id not in allocs:
                self._add(alloc)

    def _stopping(self, alloc: Allocation) -> None:
        """The job, counted in, is being stopped: it holds what it held."""
        holder = self.holder_of[alloc.id]
        self._count(holder, -1)
        self.allocs[alloc.id] = alloc
        holder.terminating = True
        self._count(holder, 1)

    def _holders(self, running: Sequence[Allocation]) -> list[Holder]:
        if not self.seq_repeats:
            return list(self.holder_of.values())  # seqs order them wherever order matters
        return [self.holder_of[a.id] for a in running]

    def _recount(self, running: Sequence[Allocation]) -> list[Holder]:
        """Count every running job afresh."""
        self.cap = Capacity(self.layout)
        self.allocs, self.holder_of, self.used, self.used_dev, self.stopping = {}, {}, {}, {}, {}
        self.leaving = {}
        self.ending = [[] for _ in self.layout.type_names]
        self.preemptible = [[] for _ in self.layout.type_names]
        self.seqs, self.seq_repeats = {}, 0
        self.priorities_held = {}
        self.exact = len(set(map(_alloc_id, running))) == len(running)
        return [self._add(a) for a in running]

    def _unmark(self) -> None:
        for h in self.marked:
            if self.holder_of.get(h.id) is h:
                h.terminating = self.allocs[h.id].terminating
        self.marked = []

    def _add(self, alloc: Allocation) -> Holder:
        spec = alloc.spec
        type_idx = self.type_of[alloc.placement.accelerator]
        devices = alloc.placement.devices
        holder = Holder(alloc.id, alloc.seq, spec.tenant, self.priorities.get(spec.priority, 0),
                        devices * self.type_gflops[type_idx], type_idx, devices, _takes(alloc, self.layout),
                        alloc.started_at, alloc.expected_end, spec.preemptible, alloc.terminating, False,
                        alloc.checkpointed_at)
        self.allocs[alloc.id] = alloc
        self.holder_of[alloc.id] = holder
        cap = self.cap
        for node, mask, cpus, mem in holder.takes:
            if cap.free[node] & mask != mask:
                self.exact = False  # taken twice: giving it back would free it for both
            cap.take(node, mask, cpus, mem)
        self._count(holder, 1)
        return holder

    def _drop(self, job_id: str) -> None:
        alloc, holder = self.allocs.pop(job_id), self.holder_of.pop(job_id)
        holder.terminating = alloc.terminating
        for node, mask, cpus, mem in holder.takes:
            self.cap.give_back(node, mask, cpus, mem)
        self._count(holder, -1)

    def _count(self, holder: Holder, sign: int) -> None:
        tenant = holder.tenant
        self.used[tenant] = self.used.get(tenant, 0) + sign * holder.gflops
        by_type = self.used_dev.setdefault(tenant, [0] * len(self.type_gflops))
        by_type[holder.type_idx] += sign * holder.devices
        _tally(self.priorities_held, holder.priority, sign)
        before = self.seqs.get(holder.seq, 0)
        if max(before, before + sign) > 1:
            self.seq_repeats += sign
        _tally(self.seqs, holder.seq, sign)
        if not holder.terminating and holder.end is not None:
            self._order(self.ending[holder.type_idx], (holder.end, holder.seq), holder, sign)
        if holder.preemptible and not holder.terminating:
            self._order(self.preemptible[holder.type_idx], victim_order(holder), holder, sign)
        if holder.terminating:
            _tally(self.stopping, tenant, sign)
            if sign > 0:
                self.leaving[id(holder)] = holder
            else:
                del self.leaving[id(holder)]

    def _order(self, entries: list[Any], key: tuple[Any, ...], holder: Holder, sign: int) -> None:
        """Insert (sign 1) or remove (-1) the holder's entry (*key, n, holder) in sorted ``entries``
        (n, rising, only keeps tuples from comparing holders)."""
        if sign > 0:
            self._n += 1
            insort(entries, (*key, self._n, holder))
        else:
            i = bisect_left(entries, key)
            while entries[i][-1] is not holder:
                i += 1
            del entries[i]


def remembered(snapshot: Snapshot, policy: Policy) -> Holdings:
    """What the running jobs hold, brought up to date from the snapshot's memo.

    A memo only saves work between steps: what is in it is derived from the
    same center, policy and allocation objects, so decisions do not change.
    """
    memo = snapshot.memo
    holdings = memo.get("holdings") if memo is not None else None
    if (not isinstance(holdings, Holdings) or holdings.layout.center is not snapshot.center
            or memo is None or memo.get("policy") is not policy):
        center = snapshot.center
        layout = Layout(center)
        holdings = Holdings(layout, policy.priority_classes,
                            [center.accelerators[n].gflops for n in layout.type_names])
        if memo is not None:
            memo.clear()
            memo["holdings"], memo["policy"] = holdings, policy  # priorities of running jobs come from it
    return holdings


def _takes(alloc: Allocation, layout: Layout) -> list[tuple[int, int, int, int]]:
    """(node, device mask, cpus, memory) per node of a running job's placement."""
    per_node: dict[int, list[int]] = {}
    for w in alloc.placement.workers:
        entry = per_node.setdefault(layout.index[w.node], [0, 0])
        for d in w.devices:
            entry[0] |= 1 << d
        entry[1] += 1
    res = alloc.spec.resources
    return [(node, mask, count * res.cpus, count * res.memory_bytes)
            for node, (mask, count) in per_node.items()]


def victim_order(holder: Holder) -> tuple[int, float, int]:
    """Victims are taken least important first, then most recent."""
    return holder.priority, -holder.started_at, -holder.seq


def _tally(counts: dict[Any, int], key: Any, sign: int) -> None:
    left = counts.get(key, 0) + sign
    if left:
        counts[key] = left
    else:
        del counts[key]


def _stopped(before: Allocation, after: Allocation) -> bool:
    """Whether ``after`` is ``before`` being stopped, and nothing else changed."""
    return (after.terminating and not before.terminating and after.placement is before.placement
            and after.spec is before.spec and after.started_at == before.started_at
            and after.estimated_runtime_s == before.estimated_runtime_s and after.seq == before.seq
            and after.checkpointed_at == before.checkpointed_at)


_alloc_id = attrgetter("id")
