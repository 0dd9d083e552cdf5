"""What the decision reads (snapshot, pending jobs, policy) and what it returns."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from enum import StrEnum
from sys import intern
from types import MappingProxyType
from typing import Any, NamedTuple

from scheduler.domain import Center, JobSpec, Placement, Tenant

DEFAULT_PRIORITY_CLASSES: Mapping[str, int] = MappingProxyType({"high": 300, "normal": 200, "low": 100})


class Reason(StrEnum):
    """Why a job waits; tenants read these, so they are stable API."""

    QUOTA_EXHAUSTED = "QuotaExhausted"  # above its limit or a per-type cap
    NO_BORROWABLE = "NoBorrowableCapacity"  # beyond guarantee and nothing idle may be lent
    NO_CAPACITY = "NoCapacity"  # not enough free devices of any allowed type
    FRAGMENTED = "Fragmented"  # enough free devices, but not placeable as a gang
    CORDONED = "Cordoned"  # would fit only on cordoned nodes
    WAITING_FOR_PREEMPTION = "WaitingForPreemption"  # victims are being stopped for it
    BACKFILL_BLOCKED = "BackfillBlocked"  # would delay a reserved start of an earlier job
    QUEUE_BLOCKED = "QueueBlocked"  # strict order: an earlier job waits
    UNSATISFIABLE = "Unsatisfiable"  # cannot fit even in the empty center
    UNKNOWN_TENANT = "UnknownTenant"
    UNKNOWN_PRIORITY = "UnknownPriorityClass"
    BUDGET_EXHAUSTED = "BudgetExhausted"  # its tenant's (or an ancestor's) budget is spent: hold


class PreemptReason(StrEnum):
    RECLAIM = "Reclaim"  # a tenant takes back its lent guarantee
    PRIORITY = "Priority"  # a higher priority job of the same tenant


class Blocking(StrEnum):
    """What a job that cannot start does to the jobs behind it."""

    BACKFILL = "backfill"  # EASY backfill: later jobs may not delay its reserved start
    NONE = "none"  # later jobs start wherever they fit
    TENANT = "tenant"  # strict order within each tenant's queue
    GLOBAL = "global"  # strict order across the whole queue (FIFO)


@dataclass(frozen=True, slots=True)
class PendingJob:
    """A job waiting for admission. ``seq`` rises monotonically with submission."""

    id: str
    seq: int
    spec: JobSpec
    submitted_at: float
    preemptions: int = 0
    #: The engine's estimate (from the spec or learned from the tenant's history).
    estimated_runtime_s: float | None = None
    #: What the decision needs of the spec, computed once: jobs of one shape
    #: that cannot start wait for the same reason (see schedule's fast path).
    shape: str = field(init=False, repr=False, compare=False)
    runtime_bound_s: float | None = field(init=False, repr=False, compare=False)
    #: (bound, seq): shortest first, jobs without a bound last
    runtime_order: tuple[float, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        spec = self.spec
        res = spec.resources
        # An interned string, not a tuple: jobs of one shape share one object, so
        # the fast path's lookups compare by identity and touch no other memory.
        shape = intern(f"{spec.tenant}\0{spec.priority}\0{spec.workers}\0{res.accelerators}\0"
                       f"{','.join(res.accelerator_types)}\0{res.cpus}\0{res.memory_bytes}")
        object.__setattr__(self, "shape", shape)
        bound = self.estimated_runtime_s or spec.estimated_runtime_s or spec.max_runtime_s
        object.__setattr__(self, "runtime_bound_s", bound)
        object.__setattr__(self, "runtime_order", (math.inf if bound is None else bound, self.seq))


@dataclass(frozen=True, slots=True)
class Allocation:
    """A job holding devices: admitted, running, or being stopped (``terminating``)."""

    id: str
    seq: int
    spec: JobSpec
    placement: Placement
    started_at: float
    terminating: bool = False
    estimated_runtime_s: float | None = None
    #: when the job last reported a checkpoint (None: never in this attempt): preempting it
    #: loses the work since then, or since its start
    checkpointed_at: float | None = None

    @property
    def expected_end(self) -> float | None:
        bound = self.estimated_runtime_s or self.spec.estimated_runtime_s or self.spec.max_runtime_s
        return None if bound is None else self.started_at + bound


@dataclass(frozen=True)
class Snapshot:
    center: Center
    tenants: Mapping[str, Tenant]
    running: Sequence[Allocation]
    #: Per tenant, decayed past dominant share (see fairshare.decay_usage).
    usage_history: Mapping[str, float] = field(default_factory=dict)
    #: A dict the caller keeps between steps, where the decision leaves what it
    #: can reuse (the center's layout, what each running job holds). Never
    #: changes a decision; None: nothing is remembered.
    memo: dict[str, Any] | None = field(default=None, compare=False)
    #: With ``memo``: by job id, the running jobs added or changed (their allocation)
    #: or gone (None) since the last snapshot with that memo, so that only they are
    #: looked at; None: not known, every running job is compared.
    running_changes: Mapping[str, Allocation | None] | None = field(default=None, compare=False)
    #: Tenants whose budget (or an ancestor's) is spent, and what their new jobs do:
    #: "hold" (wait, BudgetExhausted) or "best-effort" (start only as borrowers of idle
    #: capacity, never preempting for it).
    budget_exhausted: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Policy:
    """Knobs of the decision. The defaults are aicc's policy."""

    priority_classes: Mapping[str, int] = field(default_factory=lambda: DEFAULT_PRIORITY_CLASSES)
    quotas: bool = True  # False: no guarantees or limits at all
    borrowing: bool = True  # False: a tenant never goes beyond its guarantee
    reclaim: bool = True  # preempt borrowers to give a guarantee back
    priority_preemption: bool = True  # within a tenant, higher priority preempts lower
    fair_share: bool = True  # False: across tenants, plain submission order
    blocking: Blocking = Blocking.BACKFILL
    #: backfill: how many blocked jobs get a reserved start; only jobs within their
    #: tenant's guarantee do (on ITP, holding devices for borrowers cost 1.5x in average queue)
    reservations: int = 4
    fair_share_half_life_s: float = 3600.0
    aging_interval_s: float = 3600.0  # every interval waited raises priority ...
    aging_boost: int = 100  # ... by this much, up to the highest class
    #: a job younger than this is never a victim: a start (image, data, checkpoint) costs minutes,
    #: and on the ITP trace a borrowed job reclaimed a minute after it started was reclaimed again
    #: and again (60 s: 49,620 preemptions of 69,351 jobs; 1,800 s: 40,378, fewer guarantee violations)
    min_runtime_s: float = 1800.0
    #: Order within a priority and tenant by the runtime estimate (shortest first)
    #: instead of submission order; jobs without an estimate go last.
    shortest_first: bool = False
    #: Among the victims that would let a job start, take those that lose the least work first
    #: (the time since their last checkpoint, or start, on each device, + ``restart_cost_s``),
    #: then the most recent; False: least important, then most recent, whatever they saved.
    #: Where no job reports checkpoints the two are the same.
    victims_by_cost: bool = True
    #: what a restart costs a job (its start again: image, data, loading its checkpoint), in
    #: seconds of its devices: a victim loses this on top of its work since its last checkpoint
    restart_cost_s: float = 0.0
    #: False: where restarts cost (``restart_cost_s`` > 0), a tenant's unused guarantee is not
    #: lent while its own jobs wait for it (on ITP, 91% of reclaimed borrowers borrowed again
    #: within 10 minutes, on the capacity their reclaimer then waited for); True: it is lent
    #: all the same (as before issue 23). With free restarts it is always lent: there,
    #: withholding it cost 1.5x in average queueing on ITP
    lend_wanted_guarantee: bool = False

    def with_knobs(self, knobs: Mapping[str, object]) -> Policy:
        """This policy with knobs changed (a center file's ``policy:``, ``aicc simulate --set``),
        each checked against its field's type; ValueError names the first wrong one."""
        changed: dict[str, Any] = {}
        for name, value in knobs.items():
            current = getattr(self, name, None) if name in _KNOBS else None
            if current is None:
                raise ValueError(f"{name}: not a knob of the policy (knobs: {', '.join(_KNOBS)})")
            if isinstance(current, Blocking):
                if value not in {b.value for b in Blocking}:
                    raise ValueError(f"{name}: expected one of {', '.join(b.value for b in Blocking)}")
                changed[name] = Blocking(str(value))
            elif isinstance(current, bool):
                if not isinstance(value, bool):
                    raise ValueError(f"{name}: expected true or false, not {value!r}")
                changed[name] = value
            else:
                whole = isinstance(current, int)
                if isinstance(value, bool) or not isinstance(value, int | float) or (whole and not isinstance(value, int)):
                    raise ValueError(f"{name}: expected {'a whole number' if whole else 'a number'}, not {value!r}")
                if not 0 <= value < math.inf:
                    raise ValueError(f"{name}: must be finite and not negative, not {value!r}")
                changed[name] = value if whole else float(value)
        return replace(self, **changed)


#: the policy's knobs a center file or a what-if may set (its priority classes are the center's own)
_KNOBS = tuple(f.name for f in fields(Policy) if f.name != "priority_classes")


class Admit(NamedTuple):
    job_id: str
    placement: Placement
    borrowing: bool


class Preempt(NamedTuple):
    job_id: str
    reason: PreemptReason
    for_job: str


class KeepPending(NamedTuple):
    job_id: str
    reason: Reason
    position: int  # 1-based place in its tenant's queue
    detail: str


class Reservation(NamedTuple):
    job_id: str
    start: float  # the earliest start backfill protects
    nodes: tuple[str, ...]


class Decision:
    """What one scheduling step decided.

    Waiting jobs are held column-wise and turned into ``KeepPending`` rows on
    first use: a step over 100,000 waiting jobs then builds three flat lists,
    not 100,000 objects, and a reader that only needs admissions pays nothing.
    """

    __slots__ = ("_pending", "_wait_ids", "_wait_infos", "_wait_positions", "admits",
                 "preempts", "reservations")

    def __init__(
        self,
        admits: tuple[Admit, ...],
        preempts: tuple[Preempt, ...],
        pending: tuple[KeepPending, ...] = (),
        reservations: tuple[Reservation, ...] = (),
        *,
        waiting: tuple[list[str], list[tuple[Reason, str]], list[int]] | None = None,
    ) -> None:
        self.admits = admits
        self.preempts = preempts
        self.reservations = reservations
        self._pending: tuple[KeepPending, ...] | None = pending if waiting is None else None
        self._wait_ids, self._wait_infos, self._wait_positions = waiting or ([], [], [])

    @property
    def pending(self) -> tuple[KeepPending, ...]:
        if self._pending is None:
            self._pending = tuple(
                KeepPending(job, info[0], pos, info[1])
                for job, info, pos in zip(self._wait_ids, self._wait_infos, self._wait_positions,
                                          strict=True)
            )
        return self._pending

    @property
    def waiting_count(self) -> int:
        return len(self._wait_ids) if self._pending is None else len(self._pending)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Decision):
            return NotImplemented
        return (self.admits, self.preempts, self.pending, self.reservations) == (
            other.admits, other.preempts, other.pending, other.reservations)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (f"Decision(admits={len(self.admits)}, preempts={len(self.preempts)}, "
                f"pending={self.waiting_count}, reservations={len(self.reservations)})")

    def journal_lines(self) -> list[str]:
        """A stable text form: the same inputs give the same lines, byte for byte."""
        lines = []
        for a in self.admits:
            workers = ";".join(f"{w.node}:{','.join(map(str, w.devices))}" for w in a.placement.workers)
            lines.append(f"admit {a.job_id} {a.placement.accelerator} borrow={int(a.borrowing)} {workers}")
        lines.extend(f"preempt {p.job_id} {p.reason.value} for={p.for_job}" for p in self.preempts)
        lines.extend(f"pending {p.job_id} {p.reason.value} pos={p.position}" for p in self.pending)
        return lines
