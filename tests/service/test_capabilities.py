"""Executor capabilities are protocols checked with isinstance, seen through wrappers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from scheduler.domain import JobRecord
from scheduler.engine.clock import ManualClock
from scheduler.engine.ports import (
    Adopts,
    Closes,
    EventKind,
    Executor,
    ExecutorEvent,
    KnowsCenter,
    KnowsNextEvent,
    LosesNodes,
    OffersLogs,
    ReportsCheckpoints,
    SeparatesTenants,
    unwrapped,
)
from scheduler.executors.sleep import SleepExecutor


class Counting:
    """A wrapper as the monitor's: instruments the port, forwards the rest."""

    def __init__(self, inner: Executor) -> None:
        self.inner = inner

    def start(self, job: JobRecord, grace_s: float) -> None:
        self.inner.start(job, grace_s)

    def stop(self, job_id: str, grace_s: float) -> None:
        self.inner.stop(job_id, grace_s)

    def poll(self) -> Sequence[ExecutorEvent]:
        return self.inner.poll()

    def known(self) -> Mapping[str, EventKind]:
        return self.inner.known()

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)


def test_the_sleep_executor_knows_its_next_event_and_nothing_else() -> None:
    sleep = SleepExecutor(ManualClock(0.0))
    assert isinstance(sleep, KnowsNextEvent)
    assert isinstance(sleep, Adopts)  # a new leader's executor adopts the running jobs (outlives_service)
    for capability in (Closes, KnowsCenter, LosesNodes, OffersLogs, ReportsCheckpoints, SeparatesTenants):
        assert not isinstance(sleep, capability), capability


def test_capabilities_are_seen_through_a_wrapper() -> None:
    sleep = SleepExecutor(ManualClock(0.0))
    wrapped = Counting(Counting(sleep))
    assert unwrapped(wrapped) is sleep
    assert isinstance(unwrapped(wrapped), KnowsNextEvent)


def test_the_ray_executor_has_the_capabilities_the_service_uses() -> None:
    from scheduler.executors.ray.executor import RayExecutor

    for capability, method in ((Adopts, "adopt"), (Closes, "close"), (LosesNodes, "lost_nodes"),
                               (OffersLogs, "logs"), (ReportsCheckpoints, "checkpoints"),
                               (SeparatesTenants, "bind_tenants")):
        assert method in vars(capability) and callable(getattr(RayExecutor, method)), capability
