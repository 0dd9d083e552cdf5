"""Split brain, in one process where every step can be held: a leader whose lease ran out
while its loop was stuck (the lock held, its elector frozen) and that then goes on with a
stale view tries to record and to act, and the database and the executor guard refuse both.

(``test_ha.py`` does the same with SIGSTOP on real processes; there the paused leader
usually notices its expired term before its loop steps, so this one makes it step.)
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from scheduler.domain import JobKind, JobRecord, JobSpec, Resources
from scheduler.engine.clock import SystemClock
from scheduler.executors.sleep import SleepExecutor
from scheduler.service import Service, Settings
from scheduler.store import SqlStore
from tests.centers import small_center
from tests.pg_testing import PostgresServer


class Recording(SleepExecutor):
    """The sleep executor, noting when each start reached it."""

    def __init__(self) -> None:
        super().__init__(SystemClock(), outlives_service=True)
        self.starts: list[tuple[float, str]] = []

    def start(self, job: JobRecord, grace_s: float = 0.0) -> None:
        self.starts.append((time.monotonic(), job.id))
        super().start(job, grace_s)


def replica(url: str, tmp: Path, name: str) -> tuple[Service, Recording]:
    settings = Settings(ha=True, db_url=url, data_dir=tmp / name, executor="sleep", replica_name=name,
                        advertise_url=f"http://{name}.invalid", admin_token="x" * 32,
                        lease_ttl_s=2.0, lease_renew_s=0.5, lease_retry_s=0.2, follower_refresh_s=0.5,
                        step_interval_s=0.2)
    executor = Recording()
    clock = SystemClock()
    service = Service(settings, SqlStore(url, clock=clock), small_center(), executor, clock)
    return service, executor


@pytest.fixture
def url(postgres_server: PostgresServer) -> str:
    return postgres_server.create_database(f"fence_{os.getpid()}_{time.monotonic_ns()}")


@pytest.fixture
def services() -> Iterator[list[Service]]:
    made: list[Service] = []
    yield made
    for s in made:
        s.stop()
        s.store.close()


def wait(cond: Any, timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.05)


def test_a_stale_leader_that_steps_records_nothing_and_starts_nothing(
        url: str, tmp_path: Path, services: list[Service]) -> None:
    a, a_exec = replica(url, tmp_path, "a")
    services.append(a)
    deposed: list[str] = []
    a.on_deposed = deposed.append
    a.start()
    wait(lambda: a.role == "leader")
    assert a.elector is not None
    epoch_a = a.elector.epoch
    for i in range(5):  # acme may hold 20 devices: two run, three wait
        spec = JobSpec("acme", f"job-{i}", JobKind.TRAINING, 1, Resources(8, ("a800",)),
                       runtime_env={"sleep_s": 1.0})
        _, done, _ = a.submit(spec)
        done.result(10)
    wait(lambda: len(a_exec.starts) == 2)

    # a's elector freezes (as in a pause, or a cut connection) ...
    frozen = threading.Event()
    renew = a.elector.lease.renew

    def stuck(epoch: int) -> bool:
        frozen.wait()
        return renew(epoch)

    a.elector.lease.renew = stuck  # type: ignore[method-assign]
    time.sleep(0.6)  # (a renewal under way when it froze ends first)
    # ... and its loop is held at the engine's lock, past its last check of its term.
    a.lock.acquire()
    a.kick()
    time.sleep(0.2)
    b, b_exec = replica(url, tmp_path, "b")
    services.append(b)
    b.start()
    wait(lambda: b.role == "leader")
    took_over = time.monotonic()
    assert b.elector is not None and b.elector.epoch == (epoch_a or 0) + 1
    with b.store.engine.connect() as conn:
        last = conn.execute(text("SELECT max(id) FROM job_events")).scalar()
    errors = a.loop_errors
    a.lock.release()  # a's loop steps with its stale engine: jobs it thinks ended, a queue to admit
    wait(lambda: a.loop_errors > errors or not a._thread or not a._thread.is_alive(), 5)
    time.sleep(1.0)
    frozen.set()  # a's elector wakes: the lease is b's, a is deposed
    wait(lambda: bool(deposed))
    assert a.role == "deposed" and len(deposed) == 1  # (by its loop or its elector, whichever saw it first)
    assert [j for at, j in a_exec.starts if at >= took_over] == []  # started nothing
    with b.store.engine.connect() as conn:
        stale = conn.execute(text("SELECT count(*) FROM job_events WHERE id > :last AND leader_epoch = :e"),
                             {"last": last, "e": epoch_a}).scalar()
    assert stale == 0  # recorded nothing
    # b runs the rest, each job once
    wait(lambda: b.store.count_jobs(states=["succeeded"]) == 5, 30)
    with b.store.engine.connect() as conn:
        runs = conn.execute(text("SELECT job_id, count(*) FROM job_runs GROUP BY job_id")).all()
    assert len(runs) == 5 and all(n == 1 for _, n in runs), runs
    assert len(b_exec.starts) == 3  # b started only what a had left waiting
