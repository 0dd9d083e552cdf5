"""What the engine tells, and asks, the rest of the program: its two plug-in hooks."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from scheduler.core import Decision
from scheduler.domain import JobRecord, JobSpec


class RuntimeEstimator(Protocol):
    """Learns how long a tenant's jobs run, for backfill and shortest-first ordering."""

    def estimate(self, spec: JobSpec) -> float | None: ...

    def observe(self, job: JobRecord) -> None:
        """A job finished; ``job.started_at`` and ``finished_at`` say how long it ran."""
        ...


class EngineObserver(Protocol):
    """Told of what the engine did, after it is recorded (metrics, logs, audit)."""

    def submitted(self, job: JobRecord) -> None: ...

    def stepped(self, decision: Decision, seconds: float, at: float) -> None: ...

    def changed(self, before: JobRecord, after: JobRecord) -> None:
        """A job's state changed (admitted, started, finished, preempted, requeued, cancelled)."""
        ...

    def repaired(self, repairs: Sequence[str]) -> None: ...
