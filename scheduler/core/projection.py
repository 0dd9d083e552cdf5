"""When will each pending job start: the current state run forward with the same decision.

``project`` replays ``schedule`` on a copy of the state at future times: the
running jobs end at their expected end (a job already past its estimate runs as
long again, as backfill assumes), the jobs it admits hold their devices and
quota until their own estimate, its victims are gone at the next cycle, and
quotas, borrowing, fair share, aging and reservations are whatever the core
makes of them. The first cycle is the decision the engine would take now: a
job holding a backfill reservation there is expected at its reserved start.

It is bounded, so that it can be kept fresh beside the live loop (never inside
it): only the first ``limit`` pending jobs by submission (plus any ``include``)
are projected (later jobs that would overtake them are not seen, so a
projection errs early), and time moves from one expected end to the next in
steps that grow with the distance from ``now`` (``grow``: a start 10 hours out
is known to within about ``grow`` of that), for at most ``max_cycles`` cycles
or ``horizon_s``. A job not started by then is ``unknown``, with the reason
(never fits, held by quota, or beyond the projection).
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, NamedTuple

from scheduler.core.model import Allocation, Decision, PendingJob, Policy, Reason, Snapshot
from scheduler.core.queue import PendingQueue
from scheduler.core.schedule import schedule


class Derivation(StrEnum):
    """How an expected start was found; tenants read these, so they are stable API."""

    RESERVATION = "reservation"  # backfill holds devices for it from that time
    PROJECTION = "projection"  # the decision, run forward, starts it then
    UNKNOWN = "unknown"  # no start foreseen: see the detail


class Eta(NamedTuple):
    start: float | None  # the expected start (epoch seconds); None when unknown
    how: Derivation
    detail: str = ""


_NEVER = frozenset({Reason.UNSATISFIABLE, Reason.UNKNOWN_TENANT, Reason.UNKNOWN_PRIORITY})
_QUOTA = frozenset({Reason.QUOTA_EXHAUSTED, Reason.NO_BORROWABLE})


@dataclass
class Projection:
    """The expected starts of the projected jobs, and what the projection cost."""

    at: float  # the ``now`` it was projected from
    etas: dict[str, Eta] = field(default_factory=dict)
    cycles: int = 0
    limit: int = 0  # how many pending jobs were projected at most
    #: why each job waited in the first cycle (the decision now)
    reasons: dict[str, tuple[Reason, str]] = field(default_factory=dict)

    def get(self, job_id: str) -> Eta:
        eta = self.etas.get(job_id)
        if eta is None:
            return Eta(None, Derivation.UNKNOWN, f"not among the first {self.limit} pending jobs projected")
        return eta


def project(snapshot: Snapshot, pending: PendingQueue | Iterable[PendingJob], policy: Policy, now: float,
            *, limit: int = 1000, include: Iterable[str] = (), max_cycles: int = 48,
            horizon_s: float = 30 * 86400.0, grow: float = 0.25, min_step_s: float = 60.0,
            only: Iterable[str] | None = None) -> Projection:
    """Each of the first ``limit`` pending jobs (and those of ``include``): when it is expected
    to start. Pure: reads the snapshot and queue, changes neither (a memo in the snapshot is
    handed back as it came). With ``only``, it stops once those jobs' starts are known (the
    others may then be left unknown)."""
    jobs = first_pending(pending, limit, include)
    out = Projection(now, limit=limit)
    if not jobs:
        return out
    queue = PendingQueue(jobs)
    # A memo the caller keeps (``snapshot.memo``) is handed back as the snapshot left it.
    memo = snapshot.memo if snapshot.memo is not None else {}
    touched: dict[str, Allocation | None] = {}  # running jobs the projection changed: as they were
    try:
        wanted = None if only is None else set(only)
        t = _run(snapshot, queue, policy, now, out, memo, touched, max_cycles, horizon_s, grow, min_step_s,
                 wanted)
    except BaseException:
        memo.clear()
        raise
    if snapshot.memo is not None and touched:
        holdings = memo.get("holdings")
        if holdings is not None:
            holdings.sync(snapshot.running, touched)
    _unknowns(out, queue, t - now)
    return out


def _run(snapshot: Snapshot, queue: PendingQueue, policy: Policy, now: float, out: Projection,
         memo: dict[str, Any], touched: dict[str, Allocation | None], max_cycles: int, horizon_s: float,
         grow: float, min_step_s: float, wanted: set[str] | None) -> float:
    """The cycles of ``project``; returns how far ahead it got."""
    running, ends = _running_ends(snapshot, now)
    first_changes = snapshot.running_changes if snapshot.memo is not None else None
    changes: dict[str, Allocation | None] = {}
    etas = out.etas
    t, end_of_projection = now, now + horizon_s
    for cycle in range(max_cycles):
        snap = Snapshot(snapshot.center, snapshot.tenants, list(running.values()), snapshot.usage_history,
                        memo=memo, running_changes=first_changes if cycle == 0 else changes)
        decision = schedule(snap, queue, policy, t)
        out.cycles = cycle + 1
        changes = {}
        if cycle == 0:
            for r in decision.reservations:
                etas[r.job_id] = Eta(r.start, Derivation.RESERVATION, f"reserved on {','.join(r.nodes)}")
            out.reasons = {p.job_id: (p.reason, p.detail) for p in decision.pending}
        _start_admitted(decision, queue, etas, running, ends, changes, touched, t, cycle)
        for p in decision.preempts:  # victims are gone at the next cycle, and their preemptor starts
            _gone(p.job_id, running, changes, touched)
            if p.for_job not in etas:
                etas[p.for_job] = Eta(t, Derivation.PROJECTION, "once the jobs it preempts are stopped")
        if not queue or (wanted is not None and wanted.issubset(etas)):
            break
        # the next cycle: at the next expected end, or later, in steps that grow with the distance
        while ends and ends[0][1] not in running:
            heapq.heappop(ends)
        if not ends:
            break
        t = max(ends[0][0], t + max(min_step_s, (t - now) * grow))
        if t > end_of_projection:
            break
        while ends and ends[0][0] <= t:
            _gone(heapq.heappop(ends)[1], running, changes, touched)
    return t


def _running_ends(snapshot: Snapshot, now: float) -> tuple[dict[str, Allocation], list[tuple[float, str]]]:
    """The running jobs as the projection sees them, and a heap of when each is expected gone."""
    running: dict[str, Allocation] = {}
    ends: list[tuple[float, str]] = []
    for held in snapshot.running:
        running[held.id] = held
        end = _end_of(held, now)
        if end is not None:
            ends.append((end, held.id))
    heapq.heapify(ends)
    return running, ends


def _start_admitted(decision: Decision, queue: PendingQueue, etas: dict[str, Eta], running: dict[str, Allocation],
                    ends: list[tuple[float, str]], changes: dict[str, Allocation | None],
                    touched: dict[str, Allocation | None], t: float, cycle: int) -> None:
    """The cycle's admissions start at ``t``: their expected start, and when they end."""
    for a in decision.admits:
        job = queue.remove(a.job_id)
        assert job is not None
        if a.job_id not in etas:
            etas[a.job_id] = Eta(t, Derivation.PROJECTION, "starts now" if cycle == 0 else "")
        alloc = Allocation(job.id, job.seq, job.spec, a.placement, t, False, job.estimated_runtime_s)
        running[job.id] = changes[job.id] = alloc
        touched.setdefault(job.id, None)
        end = _end_of(alloc, t)
        if end is not None:
            heapq.heappush(ends, (end, job.id))


def _gone(job_id: str, running: dict[str, Allocation], changes: dict[str, Allocation | None],
          touched: dict[str, Allocation | None]) -> None:
    """A running job ends in the projection (``touched`` keeps it as it was, for the memo)."""
    alloc = running.pop(job_id, None)
    if alloc is not None:
        changes[job_id] = None
        touched.setdefault(job_id, alloc)


def _unknowns(out: Projection, queue: PendingQueue, ahead: float) -> None:
    """Why each job the projection did not start has no expected start."""
    etas = out.etas
    for job in queue:
        if job.id in etas:  # reserved, not yet started in the projection
            continue
        reason, detail = out.reasons.get(job.id, (None, ""))
        if reason in _NEVER:
            why = f"{reason}: {detail}" if detail else str(reason)
        elif reason in _QUOTA:
            why = f"held by quota ({reason}{': ' + detail if detail else ''}) beyond the projection"
        else:
            why = f"no start within the projection ({out.cycles} cycles, up to {ahead:.0f} s ahead)"
        etas[job.id] = Eta(None, Derivation.UNKNOWN, why)


def first_pending(pending: PendingQueue | Iterable[PendingJob], limit: int, include: Iterable[str]) -> list[PendingJob]:
    """The first ``limit`` jobs by submission, and those of ``include``."""
    if isinstance(pending, PendingQueue):
        lists = [jobs for _, jobs, _, _ in pending.lists()]
        chosen = list(itertools.islice(heapq.merge(*lists, key=_seq), limit))
        seen = {j.id for j in chosen}
        for job_id in include:
            if job_id not in seen:
                job = pending.get(job_id)
                if job is not None:
                    chosen.append(job)
                    seen.add(job_id)
        return chosen
    every = sorted(pending, key=_seq)
    wanted = set(include)
    return every[:limit] + [j for j in every[limit:] if j.id in wanted]


def _end_of(a: Allocation, now: float) -> float | None:
    """When a running job is expected to be gone: being stopped, now; past its estimate,
    after as long again as it has run (as backfill assumes); else at its expected end."""
    if a.terminating:
        return now
    end = a.expected_end
    if end is None:
        return None
    return end if end > now else 2 * now - a.started_at


def _seq(job: PendingJob) -> int:
    return job.seq
