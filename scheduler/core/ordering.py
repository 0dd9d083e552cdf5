"""Ordering and fair share: in which order the cycle considers the pending jobs.

Priority class first, raised by aging: every ``aging_interval_s`` a job waited
adds ``aging_boost``, up to the top class, so nothing starves. Within a level,
weighted dominant-resource fair share across tenants (re-ranked after every
admission), then the job's own class (an aged job joins its new level behind
the jobs born there), then submission order, or with ``shortest_first`` the
shortest runtime estimate first among the jobs born at that level.

A tenant's jobs of one level form a ``Run``: the jobs with their shapes and ids
beside them as columns, which the cycle's fast path reads in bulk.
"""

from __future__ import annotations

import heapq
from bisect import bisect_right
from collections.abc import Callable, Sequence
from operator import attrgetter
from typing import TYPE_CHECKING, Any, NamedTuple

from scheduler.core.fairshare import order_key
from scheduler.core.memo import Memo
from scheduler.core.model import PendingJob, Reason
from scheduler.core.queue import PendingQueue
from scheduler.core.tree import CENTER

if TYPE_CHECKING:
    from scheduler.core.state import CycleState


class Run(NamedTuple):
    """Jobs in the order they are considered, with their shapes and ids."""

    jobs: Sequence[PendingJob]
    shapes: Sequence[str]
    ids: Sequence[str]


#: effective priority level -> tenant -> [(base priority, run in submission order)]
Levels = dict[int, dict[str, list[tuple[int, Run]]]]

#: considers run.jobs[start:] (places in the tenant's queue from ``base`` + 1, or
#: ``positions``); with ``stop_on_admit`` returns the index after an admission
ConsiderRun = Callable[[Run, int, int, "list[int] | None", bool], int]


def levels(queue: PendingQueue, state: CycleState) -> Levels:
    """The queue by effective priority level and tenant; jobs of unknown tenants or classes
    wait at once.

    Since a list is in submission order, the jobs aging raised by m steps form one
    contiguous stretch of it.
    """
    policy = state.policy
    classes = policy.priority_classes
    top = max(classes.values(), default=0)
    aging, boost = policy.aging_interval_s, policy.aging_boost
    out: Levels = {}
    held = {t for t, mode in state.budget_exhausted.items() if mode == "hold"}
    held_places: dict[str, int] = {}
    for (tenant, cls), jobs, shapes, ids in queue.lists():
        if tenant in held:  # its budget is spent: its new jobs wait, in their order
            first = held_places.get(tenant, 0)
            held_places[tenant] = first + len(jobs)
            state.wait_ids.extend(j.id for j in jobs)
            state.wait_infos.extend([(Reason.BUDGET_EXHAUSTED, state.budget_exhausted_detail(tenant))] * len(jobs))
            state.wait_positions.extend(range(first + 1, first + len(jobs) + 1))
            continue
        base = classes.get(cls)
        if tenant not in state.tenants or base is None or tenant in state.tree.inner:
            reason = Reason.UNKNOWN_TENANT if base is not None else Reason.UNKNOWN_PRIORITY
            detail = f"{tenant} is a parent: jobs run in its leaves" if tenant in state.tree.inner else f"{tenant}/{cls}"
            state.wait_ids.extend(j.id for j in jobs)
            state.wait_infos.extend([(reason, detail)] * len(jobs))
            state.wait_positions.extend([0] * len(jobs))
            continue
        if aging <= 0 or boost <= 0 or base >= top:
            out.setdefault(base, {}).setdefault(tenant, []).append((base, Run(jobs, shapes, ids)))
            continue
        steps = -(-(top - base) // boost)
        hi = len(jobs)
        for m in range(1, steps + 2):
            # jobs[cut:hi] waited less than m intervals (and at least m - 1)
            cut = 0 if m > steps else bisect_right(jobs, state.now - m * aging, key=_submitted)
            if cut < hi:
                level = min(top, base + (m - 1) * boost)
                whole = not cut and hi == len(jobs)
                run = Run(jobs, shapes, ids) if whole else Run(jobs[cut:hi], shapes[cut:hi], ids[cut:hi])
                out.setdefault(level, {}).setdefault(tenant, []).append((base, run))
            hi = cut
            if hi == 0:
                break
    return out


def tenant_runs(level: int, by_tenant: dict[str, list[tuple[int, Run]]], shortest_first: bool
                ) -> dict[str, Run]:
    """Each tenant's jobs of one level as one run: the higher base class first (an aged
    job joins the level behind those born there), each stretch in submission order, or
    with ``shortest_first`` the jobs born at the level shortest first."""
    runs: dict[str, Run] = {}
    for tenant, segments in by_tenant.items():
        segments.sort(key=lambda seg: -seg[0])
        if len(segments) == 1 and not shortest_first:
            runs[tenant] = segments[0][1]
            continue
        jobs: list[PendingJob] = []
        shapes: list[str] = []
        ids: list[str] = []
        for _, seg in segments:
            jobs.extend(seg.jobs)
            shapes.extend(seg.shapes)
            ids.extend(seg.ids)
        if shortest_first:
            # Those aged into the level follow in submission order: a long job is not
            # starved by short ones.
            born = sum(len(seg.jobs) for base, seg in segments if base >= level)
            jobs[:born] = sorted(jobs[:born], key=by_runtime)
            shapes, ids = list(map(_shape, jobs)), list(map(_job_id, jobs))
        runs[tenant] = Run(jobs, shapes, ids)
    return runs


def share_key(state: CycleState, memo: Memo, tenant: str) -> float:
    """The tenant's weighted dominant share, now and decayed (lower goes first)."""
    key = memo.share_keys.get(tenant)
    if key is None:
        used = state.used_dev[tenant]
        total = state.cap.total_by_type
        current = max((u / t for u, t in zip(used, total, strict=True) if t), default=0.0)
        key = memo.share_keys[tenant] = order_key(
            current, state.history.get(tenant, 0.0), state.tenants[tenant].weight)
    return key


def walk_fair(runs: dict[str, Run], offset: dict[str, int], state: CycleState, memo: Memo,
              consider_run: ConsiderRun) -> None:
    """Consider the level's runs, the tenant with the lowest share first, re-ranked after
    every admission."""
    if not state.tree.flat:
        walk_fair_tree(runs, offset, state, consider_run)
        return
    heap = [(share_key(state, memo, t), state.tenant_rank[t], t) for t in runs]
    heapq.heapify(heap)
    cursor = dict.fromkeys(runs, 0)
    while heap:
        _, rank, tenant = heapq.heappop(heap)
        run = runs[tenant]
        nxt = consider_run(run, cursor[tenant], offset[tenant], None, True)
        cursor[tenant] = nxt
        if nxt < len(run.jobs):
            heapq.heappush(heap, (share_key(state, memo, tenant), rank, tenant))


def node_keys(state: CycleState) -> Callable[[str], float]:
    """``share_key`` for the tree walk: the same value, with each tenant's history and weight
    looked up once per walk rather than once per admission (the walk re-ranks a whole path
    after each one)."""
    used_dev, totals = state.used_dev, state.cap.total_by_type
    history = state.history
    consts = {n: (history.get(n, 0.0), t.weight) for n, t in state.tenants.items()}

    def key(node: str) -> float:
        current = 0.0
        for u, t in zip(used_dev[node], totals, strict=True):
            if t and u / t > current:
                current = u / t
        past, weight = consts[node]
        return order_key(current, past, weight)

    return key


def walk_fair_tree(runs: dict[str, Run], offset: dict[str, int], state: CycleState,
                   consider_run: ConsiderRun) -> None:
    """``walk_fair`` over a tenant tree: from the top, the child with the lowest weighted
    share among its siblings, down to a tenant with jobs (hierarchical DRF, with the
    decayed history at every level). An admission changes the shares on its tenant's
    path only, so only those entries are taken out and put back."""
    tree, rank = state.tree, state.tenant_rank
    node_key = node_keys(state)
    heaps: dict[str, list[tuple[float, int, str]]] = {}  # per parent (CENTER: the top), its children
    placed: set[str] = set()
    for tenant in runs:
        path = tree.path[tenant]
        for i, node in enumerate(path):
            if node in placed:
                break
            placed.add(node)
            parent = path[i + 1] if i + 1 < len(path) else CENTER
            heaps.setdefault(parent, []).append((node_key(node), rank[node], node))
    for entries in heaps.values():
        heapq.heapify(entries)
    cursor = dict.fromkeys(runs, 0)
    top = heaps.get(CENTER, [])
    while top:
        chain = [CENTER]  # the parents walked down
        node = top[0][2]
        while node not in runs:
            chain.append(node)
            node = heaps[node][0][2]
        run = runs[node]
        nxt = consider_run(run, cursor[node], offset[node], None, True)
        cursor[node] = nxt
        alive = nxt < len(run.jobs)
        # put back the entries on the path, bottom up, with their new shares (a parent
        # whose children have no jobs left goes too)
        for parent in reversed(chain):
            entries = heaps[parent]
            if alive:
                # (an only child's share is compared with nobody: heaps only shrink)
                key = node_key(node) if len(entries) > 1 else 0.0
                heapq.heapreplace(entries, (key, rank[node], node))
            else:
                heapq.heappop(entries)
            alive = bool(entries)
            node = parent


def walk_global(runs: dict[str, Run], offset: dict[str, int], order: Callable[[PendingJob], Any],
                consider_run: ConsiderRun) -> None:
    """Consider the level's jobs in one order across tenants (no fair share)."""
    merged = sorted((j for run in runs.values() for j in run.jobs), key=order)
    positions = []
    for job in merged:
        offset[job.spec.tenant] += 1
        positions.append(offset[job.spec.tenant])
    consider_run(Run(merged, list(map(_shape, merged)), list(map(_job_id, merged))),
                 0, 0, positions, False)


def _submitted(job: PendingJob) -> float:
    return job.submitted_at


by_seq = attrgetter("seq")
by_runtime = attrgetter("runtime_order")
_shape = attrgetter("shape")
_job_id = attrgetter("id")
