"""What the engine needs of the world: a store to record in, an executor to act through."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol, runtime_checkable

from scheduler.domain import Center, Isolation, JobRecord, NodeState, Tenant


class EventKind(StrEnum):
    STARTED = "started"  # the job's processes run
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    STOPPED = "stopped"  # stopped on request (cancel, preemption); devices released
    LOST = "lost"  # its node went away; devices released


@dataclass(frozen=True, slots=True)
class ExecutorEvent:
    job_id: str
    kind: EventKind
    at: float
    detail: str = ""


class Executor(Protocol):
    """Runs admitted jobs. Every call is idempotent per job id: a retry never starts a job twice."""

    def start(self, job: JobRecord, grace_s: float) -> None:
        """Run it; ``grace_s``: SIGTERM to SIGKILL should it be stopped (the job's, its tenant's or
        the center's), for executors whose runtime needs it up front."""
        ...

    def stop(self, job_id: str, grace_s: float) -> None: ...

    def poll(self) -> Sequence[ExecutorEvent]:
        """Events since the last poll, in the order they happened."""
        ...

    def known(self) -> Mapping[str, EventKind]:
        """For reconcile after a restart: the jobs it has, and their last event."""
        ...


# -- what some executors can do besides (checked with isinstance on ``unwrapped``) --


@runtime_checkable
class KnowsCenter(Protocol):
    """Attached to a cluster: the center is the cluster's nodes as the executor found them."""

    @property
    def center(self) -> Center | None: ...


@runtime_checkable
class Adopts(Protocol):
    """After a restart, told the live jobs so that it knows which run of each is current."""

    def adopt(self, jobs: Iterable[JobRecord]) -> None: ...


@runtime_checkable
class Closes(Protocol):
    """Holds something to release when the service stops (an embedded cluster head)."""

    def close(self) -> None: ...


@runtime_checkable
class LosesNodes(Protocol):
    """Can tell nodes that went away, for the service to mark down."""

    def lost_nodes(self) -> Sequence[str]: ...


@runtime_checkable
class KnowsNextEvent(Protocol):
    """Knows when its next event is due (the sleep executor), so the loop need not poll."""

    def next_event_at(self) -> float | None: ...


@runtime_checkable
class CarriesJobCredentials(Protocol):
    """Puts what ``job_credentials`` gives into each starting job's environment (the job's own
    credential, to report its checkpoints); the service sets the hook."""

    job_credentials: Callable[[JobRecord], dict[str, str]] | None


@runtime_checkable
class ReportsCheckpoints(Protocol):
    """Knows when running jobs checkpointed, from outside the API (an isolated job has no
    network: it touches a file the executor watches)."""

    def checkpoints(self) -> Mapping[str, float]:
        """Per running job id: when it last checkpointed (epoch seconds)."""
        ...


@runtime_checkable
class SeparatesTenants(Protocol):
    """Runs some tenants' jobs apart (the Ray executor: isolated tenants); asks the engine,
    through ``isolation_of``, how each tenant runs."""

    def bind_tenants(self, isolation_of: Callable[[str], Isolation | None]) -> None: ...


@runtime_checkable
class OffersLogs(Protocol):
    """Offers a job's output."""

    def logs(self, job_id: str) -> str: ...


@runtime_checkable
class Wraps(Protocol):
    """A decorator of another executor (metrics): its capabilities are the inner one's."""

    @property
    def inner(self) -> object: ...


def unwrapped(executor: object) -> object:
    """The executor under any wrappers: whose capabilities to check with ``isinstance``
    (a wrapper forwards what it does not instrument, and Python 3.12's ``isinstance``
    on a protocol does not see through ``__getattr__``)."""
    while isinstance(executor, Wraps):
        executor = executor.inner
    return executor


@dataclass(frozen=True)
class StoredState:
    """What the store gives back on start: enough to rebuild the engine exactly."""

    tenants: Mapping[str, Tenant]
    node_states: Mapping[str, NodeState]
    jobs: Sequence[JobRecord]  # every job not in a terminal state
    next_seq: int
    usage_history: Mapping[str, float] = field(default_factory=dict)
    history_at: float | None = None
    #: the most recently finished jobs (succeeded or failed, at most ``RECENT_FINISHED``),
    #: in the order they finished: what runtime estimates learned before a restart resume from
    finished: Sequence[JobRecord] = ()


RECENT_FINISHED = 1000

#: Grace for a job being stopped (SIGTERM to SIGKILL, s), when neither its spec nor its
#: tenant says: the executor port's default.
DEFAULT_GRACE_S = 30.0


class Store(Protocol):
    """Persistence. Each method commits before it returns (record, then act)."""

    def load(self) -> StoredState: ...

    def add_job(self, job: JobRecord) -> None: ...

    def update_jobs(self, jobs: Sequence[JobRecord]) -> None:
        """Write these jobs' new states in one transaction."""
        ...

    def put_tenant(self, tenant: Tenant) -> None: ...

    def delete_tenant(self, name: str) -> None: ...

    def set_node_state(self, name: str, state: NodeState) -> None: ...

    def save_usage_history(self, history: Mapping[str, float], at: float) -> None: ...
