"""A store write that fails (database down) loses nothing and leaks no devices.

The executor's events are taken from it once (``poll``); if recording them fails,
the engine must neither believe what it could not record (a job finished in
memory, running in the store, its devices held forever) nor drop the events:
the next sync applies them once the store is back.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from scheduler.core import Policy
from scheduler.domain import JobKind, JobRecord, JobSpec, JobState, Resources
from scheduler.engine import Engine, ManualClock
from scheduler.executors.sleep import SleepExecutor
from scheduler.store.memory import MemoryStore
from tests.core.scenario import center

TENANTS = [{"name": "a", "guaranteed": "2P", "limit": "4P"}]


class FlakyStore(MemoryStore):
    """A memory store whose writes fail while ``down`` is set, as a database that is away."""

    down = False

    def update_jobs(self, jobs: Sequence[JobRecord]) -> None:
        if self.down:
            raise ConnectionError("the database is down")
        super().update_jobs(jobs)


def spec(runtime: float) -> JobSpec:
    return JobSpec("a", "j", JobKind.BATCH, 1, Resources(4), runtime_env={"sleep_s": runtime})


def test_events_polled_while_the_store_is_down_are_applied_once_it_is_back() -> None:
    c, tenants = center(("p", "gpu", 1, 2), tenants=TENANTS)
    clock = ManualClock(0.0)
    store = FlakyStore(tenants)
    executor = SleepExecutor(clock)
    engine = Engine(c, store, executor, clock, Policy())
    short, long_ = engine.submit(spec(10.0)), engine.submit(spec(1000.0))
    engine.step()
    clock.advance_to(1.0)
    engine.sync()
    assert {engine.jobs[j.id].state for j in (short, long_)} == {JobState.RUNNING}

    store.down = True
    clock.advance_to(20.0)  # the short job finishes while the store is down
    with pytest.raises(ConnectionError):
        engine.sync()
    # Nothing that was not recorded is believed: memory still agrees with the store.
    assert engine.jobs[short.id].state is store.jobs[short.id].state is JobState.RUNNING
    assert short.id in engine.holding

    store.down = False
    engine.sync()
    assert store.jobs[short.id].state is JobState.SUCCEEDED
    assert short.id not in engine.holding and short.id not in engine.jobs
    assert engine.usage()["a"] == {"gpu": 4}  # only the long job's devices
    assert engine.jobs[long_.id].state is JobState.RUNNING
