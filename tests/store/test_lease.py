"""The leader lease on a real PostgreSQL: one holder at a time, epochs, fenced writes."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import text

from scheduler.domain import JobRecord, JobState
from scheduler.store import SqlStore
from scheduler.store.lease import Deposed, Lease
from tests.pg_testing import PostgresServer


@pytest.fixture
def pg_store(postgres_server: PostgresServer) -> Iterator[SqlStore]:
    url = postgres_server.create_database(f"lease_{os.getpid()}_{time.monotonic_ns()}")
    s = SqlStore(url)
    yield s
    s.close()


def _job(seq: int) -> JobRecord:
    from scheduler.domain import JobKind, JobSpec, Resources

    spec = JobSpec("acme", f"j{seq}", JobKind.TRAINING, 1, Resources(accelerators=1))
    return JobRecord(f"j{seq}", seq, spec, JobState.PENDING, 1000.0 + seq)


def _count(store: SqlStore, table: str) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar() or 0)


def test_one_holder_at_a_time_and_each_takeover_bumps_the_epoch(pg_store: SqlStore) -> None:
    a = Lease(pg_store.engine, "a", "http://a", ttl_s=1.0)
    b = Lease(pg_store.engine, "b", "http://b", ttl_s=1.0)
    first = a.acquire()
    assert first is not None
    assert b.acquire() is None  # held and fresh
    assert a.renew(first)
    state = b.read()
    assert (state.holder, state.epoch, state.address, state.held) == ("a", first, "http://a", True)
    time.sleep(1.2)  # a stops renewing: the lease runs out
    second = b.acquire()
    assert second == first + 1
    assert not a.renew(first)  # a's term is over for good
    assert b.read().holder == "b"
    b.resign(second)  # a clean shutdown: the next replica need not wait for the term
    third = a.acquire()
    assert third == second + 1


def test_a_deposed_leaders_writes_roll_back_whole(pg_store: SqlStore) -> None:
    a = Lease(pg_store.engine, "a", None, ttl_s=1.0)
    epoch = a.acquire()
    assert epoch is not None
    pg_store.fence_to("a", epoch)
    pg_store.add_job(_job(1))  # ours: committed
    assert _count(pg_store, "jobs") == 1
    time.sleep(1.2)
    b = Lease(pg_store.engine, "b", None, ttl_s=5.0)
    assert b.acquire() == epoch + 1
    with pytest.raises(Deposed):
        pg_store.add_job(_job(2))
    with pytest.raises(Deposed):
        pg_store.update_jobs([_job(1)])
    with pytest.raises(Deposed):
        pg_store.audit("a", "x", "y")
    assert _count(pg_store, "jobs") == 1 and _count(pg_store, "job_events") == 1
    assert _count(pg_store, "audit") == 0
    with pg_store.engine.connect() as conn:  # the event says which leader recorded it
        assert conn.execute(text("SELECT leader_epoch FROM job_events")).scalar() == epoch


def test_a_follower_store_refuses_every_write(pg_store: SqlStore) -> None:
    pg_store.refuse_writes("a follower")
    with pytest.raises(Deposed, match="a follower"):
        pg_store.add_job(_job(1))
    assert _count(pg_store, "jobs") == 0


def test_the_lease_needs_postgresql() -> None:
    s = SqlStore("sqlite://")
    try:
        with pytest.raises(ValueError, match="PostgreSQL"):
            Lease(s.engine, "a", None, 1.0)
    finally:
        s.close()
