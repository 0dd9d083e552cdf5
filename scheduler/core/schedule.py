"""The decision: ``schedule(snapshot, pending, policy, now) -> Decision``.

Pure: no I/O, no clock (``now`` is passed in), no randomness; ties are broken
by submission sequence and by the center's order of nodes and racks, never by
the order of a set, so the same inputs give the same decision byte for byte.

Order of consideration: priority class (raised by aging), then weighted
dominant-resource fair share across tenants (re-ranked after each admission),
then the job's own class, then submission order (or, with ``shortest_first``, the
shortest runtime estimate first among jobs born in their level, and jobs aged into it
after them in submission order, so that no job starves). Each job is checked against its tenant's quota, then
placed all-or-nothing; if it cannot be placed, it may reclaim lent guarantee or
preempt lower priority work of its own tenant; failing that it waits with a
reason, and the first few capacity-blocked jobs within their tenant's guarantee
get a backfill reservation that later jobs may not delay (none is made for a
borrower: devices are not held idle for work that may be reclaimed).

A cycle over a long queue is kept fast by remembering, per job shape, why the
last job of that shape could not start: until something is admitted or
reserved, the next job of the same shape waits for the same reason without
being placed again (victims keep their devices and quota until they are gone).
"""

from __future__ import annotations

import heapq
import itertools
import math
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from operator import attrgetter, itemgetter
from typing import Any

from scheduler.core.fairshare import order_key
from scheduler.core.holdings import Ending, Holder, Holdings, victim_order
from scheduler.core.model import (
    Admit,
    Blocking,
    Decision,
    PendingJob,
    Policy,
    Preempt,
    PreemptReason,
    Reason,
    Reservation,
    Snapshot,
)
from scheduler.core.placement import Fit, Layout, Room
from scheduler.core.queue import PendingQueue
from scheduler.domain import JobSpec, Tenant

_CAPACITY_REASONS = frozenset({Reason.NO_CAPACITY, Reason.FRAGMENTED})
_NEVER = frozenset({Reason.UNSATISFIABLE, Reason.UNKNOWN_TENANT, Reason.UNKNOWN_PRIORITY})
_NO_CANDIDATES: tuple[list[Holder], int, int] = ([], 0, 0)


def schedule(
    snapshot: Snapshot, pending: PendingQueue | Iterable[PendingJob], policy: Policy, now: float
) -> Decision:
    """Decide which pending jobs start where, which running jobs to preempt, and why the rest wait.

    ``pending`` is best a ``PendingQueue`` the caller keeps between steps; any
    iterable of jobs is queued first.
    """
    queue = pending if isinstance(pending, PendingQueue) else PendingQueue(pending)
    return _Cycle(snapshot, policy, now).run(queue)


@dataclass(slots=True)
class _Candidate:
    type_idx: int
    borrowing: bool


class _Cycle:
    def __init__(self, snapshot: Snapshot, policy: Policy, now: float) -> None:
        self.policy = policy
        self.now = now
        self.center = snapshot.center
        self.tenants: Mapping[str, Tenant] = snapshot.tenants
        self.history = snapshot.usage_history
        holdings = _remembered(snapshot, policy)
        layout = holdings.layout
        self.type_of = holdings.type_of
        self.type_gflops = holdings.type_gflops
        self.tenant_rank = {name: i for i, name in enumerate(sorted(self.tenants))}
        self.holdings = holdings
        self.holders = holdings.sync(snapshot.running, snapshot.running_changes)
        self._base = len(self.holders)  # those after are admitted in this cycle
        self.marked = holdings.marked  # victims marked here are unmarked at the next sync
        self.cap = holdings.cap.copy()
        self.used: dict[str, int] = {t: holdings.used.get(t, 0) for t in self.tenants}
        zeros = [0] * len(layout.type_names)
        self.used_dev: dict[str, list[int]] = {t: list(holdings.used_dev.get(t, zeros)) for t in self.tenants}
        self.ready_gflops = holdings.ready_gflops
        self.stopping = dict(holdings.stopping)  # per tenant, its jobs being stopped
        self.leaving = list(holdings.leaving.values())  # their holders, in no particular order
        #: Why a job shape could not start, valid until the state changes (then
        #: cleared): ``cache`` when the reason holds whatever the job's runtime,
        #: ``cache_k[k]`` when it depends on the k reservations the job would overrun.
        self.cache: dict[str, tuple[Reason, str]] = {}
        self.cache_k: list[dict[str, tuple[Reason, str]]] = [{}]
        #: whether a gang shape fits the empty center at all (kept with the layout)
        self.never_fits: dict[tuple[object, ...], bool] = (
            snapshot.memo.setdefault("never_fits", {}) if snapshot.memo is not None else {})
        self.admits: list[Admit] = []
        self.preempts: list[Preempt] = []
        self.wait_ids: list[str] = []
        self.wait_infos: list[tuple[Reason, str]] = []
        self.wait_positions: list[int] = []
        self.reservations: list[tuple[float, str, dict[int, int]]] = []  # sorted by start
        self.reservation_starts: list[float] = []
        self.reserved_masks: dict[int, dict[int, int]] = {}
        self.blocked_by: str | None = None  # Blocking.GLOBAL: the job everything waits behind
        self.tenant_blocked_by: dict[str, str] = {}  # Blocking.TENANT
        self._lendable: int | None = None  # (reset when usage changes)
        self._share_keys: dict[str, float] = {}  # per tenant (reset when its usage changes)
        self._candidates: list[list[Holder]] | None = None
        #: per run of jobs (by identity, within this cycle): their shapes and ids
        # Keyed by id(jobs); the entry holds jobs itself, so the id cannot be reused meanwhile.
        self._columns: dict[int, tuple[Sequence[PendingJob], list[str], list[str]]] = {}
        #: victim candidates by (type, tenant, priority): ``_own_cache`` the tenant's own (with
        #: their devices and gflops), ``_cand_cache`` those and what it may reclaim, which
        #: changes with usage (reset on admission)
        self._own_cache: dict[tuple[int, str, int], tuple[list[Holder], int, int]] = {}
        self._cand_cache: dict[tuple[int, str, int], list[Holder]] = {}
        #: per type, per tenant: how many candidates it has and their devices
        self._cand_counts: dict[int, dict[str, tuple[int, int]]] = {}
        self._over: set[str] | None = None  # tenants above their guarantee (reset when usage changes)
        self._lowest_priority: int | None = None  # of the holders: nothing runs below it

    # -- state ----------------------------------------------------------------------

    def _release(self, holder: Holder) -> None:
        for node, mask, cpus, mem in holder.takes:
            self.cap.give_back(node, mask, cpus, mem)

    def _retake(self, holder: Holder) -> None:
        for node, mask, cpus, mem in holder.takes:
            self.cap.take(node, mask, cpus, mem)

    def _changed(self) -> None:
        """Devices, usage or reservations changed: cached reasons no longer hold."""
        self._cand_cache = {}
        self.cache = {}
        self.cache_k = [{} for _ in range(len(self.reservations) + 1)]

    def share_key(self, tenant: str) -> float:
        key = self._share_keys.get(tenant)
        if key is None:
            used = self.used_dev[tenant]
            total = self.cap.total_by_type
            current = max((u / t for u, t in zip(used, total, strict=True) if t), default=0.0)
            key = self._share_keys[tenant] = order_key(
                current, self.history.get(tenant, 0.0), self.tenants[tenant].weight)
        return key

    def lendable(self) -> int:
        """Compute others may still borrow: unassigned capacity plus lendable idle guarantees."""
        if self._lendable is None:
            assigned = borrowed = idle = 0
            for name, tenant in self.tenants.items():
                q = tenant.quota
                used = self.used[name]
                assigned += q.guaranteed
                borrowed += max(0, used - q.guaranteed)
                unused = max(0, q.guaranteed - used)
                idle += unused if q.lending_limit is None else min(unused, q.lending_limit)
            self._lendable = max(0, self.ready_gflops - assigned) + idle - borrowed
        return self._lendable

    # -- the cycle ----------------------------------------------------------------------

    def run(self, queue: PendingQueue) -> Decision:
        levels = self._levels(queue)
        policy = self.policy
        offset = dict.fromkeys(self.tenants, 0)  # the tenant's jobs in higher levels
        for level in sorted(levels, reverse=True):
            runs: dict[str, Sequence[PendingJob]] = {}
            for tenant, segments in levels[level].items():
                # Within a level: the higher base class first (an aged job joins the
                # level behind those born there), each stretch in submission order.
                segments.sort(key=lambda seg: -seg[0])
                if len(segments) == 1 and not policy.shortest_first:
                    runs[tenant] = segments[0][1]
                else:
                    merged: list[PendingJob] = []
                    for _, seg in segments:
                        merged.extend(seg)
                    if policy.shortest_first:
                        # Shortest first among the jobs born at this level; those aged into it
                        # follow in submission order: a long job is not starved by short ones.
                        born = sum(len(seg) for base, seg in segments if base >= level)
                        merged[:born] = sorted(merged[:born], key=_by_runtime)
                    else:  # the columns follow: concatenated as the jobs were
                        shapes: list[str] = []
                        ids: list[str] = []
                        for _, seg in segments:
                            shapes.extend(self._columns[id(seg)][1])
                            ids.extend(self._columns[id(seg)][2])
                        self._columns[id(merged)] = (merged, shapes, ids)
                    runs[tenant] = merged
            if policy.fair_share:
                self._fair_level(runs, offset)
            else:
                merged = sorted((j for run in runs.values() for j in run), key=self.order)
                positions = []
                for job in merged:
                    offset[job.spec.tenant] += 1
                    positions.append(offset[job.spec.tenant])
                self._consider_run(merged, 0, 0, positions)
            if policy.fair_share:
                for tenant, run in runs.items():
                    offset[tenant] += len(run)
        return Decision(
            tuple(self.admits),
            tuple(self.preempts),
            reservations=tuple(
                Reservation(job, start, tuple(self.cap.names[n] for n in sorted(masks)))
                for start, job, masks in self.reservations
            ),
            waiting=(self.wait_ids, self.wait_infos, self.wait_positions),
        )

    @property
    def order(self) -> Callable[[PendingJob], Any]:
        return _by_runtime if self.policy.shortest_first else _by_seq

    def _levels(self, queue: PendingQueue) -> dict[int, dict[str, list[tuple[int, Sequence[PendingJob]]]]]:
        """Effective priority level -> tenant -> (base priority, jobs in submission order).

        Aging raises a job by ``aging_boost`` for every ``aging_interval_s`` it waited,
        up to the highest class; since a list is in submission order, the jobs
        raised by m steps form one contiguous stretch of it.
        """
        policy = self.policy
        classes = policy.priority_classes
        top = max(classes.values(), default=0)
        aging, boost = policy.aging_interval_s, policy.aging_boost
        levels: dict[int, dict[str, list[tuple[int, Sequence[PendingJob]]]]] = {}
        for (tenant, cls), jobs, shapes, ids in queue.lists():
            base = classes.get(cls)
            if tenant not in self.tenants or base is None:
                reason = Reason.UNKNOWN_TENANT if base is not None else Reason.UNKNOWN_PRIORITY
                for j in jobs:
                    self.wait_ids.append(j.id)
                    self.wait_infos.append((reason, f"{tenant}/{cls}"))
                    self.wait_positions.append(0)
                continue
            if aging <= 0 or boost <= 0 or base >= top:
                self._columns[id(jobs)] = (jobs, shapes, ids)
                levels.setdefault(base, {}).setdefault(tenant, []).append((base, jobs))
                continue
            steps = -(-(top - base) // boost)
            hi = len(jobs)
            for m in range(1, steps + 2):
                # jobs[cut:hi] waited less than m intervals (and at least m - 1)
                cut = 0 if m > steps else bisect_right(jobs, self.now - m * aging, key=_submitted)
                if cut < hi:
                    level = min(top, base + (m - 1) * boost)
                    whole = not cut and hi == len(jobs)
                    stretch = jobs if whole else jobs[cut:hi]
                    self._columns[id(stretch)] = (stretch, shapes, ids) if whole else (
                        stretch, shapes[cut:hi], ids[cut:hi])
                    levels.setdefault(level, {}).setdefault(tenant, []).append((base, stretch))
                hi = cut
                if hi == 0:
                    break
        return levels

    def _fair_level(self, runs: dict[str, Sequence[PendingJob]], offset: dict[str, int]) -> None:
        heap = [(self.share_key(t), self.tenant_rank[t], t) for t in runs]
        heapq.heapify(heap)
        cursor = dict.fromkeys(runs, 0)
        while heap:
            _, rank, tenant = heapq.heappop(heap)
            run = runs[tenant]
            nxt = self._consider_run(run, cursor[tenant], offset[tenant], None, stop_on_admit=True)
            cursor[tenant] = nxt
            if nxt < len(run):
                heapq.heappush(heap, (self.share_key(tenant), rank, tenant))

    def _consider_run(
        self, jobs: Sequence[PendingJob], start: int, base: int, positions: list[int] | None,
        stop_on_admit: bool = False,
    ) -> int:
        """Consider jobs[start:] in order; with ``stop_on_admit``, return after an admission.

        A job's place in its tenant's queue is ``positions[i]`` or ``base + i + 1``.
        Stretches of jobs whose shape has a remembered reason are recorded in bulk:
        the cache is looked up chunk by chunk and the lists are extended at C speed.
        """
        fast = self.policy.blocking in (Blocking.BACKFILL, Blocking.NONE)
        columns = self._columns.get(id(jobs))
        if columns is None or columns[0] is not jobs:
            columns = self._columns[id(jobs)] = (jobs, list(map(_shape, jobs)), list(map(_job_id, jobs)))
        _, shapes, job_ids = columns
        out_ids, out_infos, out_places = self.wait_ids, self.wait_infos, self.wait_positions
        now = self.now
        i = start
        n = len(jobs)
        chunk = 8
        while i < n:
            if fast:
                # Fast path: these shapes could not start and nothing has changed since.
                end = min(n, i + chunk)
                hits = list(map(self.cache.get, shapes[i:end]))
                if None in hits:
                    m = hits.index(None)
                    chunk = 8
                else:
                    m = end - i
                    chunk = min(chunk * 2, 4096)
                if m:
                    out_ids.extend(job_ids[i:i + m])
                    out_infos.extend(hits[:m] if m < len(hits) else hits)  # type: ignore[arg-type]
                    out_places.extend(range(base + i + 1, base + i + m + 1) if positions is None
                                      else positions[i:i + m])
                    i += m
                    continue
            elif self.blocked_by is not None or (self.tenant_blocked_by and self.policy.fair_share):
                # Strict order: the rest of the run waits behind a blocked head (with fair
                # share, a run is one tenant's), as ``_consider`` would say job by job.
                head = self.blocked_by or self.tenant_blocked_by.get(jobs[i].spec.tenant)
                if head is not None:
                    out_ids.extend(job_ids[i:])
                    out_infos.extend([(Reason.QUEUE_BLOCKED, f"behind {head}")] * (n - i))
                    out_places.extend(range(base + i + 1, base + n + 1) if positions is None else positions[i:])
                    return n
            job = jobs[i]
            pos = base + i + 1 if positions is None else positions[i]
            i += 1
            k = 0
            starts = self.reservation_starts
            if starts:
                bound = job.runtime_bound_s
                k = len(starts) if bound is None else bisect_left(starts, now + bound)
                if fast:
                    hit = self.cache_k[k].get(job.shape)
                    if hit is not None:
                        out_ids.append(job.id)
                        out_infos.append(hit)
                        out_places.append(pos)
                        continue
            if self._consider(job, pos, k) and stop_on_admit:
                return i
        return n

    # -- one job ------------------------------------------------------------------------

    def _note_block(self, job: PendingJob, tenant: str, reason: Reason) -> None:
        blocking = self.policy.blocking
        if reason in _NEVER:
            return
        if blocking is Blocking.GLOBAL and self.blocked_by is None:
            self.blocked_by = job.id
        elif blocking is Blocking.TENANT and tenant not in self.tenant_blocked_by:
            self.tenant_blocked_by[tenant] = job.id

    def _wait(self, job: PendingJob, pos: int, reason: Reason, detail: str,
              remember: dict[str, tuple[Reason, str]] | None) -> bool:
        """Keep the job pending; ``remember`` the reason for its shape in that cache."""
        info = (reason, detail)
        self.wait_ids.append(job.id)
        self.wait_infos.append(info)
        self.wait_positions.append(pos)
        if remember is not None:
            remember[job.shape] = info
        self._note_block(job, job.spec.tenant, reason)
        return False

    def _consider(self, job: PendingJob, pos: int, k: int) -> bool:
        spec = job.spec
        tenant = spec.tenant
        head = self.blocked_by or self.tenant_blocked_by.get(tenant)
        if head is not None:
            return self._wait(job, pos, Reason.QUEUE_BLOCKED, f"behind {head}", None)
        if spec.workers < 1 or spec.resources.accelerators < 1:
            return self._wait(job, pos, Reason.UNSATISFIABLE,
                              "a gang needs at least one worker with at least one accelerator", self.cache)
        types = self._types(spec.resources.accelerator_types)
        if not types:
            wanted = ",".join(spec.resources.accelerator_types)
            return self._wait(job, pos, Reason.UNSATISFIABLE, f"no accelerator type {wanted} in the center", self.cache)
        res = spec.resources
        workers, per, cpus, mem = spec.workers, res.accelerators, res.cpus, res.memory_bytes
        if self._never_fits(types, workers, per, cpus, mem):
            return self._wait(job, pos, Reason.UNSATISFIABLE, "larger than the center", self.cache)
        allowed, reason, detail = self._quota(tenant, types, spec.devices)
        if not allowed:
            if self.policy.priority_preemption and self.policy.quotas:
                # Its own lower priority jobs may free the quota it lacks.
                if self.stopping.get(tenant) and self._quota(tenant, types, spec.devices, leaving=True)[0]:
                    return self._wait(job, pos, Reason.WAITING_FOR_PREEMPTION,
                                      "its tenant's preempted jobs are stopping", self.cache)
                victims = self._find_victims(job, types)
                if victims:
                    return self._preempt_for(job, pos, victims)
            return self._wait(job, pos, reason, detail, self.cache)
        blocked = self._blocked_masks(k)
        best = self._best_fit(allowed, workers, per, cpus, mem, blocked)
        if best is not None:
            fit, cand = best
            self._admit(job, fit, cand, blocked)
            return True
        if blocked and self._best_fit(allowed, workers, per, cpus, mem, None) is not None:
            return self._wait(job, pos, Reason.BACKFILL_BLOCKED,
                              "would delay the reserved start of an earlier job", self.cache_k[k])
        if self._fits_after_terminating(allowed, workers, per, cpus, mem):
            return self._wait(job, pos, Reason.WAITING_FOR_PREEMPTION, "devices are being released", self.cache)
        victims = self._find_victims(job, types)
        if victims:
            return self._preempt_for(job, pos, victims)
        reason, detail = self._why_not(allowed, workers, per, cpus, mem)
        if (reason in _CAPACITY_REASONS and self.policy.blocking is Blocking.BACKFILL
                and len(self.reservations) < self.policy.reservations):
            # Devices are held idle only for guaranteed work: a borrower takes what is idle,
            # and may be reclaimed soon after it starts.
            guaranteed = [c for c in allowed if not c.borrowing]
            # (where no start can be foreseen, the next job of this shape waits the same way)
            if guaranteed and self._reserve(job, guaranteed, workers, per, cpus, mem):
                return self._wait(job, pos, reason, detail, None)
        return self._wait(job, pos, reason, detail, self.cache)

    def _preempt_for(self, job: PendingJob, pos: int, victims: list[tuple[Holder, PreemptReason]]) -> bool:
        for holder, why in victims:
            holder.terminating = True
            self.marked.append(holder)
            self.leaving.append(holder)
            self.stopping[holder.tenant] = self.stopping.get(holder.tenant, 0) + 1
            self.preempts.append(Preempt(holder.id, why, job.id))
        # Victims keep their devices and quota until they are gone, so the reasons
        # cached for other shapes still hold; only victim choice changes, and a
        # victim is never chosen twice.
        names = ",".join(h.id for h, _ in victims)
        return self._wait(job, pos, Reason.WAITING_FOR_PREEMPTION, f"preempting {names}", None)

    def _types(self, wanted: tuple[str, ...]) -> list[int]:
        if not wanted:
            return list(range(len(self.cap.type_names)))
        return [self.type_of[t] for t in wanted if t in self.type_of]

    def _never_fits(self, types: list[int], workers: int, per: int, cpus: int, mem: int) -> bool:
        key = (tuple(types), workers, per, cpus, mem)
        known = self.never_fits.get(key)
        if known is None:
            cap = self.cap
            most = 0
            for i, n in enumerate(self.center.nodes):
                if cap.node_type[i] in types:
                    k = n.devices // per
                    if cpus:
                        k = min(k, n.cpus // cpus)
                    if mem:
                        k = min(k, n.memory_bytes // mem)
                    most += k
            known = self.never_fits[key] = most < workers
        return known

    def _quota(self, tenant: str, types: list[int], devices: int, *, leaving: bool = False
               ) -> tuple[list[_Candidate], Reason, str]:
        """The types the tenant's quota allows the job on; with ``leaving``, as if the
        tenant's jobs that are being stopped were gone already."""
        policy = self.policy
        if not policy.quotas:
            return [_Candidate(t, False) for t in types], Reason.QUOTA_EXHAUSTED, ""
        quota = self.tenants[tenant].quota
        used = self.used[tenant]
        used_dev = list(self.used_dev[tenant])
        if leaving:
            stopping = [h for h in self.leaving if h.tenant == tenant]
            if not stopping:
                return [], Reason.QUOTA_EXHAUSTED, ""
            for h in stopping:
                used -= h.gflops
                used_dev[h.type_idx] -= h.devices
        limit = quota.limit if policy.borrowing else quota.guaranteed
        ok: list[_Candidate] = []
        reason, detail = Reason.QUOTA_EXHAUSTED, ""
        for t in types:
            name = self.cap.type_names[t]
            cap = quota.caps.get(name)
            if cap is not None and used_dev[t] + devices > cap:
                detail = f"{name} cap of {cap} devices"
                continue
            after = used + devices * self.type_gflops[t]
            if after > limit:
                detail = "limit" if policy.borrowing else "guaranteed quota"
                continue
            borrowing = after > quota.guaranteed
            if borrowing and after - max(used, quota.guaranteed) > self.lendable():
                reason, detail = Reason.NO_BORROWABLE, "no idle capacity may be lent"
                continue
            ok.append(_Candidate(t, borrowing))
        return ok, reason, detail

    def _best_fit(self, allowed: list[_Candidate], workers: int, per: int, cpus: int, mem: int,
                  blocked: Mapping[int, int] | None) -> tuple[Fit, _Candidate] | None:
        best: tuple[Fit, _Candidate] | None = None
        for cand in allowed:
            fit = self.cap.fit(cand.type_idx, workers, per, cpus, mem, blocked)
            if fit is not None and (best is None or fit.score < best[0].score):
                best = (fit, cand)
        return best

    def _admit(self, job: PendingJob, fit: Fit, cand: _Candidate,
               blocked: Mapping[int, int] | None) -> None:
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
        self.used[spec.tenant] += gflops
        self.used_dev[spec.tenant][cand.type_idx] += devices
        self._lendable = self._over = None
        self._share_keys.pop(spec.tenant, None)
        bound = job.runtime_bound_s
        self.holders.append(Holder(
            job.id, job.seq, spec.tenant, self.policy.priority_classes[spec.priority], gflops,
            cand.type_idx, devices, takes, self.now, None if bound is None else self.now + bound,
            spec.preemptible, False, True,
        ))
        self.admits.append(Admit(job.id, placement, cand.borrowing))
        self._changed()

    def _fits_after_terminating(self, allowed: list[_Candidate], workers: int, per: int,
                                cpus: int, mem: int) -> bool:
        types = {c.type_idx for c in allowed}
        leaving = [h for h in self.leaving if h.type_idx in types]
        if not leaving:
            return False
        for h in leaving:
            self._release(h)
        try:
            return self._best_fit(allowed, workers, per, cpus, mem, None) is not None
        finally:
            for h in leaving:
                self._retake(h)

    def _victim_candidates(self, type_idx: int) -> list[Holder]:
        """Jobs of a type that may be preempted at all, least important and most recent first.

        The holdings keep the preemptible ones in that order; where seqs repeat (a hand-made
        snapshot), ties go by place in ``holders`` and they are sorted afresh.
        """
        if self._candidates is None:
            oldest_start = self.now - self.policy.min_runtime_s
            if self.holdings.seq_repeats:
                by_type: list[list[Holder]] = [[] for _ in self.cap.type_names]
                for h in self.holders:
                    if h.preemptible and not h.terminating and not h.new and h.started_at <= oldest_start:
                        by_type[h.type_idx].append(h)
                for hs in by_type:
                    hs.sort(key=victim_order)
            else:  # (holders admitted in this cycle are not in the holdings)
                by_type = [_started_by(entries, oldest_start) for entries in self.holdings.preemptible]
                if self.marked:
                    by_type = [[h for h in hs if not h.terminating] for hs in by_type]
            self._candidates = by_type
        return self._candidates[type_idx]

    def _own_candidates(self, t: int, tenant: str, priority: int) -> tuple[list[Holder], int, int]:
        """A tenant's candidates of a type below ``priority``, with their devices and gflops."""
        key = (t, tenant, priority)
        entry = self._own_cache.get(key)
        if entry is None:
            if self._lowest_priority is None:
                held = [*self.holdings.priorities_held, *map(_priority, self.holders[self._base:])]
                self._lowest_priority = min(held, default=priority)
            own = [] if priority <= self._lowest_priority else [
                h for h in self._victim_candidates(t) if h.tenant == tenant and h.priority < priority]
            entry = self._own_cache[key] = (own, sum(h.devices for h in own), sum(h.gflops for h in own))
        return entry

    def _reclaim_candidates(self, t: int, tenant: str, priority: int, over: set[str]) -> list[Holder]:
        """The tenant's own candidates and the jobs of tenants ``over`` their guarantee."""
        key = (t, tenant, priority)
        cands = self._cand_cache.get(key)
        if cands is None:
            own_too = self.policy.priority_preemption
            cands = self._cand_cache[key] = [
                h for h in self._victim_candidates(t)
                if (own_too and h.tenant == tenant and h.priority < priority)
                or (h.tenant != tenant and h.tenant in over)]
        return cands

    def _candidate_counts(self, t: int) -> dict[str, tuple[int, int]]:
        """Per tenant: how many candidates of type ``t`` it has, and their devices."""
        counts = self._cand_counts.get(t)
        if counts is None:
            counts = self._cand_counts[t] = {}
            for h in self._victim_candidates(t):
                n, devices = counts.get(h.tenant, (0, 0))
                counts[h.tenant] = (n + 1, devices + h.devices)
        return counts

    def _over_guarantee(self) -> set[str]:
        """The tenants above their guarantee (it changes with usage only)."""
        if self._over is None:
            self._over = {name for name, t in self.tenants.items() if self.used[name] > t.quota.guaranteed}
        return self._over

    def _find_victims(self, job: PendingJob, types: list[int]) -> list[tuple[Holder, PreemptReason]]:
        """The fewest, least important, most recent jobs whose release lets ``job`` start."""
        policy = self.policy
        if not (policy.reclaim or policy.priority_preemption) or not policy.quotas:
            return []
        spec = job.spec
        tenant = spec.tenant
        quota = self.tenants[tenant].quota
        priority = policy.priority_classes[spec.priority]
        over = self._over_guarantee()
        for t in types:
            gflops = spec.devices * self.type_gflops[t]
            name = self.cap.type_names[t]
            cap_devices = quota.caps.get(name)
            mine = self._own_candidates(t, tenant, priority) if policy.priority_preemption else _NO_CANDIDATES
            # Another tenant's job is taken only while this tenant stays within its guarantee
            # (see below): not at all if it would not, even with all its own candidates gone.
            reclaim = (policy.reclaim and bool(over - {tenant})
                       and self.used[tenant] - mine[2] + gflops <= quota.guaranteed)
            count, releasable = len(mine[0]), mine[1]
            if reclaim:  # counted without listing the candidates: most searches end below
                counts = self._candidate_counts(t)
                for victim in over:
                    if victim != tenant and victim in counts:
                        count += counts[victim][0]
                        releasable += counts[victim][1]
            # Hopeless whatever is chosen: too few devices, or too little own quota freed.
            if not count or releasable + self.cap.free_by_type[t] < spec.devices:
                continue
            ceiling = quota.limit if policy.borrowing else quota.guaranteed
            if self.used[tenant] - mine[2] + gflops > ceiling:
                continue
            cands = self._reclaim_candidates(t, tenant, priority, over) if reclaim else mine[0]
            res = spec.resources
            chosen: list[tuple[Holder, PreemptReason]] = []
            released: dict[str, int] = {}
            own_devices = 0
            # The room the victims leave is counted, once the quota would let the job in:
            # both only grow as victims are added, and the job is never placed to find out.
            room: Room | None = None
            for h in cands:
                if h.terminating:
                    continue
                own = released.get(tenant, 0)
                if h.tenant != tenant:
                    # Reclaim only to stay within the guarantee, only from tenants above theirs.
                    if self.used[tenant] - own + gflops > quota.guaranteed:
                        continue
                    victim_q = self.tenants[h.tenant].quota
                    if self.used[h.tenant] - released.get(h.tenant, 0) <= victim_q.guaranteed:
                        continue
                    why = PreemptReason.RECLAIM
                else:
                    why = PreemptReason.PRIORITY
                    own_devices += h.devices
                chosen.append((h, why))
                released[h.tenant] = released.get(h.tenant, 0) + h.gflops
                if room is not None:
                    room.release(h.takes)
                elif self._quota_suffices(tenant, t, spec, gflops, released, own_devices, cap_devices):
                    room = Room(self.cap, t, res.accelerators, res.cpus, res.memory_bytes)
                    for c, _ in chosen:
                        room.release(c.takes)
                else:
                    continue
                if room.total >= spec.workers:
                    break
            if room is None or room.total < spec.workers:
                continue  # not enough, even with every candidate gone
            # Drop victims the job does not need after all, most important first.
            dropped: set[int] = set()  # by id(): holders compare slowly
            for h, _ in sorted(chosen, key=lambda e: victim_order(e[0]), reverse=True):
                room.take(h.takes)
                released[h.tenant] -= h.gflops
                own_after = own_devices - (h.devices if h.tenant == tenant else 0)
                if (room.total >= spec.workers
                        and self._quota_suffices(tenant, t, spec, gflops, released, own_after, cap_devices)):
                    dropped.add(id(h))
                    own_devices = own_after
                else:
                    room.release(h.takes)
                    released[h.tenant] += h.gflops
            chosen = [e for e in chosen if id(e[0]) not in dropped]
            chosen.sort(key=lambda e: e[0].seq)
            return chosen
        return []

    def _quota_suffices(self, tenant: str, t: int, spec: JobSpec, gflops: int,
                        released: Mapping[str, int], own_devices: int, cap_devices: int | None) -> bool:
        """Whether the tenant's quota lets the job in with the ``released`` victims gone."""
        quota = self.tenants[tenant].quota
        used = self.used[tenant] - released.get(tenant, 0)
        limit = quota.limit if self.policy.borrowing else quota.guaranteed
        if used + gflops > limit:
            return False
        return cap_devices is None or self.used_dev[tenant][t] - own_devices + spec.devices <= cap_devices

    def _why_not(self, allowed: list[_Candidate], workers: int, per: int, cpus: int, mem: int) -> tuple[Reason, str]:
        cap = self.cap
        for cand in allowed:
            if cap.unready_racks_of_type[cand.type_idx] and cap.fit(
                cand.type_idx, workers, per, cpus, mem, unready=True
            ) is not None:
                return Reason.CORDONED, "fits only on cordoned or down nodes"
        free = max(cap.free_by_type[c.type_idx] for c in allowed)
        if free >= workers * per:
            return Reason.FRAGMENTED, f"{free} devices free, not placeable as a gang of {workers}x{per}"
        return Reason.NO_CAPACITY, f"{free} devices free, {workers * per} needed"

    # -- backfill reservations ------------------------------------------------------------

    def _blocked_masks(self, k: int) -> dict[int, int] | None:
        """Devices reserved by the ``k`` earliest reservations (those the job would overrun)."""
        if k == 0:
            return None
        masks = self.reserved_masks.get(k)
        if masks is None:
            masks = {}
            for _, _, reserved in self.reservations[:k]:
                for node, mask in reserved.items():
                    masks[node] = masks.get(node, 0) | mask
            self.reserved_masks[k] = masks
        return masks

    def _reserve(self, job: PendingJob, allowed: list[_Candidate], workers: int, per: int,
                 cpus: int, mem: int) -> bool:
        """Find the earliest time the job fits as running jobs end, and hold those devices;
        False if none can be foreseen (the jobs it waits for have no expected end)."""
        everything = self._blocked_masks(len(self.reservations))
        best: tuple[float, int, dict[int, int]] | None = None
        for cand in allowed:
            t = cand.type_idx
            found = self._earliest_fit(t, workers, per, cpus, mem, everything, self._ending(t))
            if found is not None and (best is None or found[0] < best[0]):
                best = (found[0], t, found[1])
        if best is None:
            return False
        start, _, reserved = best
        self.reservations.append((max(start, self.now), job.id, reserved))
        self.reservations.sort(key=lambda r: r[0])
        self.reservation_starts = [r[0] for r in self.reservations]
        self.reserved_masks.clear()
        self._changed()
        return True

    def _ending(self, t: int) -> Iterator[Ending]:
        """The holders of type ``t`` that will free their devices, in order of when: those
        being stopped now, the others at their expected end; then by seq.

        The holdings keep the running jobs in that order; this cycle's victims and
        admissions are merged in, lazily: a reservation mostly needs the first few.
        Where seqs repeat (a hand-made snapshot), ties go by place in ``holders`` and
        everything is sorted afresh.
        """
        now, holdings = self.now, self.holdings
        new = self.holders[self._base:]
        new_seqs = {h.seq for h in new}
        if holdings.seq_repeats or len(new_seqs) < len(new) or not holdings.seqs.keys().isdisjoint(new_seqs):
            return _expected(iter(sorted((now if h.terminating or h.end is None else h.end, h.seq, idx, h)
                                         for idx, h in enumerate(self.holders)
                                         if h.type_idx == t and (h.terminating or h.end is not None))), now)
        base = holdings.ending[t]
        if any(h.type_idx == t for h in self.marked):
            base = [e for e in base if not e[3].terminating]
        extra = [(now, h.seq, 0, h) for h in self.leaving if h.type_idx == t]
        extra += [(h.end, h.seq, 0, h) for h in new if h.type_idx == t and h.end is not None]
        # (seqs are distinct here, so tuples never compare their holders)
        return _expected(heapq.merge(base, sorted(extra)) if extra else iter(base), now)

    def _earliest_fit(self, t: int, workers: int, per: int, cpus: int, mem: int,
                      blocked: Mapping[int, int] | None, ending: Iterable[Ending]
                      ) -> tuple[float, dict[int, int]] | None:
        """When enough of ``ending`` (in order of their end) are gone for the gang to fit,
        and the devices it would take then."""
        found = self._releases_needed(t, workers, per, cpus, mem, blocked, ending)
        if found is None:
            return None
        _, room, start = found
        before = self.cap.set_nodes(room.nodes)  # as those jobs leave them
        try:
            fit = self.cap.fit(t, workers, per, cpus, mem, blocked)
            assert fit is not None
            _, masks = self.cap.to_placement(t, fit.takes, per, blocked)
        finally:
            self.cap.set_nodes(before)
        return start, dict(masks)

    def _releases_needed(self, t: int, workers: int, per: int, cpus: int, mem: int,
                         blocked: Mapping[int, int] | None, ending: Iterable[Ending]
                         ) -> tuple[int, Room, float] | None:
        """The fewest of ``ending``, in order and at least one, whose release lets the gang fit:
        how many, the room they leave, and the end of the last of them."""
        room = Room(self.cap, t, per, cpus, mem, blocked)
        for m, (end, _, _, h) in enumerate(ending, 1):
            room.release(h.takes)
            if room.total >= workers:
                return m, room, end
        return None


def _remembered(snapshot: Snapshot, policy: Policy) -> Holdings:
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


def _expected(ending: Iterator[Ending], now: float) -> Iterator[Ending]:
    """``ending`` (in order) with jobs that outran their estimate expected to run as long again.

    Taken at their word, such jobs end "now", every step: a reservation then
    picks their nodes, holds the devices others free there, and its start slips
    step after step while those jobs run on (on ITP, 99% of kept reservations
    slipped each step). Doubling what a job has run is the usual correction of
    an estimate it exceeded. Jobs being stopped keep ``now``.
    """
    moved: list[Ending] = []
    for e in ending:
        if e[0] >= now:
            if not moved:
                return itertools.chain((e,), ending)
            moved.sort(key=_ending_key)
            return heapq.merge(moved, itertools.chain((e,), ending), key=_ending_key)
        moved.append((2 * now - e[3].started_at, e[1], e[2], e[3]))
    moved.sort(key=_ending_key)
    return iter(moved)


def _ending_key(e: Ending) -> tuple[float, int, int]:
    return e[0], e[1], e[2]


def _started_by(entries: list[tuple[int, float, int, int, Holder]], oldest_start: float) -> list[Holder]:
    """The holders of ``entries`` (in the holdings' order of victims) that started by
    ``oldest_start``: in each priority, the last ones."""
    out: list[Holder] = []
    i, n = 0, len(entries)
    while i < n:
        priority = entries[i][0]
        end = bisect_left(entries, (priority, math.inf), lo=i)
        out.extend(map(_holder, entries[bisect_left(entries, (priority, -oldest_start), lo=i, hi=end):end]))
        i = end
    return out


def _submitted(job: PendingJob) -> float:
    return job.submitted_at


_by_seq = attrgetter("seq")
_by_runtime = attrgetter("runtime_order")
_priority = attrgetter("priority")
_holder = itemgetter(-1)
_shape = attrgetter("shape")
_job_id = attrgetter("id")
