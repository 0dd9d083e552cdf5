"""The decision: ``schedule(snapshot, pending, policy, now) -> Decision``.

Pure: no I/O, no clock (``now`` is passed in), no randomness; ties are broken
by submission sequence and by the center's order of nodes and racks, never by
the order of a set, so the same inputs give the same decision byte for byte.

The cycle, step by step (``_Cycle.run``):

1. state: what the running jobs hold, brought up to date (state.py, holdings.py);
2. order: the queue by effective priority level, raised by aging (ordering.py);
3. for each level, highest first, each job in fair-share order (ordering.py),
   rule by rule (``_Cycle.consider``):
   a. strict order: behind a blocked head, it waits;
   b. feasibility: a gang that can never fit waits as unsatisfiable (placer.py);
   c. quota and borrowing: the types its quota allows (quota.py); if none,
      its tenant's lower priority jobs may free the quota (preemption.py);
   d. placement: the best fit that delays no reservation, then admit (placer.py);
   e. otherwise: it waits for jobs being stopped, or reclaims lent guarantee or
      preempts lower priority work (preemption.py), or waits with a reason,
      and the first few capacity-blocked jobs get a reserved start (backfill.py);
4. the decision: admissions, preemptions, reservations, and why the rest wait.

What the rules derive from the state, and why each job shape could not start,
is remembered in one ``Memo`` (memo.py) that every admission and reservation
invalidates; until then, a job of a remembered shape waits for the same reason
without being placed again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from scheduler.core.backfill import Backfill
from scheduler.core.memo import Memo, Why
from scheduler.core.model import Blocking, Decision, PendingJob, Policy, Reason, Snapshot
from scheduler.core.ordering import (
    Run,
    by_runtime,
    by_seq,
    levels,
    tenant_runs,
    walk_fair,
    walk_global,
)
from scheduler.core.placer import Placer
from scheduler.core.preemption import Victim, Victims
from scheduler.core.queue import PendingQueue
from scheduler.core.quota import Candidate, Quotas
from scheduler.core.state import CycleState

_CAPACITY_REASONS = frozenset({Reason.NO_CAPACITY, Reason.FRAGMENTED})
_NEVER = frozenset({Reason.UNSATISFIABLE, Reason.UNKNOWN_TENANT, Reason.UNKNOWN_PRIORITY})


def schedule(
    snapshot: Snapshot, pending: PendingQueue | Iterable[PendingJob], policy: Policy, now: float
) -> Decision:
    """Decide which pending jobs start where, which running jobs to preempt, and why the rest wait.

    ``pending`` is best a ``PendingQueue`` the caller keeps between steps; any
    iterable of jobs is queued first.
    """
    queue = pending if isinstance(pending, PendingQueue) else PendingQueue(pending)
    return _Cycle(snapshot, policy, now).run(queue)


class _Cycle:
    def __init__(self, snapshot: Snapshot, policy: Policy, now: float) -> None:
        self.policy = policy
        self.now = now
        # 1. state: what the running jobs hold, and what the rules derive from it
        self.state = state = CycleState(snapshot, policy, now)
        memo_store = snapshot.memo
        self.memo = memo = Memo(memo_store.setdefault("never_fits", {}) if memo_store is not None else {})
        self.quotas = Quotas(state, memo)
        self.placer = Placer(state, memo)
        self.victims = Victims(state, self.quotas, memo)
        self.backfill = Backfill(state)
        self.blocked_by: str | None = None  # Blocking.GLOBAL: the job everything waits behind
        self.tenant_blocked_by: dict[str, str] = {}  # Blocking.TENANT

    def run(self, queue: PendingQueue) -> Decision:
        state, policy = self.state, self.policy
        # 2. order: effective priority levels (aging), highest first
        self.quotas.want(queue.devices)
        by_level = levels(queue, state)
        offset = dict.fromkeys(state.tenants, 0)  # per tenant, its jobs in higher levels
        for level in sorted(by_level, reverse=True):
            runs = tenant_runs(level, by_level[level], policy.shortest_first)
            # 3. each job in fair-share order (or one order across tenants), rule by rule
            if policy.fair_share:
                walk_fair(runs, offset, state, self.memo, self.consider_run)
                for tenant, run in runs.items():
                    offset[tenant] += len(run.jobs)
            else:
                walk_global(runs, offset, self.order, self.consider_run)
        # 4. the decision
        return state.decision(self.backfill.reservations)

    @property
    def order(self) -> Callable[[PendingJob], Any]:
        return by_runtime if self.policy.shortest_first else by_seq

    def consider_run(self, run: Run, start: int, base: int, positions: list[int] | None,
                     stop_on_admit: bool) -> int:
        """Consider run.jobs[start:] in order; with ``stop_on_admit``, return after an admission.

        A job's place in its tenant's queue is ``positions[i]`` or ``base + i + 1``.
        Stretches of jobs whose shape has a remembered reason are recorded in bulk:
        the memo is looked up chunk by chunk and the lists are extended at C speed.
        """
        fast = self.policy.blocking in (Blocking.BACKFILL, Blocking.NONE)
        jobs, shapes, job_ids = run
        state, memo, backfill = self.state, self.memo, self.backfill
        out_ids, out_infos, out_places = state.wait_ids, state.wait_infos, state.wait_positions
        reasons = memo.reasons  # (cleared in place by ``Memo.invalidate``)
        i = start
        n = len(jobs)
        chunk = 8
        while i < n:
            if fast:
                # Fast path: these shapes could not start and nothing has changed since.
                if reasons:
                    end = min(n, i + chunk)
                    hits = list(map(reasons.get, shapes[i:end]))
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
                # share, a run is one tenant's), as ``consider`` would say job by job.
                head = self.blocked_by or self.tenant_blocked_by.get(jobs[i].spec.tenant)
                if head is not None:
                    out_ids.extend(job_ids[i:])
                    out_infos.extend([(Reason.QUEUE_BLOCKED, f"behind {head}")] * (n - i))
                    out_places.extend(range(base + i + 1, base + n + 1) if positions is None else positions[i:])
                    return n
            job = jobs[i]
            pos = base + i + 1 if positions is None else positions[i]
            i += 1
            k = backfill.overrun(job) if backfill.starts else 0
            if k and fast:
                hit = memo.by_reservations[k].get(job.shape)
                if hit is not None:
                    out_ids.append(job.id)
                    out_infos.append(hit)
                    out_places.append(pos)
                    continue
            if self.consider(job, pos, k) and stop_on_admit:
                return i
        return n

    # -- one job, rule by rule ----------------------------------------------------------

    def consider(self, job: PendingJob, pos: int, k: int) -> bool:
        """Admit the job, or preempt for it, or keep it waiting with a reason; True if admitted.
        ``k``: how many reservations it would overrun."""
        spec = job.spec
        tenant = spec.tenant
        # a. strict order
        head = self.blocked_by or self.tenant_blocked_by.get(tenant)
        if head is not None:
            return self._wait(job, pos, Reason.QUEUE_BLOCKED, f"behind {head}", None)
        # b. feasibility
        types = self.memo.feasible.get(job.shape)
        if types is None:
            types = self._feasible_types(job, pos)
            if types is None:
                return False
            self.memo.feasible[job.shape] = types
        # c. quota and borrowing
        allowed, reason, detail = self.quotas.allowed(tenant, types, spec.devices)
        if not allowed:
            return self._over_quota(job, pos, types, reason, detail)
        # d. placement, delaying no reservation it would overrun
        res = spec.resources
        blocked = self.backfill.masks(k)
        best = self.placer.best_fit(allowed, spec.workers, res.accelerators, res.cpus, res.memory_bytes, blocked)
        if best is not None:
            self.state.admit(job, best[0], best[1], blocked)
            self.quotas.admitted(tenant, spec.devices)
            self.memo.invalidate(len(self.backfill.reservations))
            return True
        # e. no room now
        return self._no_room(job, pos, k, types, allowed, bool(blocked))

    def _feasible_types(self, job: PendingJob, pos: int) -> list[int] | None:
        """The center's types the job may run on; None (and it waits) if it can never run."""
        spec = job.spec
        res = spec.resources
        if spec.workers < 1 or res.accelerators < 1:
            self._wait(job, pos, Reason.UNSATISFIABLE,
                       "a gang needs at least one worker with at least one accelerator", self.memo.reasons)
            return None
        types = self.placer.types(res.accelerator_types)
        if not types:
            wanted = ",".join(res.accelerator_types)
            self._wait(job, pos, Reason.UNSATISFIABLE, f"no accelerator type {wanted} in the center",
                       self.memo.reasons)
            return None
        if self.placer.never_fits(types, spec.workers, res.accelerators, res.cpus, res.memory_bytes):
            self._wait(job, pos, Reason.UNSATISFIABLE, "larger than the center", self.memo.reasons)
            return None
        return types

    def _over_quota(self, job: PendingJob, pos: int, types: list[int], reason: Reason, detail: str) -> bool:
        """The quota allows the job nowhere: its own lower priority jobs may free what it lacks."""
        policy = self.policy
        if policy.priority_preemption and policy.quotas:
            spec = job.spec
            tenant = spec.tenant
            if self.state.stopping.get(tenant) and self.quotas.allowed(
                    tenant, types, spec.devices, leaving=True)[0]:
                return self._wait(job, pos, Reason.WAITING_FOR_PREEMPTION,
                                  "its tenant's preempted jobs are stopping", self.memo.reasons)
            victims = self.victims.find(job, types)
            if victims:
                return self._preempt_for(job, pos, victims)
        return self._wait(job, pos, reason, detail, self.memo.reasons)

    def _no_room(self, job: PendingJob, pos: int, k: int, types: list[int], allowed: list[Candidate],
                 reserved: bool) -> bool:
        """The quota allows the job but it does not fit now: why, and what it waits for."""
        spec = job.spec
        res = spec.resources
        shape = (spec.workers, res.accelerators, res.cpus, res.memory_bytes)
        placer, memo = self.placer, self.memo
        if reserved and placer.best_fit(allowed, *shape, None) is not None:
            return self._wait(job, pos, Reason.BACKFILL_BLOCKED,
                              "would delay the reserved start of an earlier job", memo.by_reservations[k])
        if placer.fits_after_leaving(allowed, *shape):
            return self._wait(job, pos, Reason.WAITING_FOR_PREEMPTION, "devices are being released", memo.reasons)
        victims = self.victims.find(job, types)
        if victims:
            return self._preempt_for(job, pos, victims)
        reason, detail = placer.why_not(allowed, *shape)
        policy = self.policy
        if (reason in _CAPACITY_REASONS and policy.blocking is Blocking.BACKFILL
                and len(self.backfill.reservations) < policy.reservations):
            # Devices are held idle only for guaranteed work: a borrower takes what is idle,
            # and may be reclaimed soon after it starts.
            guaranteed = [c for c in allowed if not c.borrowing]
            # (where no start can be foreseen, the next job of this shape waits the same way)
            if guaranteed and self.backfill.reserve(job, guaranteed, *shape):
                memo.invalidate(len(self.backfill.reservations))
                return self._wait(job, pos, reason, detail, None)
        return self._wait(job, pos, reason, detail, memo.reasons)

    def _preempt_for(self, job: PendingJob, pos: int, victims: list[Victim]) -> bool:
        for holder, why in victims:
            self.state.preempt(holder, why, job.id)
        # Victims keep their devices and quota until they are gone, so the memo still
        # holds; only victim choice changes, and a victim is never chosen twice.
        names = ",".join(h.id for h, _ in victims)
        return self._wait(job, pos, Reason.WAITING_FOR_PREEMPTION, f"preempting {names}", None)

    def _wait(self, job: PendingJob, pos: int, reason: Reason, detail: str,
              remember: dict[str, Why] | None) -> bool:
        """Keep the job pending; ``remember`` the reason for its shape in that memo."""
        info = (reason, detail)
        state = self.state
        state.wait_ids.append(job.id)
        state.wait_infos.append(info)
        state.wait_positions.append(pos)
        if remember is not None:
            remember[job.shape] = info
        if reason not in _NEVER:
            blocking = self.policy.blocking
            if blocking is Blocking.GLOBAL and self.blocked_by is None:
                self.blocked_by = job.id
            elif blocking is Blocking.TENANT and job.spec.tenant not in self.tenant_blocked_by:
                self.tenant_blocked_by[job.spec.tenant] = job.id
        return False
