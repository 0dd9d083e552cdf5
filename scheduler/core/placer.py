"""Placement within a cycle: where a gang fits best among the types its quota allows,
and, when it fits nowhere, why.

``Capacity.fit`` (placement.py) places a gang on one type, all-or-nothing; this
module picks the best type, tells a gang that can never fit from one that does
not fit now, and tells the reasons apart: cordoned, fragmented, no capacity.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from scheduler.core.memo import Memo
from scheduler.core.model import Reason
from scheduler.core.placement import Fit
from scheduler.core.quota import Candidate

if TYPE_CHECKING:
    from scheduler.core.state import CycleState


class Placer:
    def __init__(self, state: CycleState, memo: Memo) -> None:
        self.state = state
        self.memo = memo
        self.cap = state.cap

    def types(self, wanted: tuple[str, ...]) -> list[int]:
        """The center's types among those a job accepts (any, if it names none); read-only."""
        types = self.memo.types.get(wanted)
        if types is None:
            type_of = self.state.type_of
            types = self.memo.types[wanted] = (
                [type_of[t] for t in wanted if t in type_of] if wanted else list(range(len(self.cap.type_names))))
        return types

    def never_fits(self, types: list[int], workers: int, per: int, cpus: int, mem: int) -> bool:
        """Whether the gang is larger than the empty center's nodes of those types."""
        key = (tuple(types), workers, per, cpus, mem)
        known = self.memo.never_fits.get(key)
        if known is None:
            node_type = self.cap.node_type
            most = 0
            for i, n in enumerate(self.state.center.nodes):
                if node_type[i] in types:
                    k = n.devices // per
                    if cpus:
                        k = min(k, n.cpus // cpus)
                    if mem:
                        k = min(k, n.memory_bytes // mem)
                    most += k
            known = self.memo.never_fits[key] = most < workers
        return known

    def best_fit(self, allowed: list[Candidate], workers: int, per: int, cpus: int, mem: int,
                 blocked: Mapping[int, int] | None) -> tuple[Fit, Candidate] | None:
        """The best placement over the allowed types, outside the ``blocked`` devices."""
        best: tuple[Fit, Candidate] | None = None
        fit_on = self.cap.fit
        for cand in allowed:
            fit = fit_on(cand.type_idx, workers, per, cpus, mem, blocked)
            if fit is not None and (best is None or fit.score < best[0].score):
                best = (fit, cand)
        return best

    def fits_after_leaving(self, allowed: list[Candidate], workers: int, per: int,
                           cpus: int, mem: int) -> bool:
        """Whether the gang fits once the jobs being stopped are gone."""
        types = {c.type_idx for c in allowed}
        leaving = [h for h in self.state.leaving if h.type_idx in types]
        if not leaving:
            return False
        state = self.state
        for h in leaving:
            state.release(h)
        try:
            return self.best_fit(allowed, workers, per, cpus, mem, None) is not None
        finally:
            for h in leaving:
                state.retake(h)

    def why_not(self, allowed: list[Candidate], workers: int, per: int, cpus: int, mem: int
                ) -> tuple[Reason, str]:
        """Why a gang the quota allows does not fit now."""
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
