"""Backfill: reserved starts for the first jobs blocked for capacity.

A job blocked for capacity within its tenant's guarantee (none is made for a
borrower: devices are not held idle for work that may be reclaimed) gets a
reservation: the earliest time enough running jobs will have ended, by their
estimates or maximum runtimes, and the devices it will take then. A later job
starts only where it does not delay a reservation: on devices no reservation
holds, or, if it will end before, on those of the reservations that start after
it ends (the ``k`` earliest ones are those it would overrun).
"""

from __future__ import annotations

import heapq
import itertools
from bisect import bisect_left
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING

from scheduler.core.holdings import Ending
from scheduler.core.model import PendingJob
from scheduler.core.quota import Candidate
from scheduler.core.room import Room

if TYPE_CHECKING:
    from scheduler.core.state import CycleState


class Backfill:
    def __init__(self, state: CycleState) -> None:
        self.state = state
        #: (start, job id, node -> device mask), sorted by start
        self.reservations: list[tuple[float, str, dict[int, int]]] = []
        self.starts: list[float] = []
        #: by k: the devices the k earliest reservations hold, node -> mask (until the next one)
        self._masks: dict[int, dict[int, int]] = {}

    def overrun(self, job: PendingJob) -> int:
        """How many reservations the job would overrun (those starting before it ends)."""
        starts = self.starts
        if not starts:
            return 0
        bound = job.runtime_bound_s
        return len(starts) if bound is None else bisect_left(starts, self.state.now + bound)

    def masks(self, k: int) -> dict[int, int] | None:
        """Devices reserved by the ``k`` earliest reservations (those the job would overrun)."""
        if k == 0:
            return None
        masks = self._masks.get(k)
        if masks is None:
            masks = {}
            for _, _, reserved in self.reservations[:k]:
                for node, mask in reserved.items():
                    masks[node] = masks.get(node, 0) | mask
            self._masks[k] = masks
        return masks

    def reserve(self, job: PendingJob, allowed: list[Candidate], workers: int, per: int,
                cpus: int, mem: int) -> bool:
        """Find the earliest time the job fits as running jobs end, and hold those devices;
        False if none can be foreseen (the jobs it waits for have no expected end)."""
        everything = self.masks(len(self.reservations))
        best: tuple[float, int, dict[int, int]] | None = None
        for cand in allowed:
            t = cand.type_idx
            found = self._earliest_fit(t, workers, per, cpus, mem, everything, self.ending(t))
            if found is not None and (best is None or found[0] < best[0]):
                best = (found[0], t, found[1])
        if best is None:
            return False
        start, _, reserved = best
        self.reservations.append((max(start, self.state.now), job.id, reserved))
        self.reservations.sort(key=lambda r: r[0])
        self.starts = [r[0] for r in self.reservations]
        self._masks.clear()
        return True

    def ending(self, t: int) -> Iterator[Ending]:
        """The holders of type ``t`` that will free their devices, in order of when: those
        being stopped now, the others at their expected end; then by seq.

        The holdings keep the running jobs in that order; this cycle's victims and
        admissions are merged in, lazily: a reservation mostly needs the first few.
        Where seqs repeat (a hand-made snapshot), ties go by place in ``holders`` and
        everything is sorted afresh.
        """
        state = self.state
        now, holdings = state.now, state.holdings
        new = state.new_holders()
        new_seqs = {h.seq for h in new}
        if holdings.seq_repeats or len(new_seqs) < len(new) or not holdings.seqs.keys().isdisjoint(new_seqs):
            return _expected(iter(sorted((now if h.terminating or h.end is None else h.end, h.seq, idx, h)
                                         for idx, h in enumerate(state.holders)
                                         if h.type_idx == t and (h.terminating or h.end is not None))), now)
        base = holdings.ending[t]
        if any(h.type_idx == t for h in state.marked):
            base = [e for e in base if not e[3].terminating]
        extra = [(now, h.seq, 0, h) for h in state.leaving if h.type_idx == t]
        extra += [(h.end, h.seq, 0, h) for h in new if h.type_idx == t and h.end is not None]
        # (seqs are distinct here, so tuples never compare their holders)
        return _expected(heapq.merge(base, sorted(extra)) if extra else iter(base), now)

    def _earliest_fit(self, t: int, workers: int, per: int, cpus: int, mem: int,
                      blocked: Mapping[int, int] | None, ending: Iterable[Ending]
                      ) -> tuple[float, dict[int, int]] | None:
        """When enough of ``ending`` (in order of their end) are gone for the gang to fit,
        and the devices it would take then."""
        cap = self.state.cap
        found = releases_needed(Room(cap, t, per, cpus, mem, blocked), workers, ending)
        if found is None:
            return None
        _, room, start = found
        before = cap.set_nodes(room.nodes)  # as those jobs leave them
        try:
            fit = cap.fit(t, workers, per, cpus, mem, blocked)
            assert fit is not None
            _, masks = cap.to_placement(t, fit.takes, per, blocked)
        finally:
            cap.set_nodes(before)
        return start, dict(masks)


def releases_needed(room: Room, workers: int, ending: Iterable[Ending]) -> tuple[int, Room, float] | None:
    """The fewest of ``ending``, in order and at least one, whose release lets a gang of
    ``workers`` fit in ``room``: how many, the room they leave, and the end of the last."""
    for m, (end, _, _, h) in enumerate(ending, 1):
        room.release(h.takes)
        if room.total >= workers:
            return m, room, end
    return None


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
