"""Job specs, states and the transitions allowed between them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any


class JobKind(StrEnum):
    TRAINING = "training"
    FINETUNE = "finetune"
    INFERENCE = "inference"
    BATCH = "batch"


class JobState(StrEnum):
    PENDING = "pending"
    ADMITTED = "admitted"  # decided and recorded; the executor is starting it
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    PREEMPTED = "preempted"  # being stopped; returns to pending (requeued)

    @property
    def terminal(self) -> bool:
        return self in TERMINAL_STATES

    @property
    def holds_devices(self) -> bool:
        return self in (JobState.ADMITTED, JobState.RUNNING, JobState.PREEMPTED)


TERMINAL_STATES = frozenset({JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED})
#: ran to an end of its own: how long such a job ran is what runtime estimates learn from
FINISHED_STATES = frozenset({JobState.SUCCEEDED, JobState.FAILED})

TRANSITIONS: Mapping[JobState, frozenset[JobState]] = MappingProxyType(
    {
        JobState.PENDING: frozenset({JobState.ADMITTED, JobState.CANCELLED, JobState.FAILED}),
        # ... -> PENDING: its node was lost under it; it is requeued at once.
        JobState.ADMITTED: frozenset(
            {JobState.RUNNING, JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED,
             JobState.PREEMPTED, JobState.PENDING}
        ),
        JobState.RUNNING: frozenset(
            {JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED, JobState.PREEMPTED,
             JobState.PENDING}
        ),
        # A preempted job is requeued (pending again) once its devices are released,
        # unless it was cancelled or failed meanwhile.
        JobState.PREEMPTED: frozenset({JobState.PENDING, JobState.CANCELLED, JobState.FAILED}),
        JobState.SUCCEEDED: frozenset(),
        JobState.FAILED: frozenset(),
        JobState.CANCELLED: frozenset(),
    }
)


class TransitionError(ValueError):
    """A state change the table does not allow."""


def check_transition(current: JobState, new: JobState) -> None:
    if new not in TRANSITIONS[current]:
        raise TransitionError(f"a {current.value} job cannot become {new.value}")


@dataclass(frozen=True, slots=True)
class Resources:
    """What one worker of a gang needs. Empty ``accelerator_types``: any type."""

    accelerators: int
    accelerator_types: tuple[str, ...] = ()
    cpus: int = 0
    memory_bytes: int = 0


#: A job's name: letters, digits, ``.``, ``_`` and ``-``, starting and ending alphanumeric.
JOB_NAME_PATTERN = r"^[A-Za-z0-9]([A-Za-z0-9._-]{0,251}[A-Za-z0-9])?$"
#: The most workers one gang may have.
MAX_WORKERS = 4096
#: Runtimes (max, estimated) up to a year.
MAX_RUNTIME_S = 366 * 86_400
_UNSET: Any = object()


def accepts(*, default: Any = _UNSET, **limits: Any) -> dict[str, Any]:
    """A spec field's metadata: the bounds a submission must keep (``ge``, ``gt``, ``le``,
    ``min_length``, ``max_length``, ``pattern``) and, as ``default``, what a submission that
    leaves the field out means where ``JobSpec`` itself has no default. The API's field list
    is generated from these (``make generate``), so a new field is one edit here."""
    return {"accepts": {**limits, **({} if default is _UNSET else {"default": default})}}


@dataclass(frozen=True, slots=True)
class JobSpec:
    """What a tenant asked for. The tenant comes from the caller's token.

    The one list of a spec's fields: the store's codec and the API's views walk it
    (``spec_codec``), and the API's ``JobSpecFields`` is generated from it with the bounds
    that ``accepts`` gives each field."""

    tenant: str
    name: str = field(metadata=accepts(pattern=JOB_NAME_PATTERN, max_length=253))
    kind: JobKind = field(metadata=accepts(default=JobKind.TRAINING))
    workers: int = field(metadata=accepts(default=1, ge=1, le=MAX_WORKERS))
    resources: Resources
    priority: str = field(default="normal", metadata=accepts(min_length=1, max_length=63))
    preemptible: bool = True
    max_runtime_s: float | None = field(default=None, metadata=accepts(gt=0, le=MAX_RUNTIME_S))
    estimated_runtime_s: float | None = field(default=None, metadata=accepts(gt=0, le=MAX_RUNTIME_S))
    entrypoint: str = field(default="", metadata=accepts(max_length=16_384))
    runtime_env: Mapping[str, Any] = field(default_factory=dict)
    #: times a job lost to a node failure is requeued before it fails instead; None: always
    max_retries: int | None = field(default=None, metadata=accepts(ge=0, le=1000))

    @property
    def devices(self) -> int:
        return self.workers * self.resources.accelerators


@dataclass(frozen=True, slots=True)
class WorkerPlacement:
    """One worker (a Ray bundle): the node and the device indices on it."""

    node: str
    devices: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Placement:
    accelerator: str
    workers: tuple[WorkerPlacement, ...]
    #: devices in all, counted once: every scheduling step reads it for every running job
    devices: int = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "devices", sum(len(w.devices) for w in self.workers))

    @property
    def nodes(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(w.node for w in self.workers))


@dataclass(frozen=True, slots=True)
class JobRecord:
    """A job as the system knows it: its spec, where it is in its life, and why."""

    id: str
    seq: int
    spec: JobSpec
    state: JobState
    submitted_at: float
    admitted_at: float | None = None
    started_at: float | None = None
    finished_at: float | None = None
    placement: Placement | None = None
    borrowing: bool = False
    reason: str = ""  # why it waits, or why it ended
    detail: str = ""
    preemptions: int = 0  # times it went back to the queue: preempted, stopped or lost with a node
    node_losses: int = 0  # of which lost with a node
    #: seconds it ran in its attempts that ended (preempted, lost, finished): its attained
    #: service, without the attempt under way (that one runs from ``started_at``)
    ran_s: float = 0.0
