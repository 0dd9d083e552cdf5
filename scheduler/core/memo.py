"""What a cycle remembers between jobs, and the one way to forget it.

A long queue holds many jobs of few shapes (tenant, class, gang, types, CPUs,
memory): once a job of a shape could not start, the next job of that shape
waits for the same reason until the cycle's state changes. The memo keeps
those reasons, and the values the rules derive from the quota use and the
reservations, so that a cycle over 100,000 jobs places a few hundred.

``invalidate`` is the one way to forget: the cycle calls it after every
admission and every reservation. A preemption does not call it: victims keep
their devices and quota until they are gone, so every remembered reason still
holds; only the choice of victims changes, and a victim is marked (and skipped)
once chosen.

The entries under "kept for the cycle" depend on nothing a cycle changes (the
running jobs as the cycle found them, the center), so they are never forgotten.
"""

from __future__ import annotations

from scheduler.core.holdings import Holder
from scheduler.core.model import Reason

#: why a job waits: (reason, detail)
Why = tuple[Reason, str]


class Memo:
    __slots__ = (
        "by_reservations", "candidates", "counts", "feasible", "lendable", "lowest_priority", "never_fits",
        "over", "own", "reasons", "reclaimable", "share_keys", "targets", "types",
    )

    def __init__(self, never_fits: dict[tuple[object, ...], bool]) -> None:
        # -- forgotten by ``invalidate`` ----------------------------------------------
        #: by shape: why it cannot start whatever the job's runtime
        self.reasons: dict[str, Why] = {}
        #: [k] by shape: why it cannot start when it would overrun the k earliest reservations
        self.by_reservations: list[dict[str, Why]] = [{}]
        #: compute others may still borrow (quota)
        self.lendable: int | None = None
        #: the tenants above their guarantee (quota)
        self.over: set[str] | None = None
        #: tree: per tenant, the tenants it may reclaim from (quota)
        self.targets: dict[str, set[str]] = {}
        #: per tenant, its fair-share order key (ordering)
        self.share_keys: dict[str, float] = {}
        #: by (type, tenant, priority): the victims a job may take, own and reclaimed (preemption)
        self.reclaimable: dict[tuple[int, str, int], list[Holder]] = {}
        # -- kept for the cycle (and ``never_fits`` for the center) ----------------------
        #: by gang shape on types: whether it fits the empty center at all
        self.never_fits = never_fits
        #: by the accelerator types a job names: the center's types it may run on
        self.types: dict[tuple[str, ...], list[int]] = {}
        #: by shape, of a job that can run at all: the center's types it may run on
        self.feasible: dict[str, list[int]] = {}
        #: per type: the jobs that may be preempted at all, in order of victims
        self.candidates: list[list[Holder]] | None = None
        #: by (type, tenant, priority): the tenant's own candidates, their devices and gflops
        self.own: dict[tuple[int, str, int], tuple[list[Holder], int, int]] = {}
        #: per type, per tenant: how many candidates and their devices
        self.counts: dict[int, dict[str, tuple[int, int]]] = {}
        #: the lowest priority of a running job: nothing runs below it
        self.lowest_priority: int | None = None

    def invalidate(self, reservations: int) -> None:
        """Devices, quota use or reservations changed (``reservations``: how many there are
        now): every derived value is forgotten."""
        self.reasons.clear()
        self.by_reservations = [{} for _ in range(reservations + 1)]
        self.lendable = None
        self.over = None
        self.targets.clear()
        self.share_keys.clear()
        self.reclaimable.clear()
