"""The SQL store: what is written comes back, on SQLite and on PostgreSQL."""

from __future__ import annotations

import json
import threading
from concurrent.futures import wait
from dataclasses import replace

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from scheduler.domain import (
    Isolation,
    JobKind,
    JobRecord,
    JobSpec,
    JobState,
    NodeState,
    Placement,
    Quota,
    Resources,
    Tenant,
    WorkerPlacement,
)
from scheduler.engine.clock import ManualClock
from scheduler.store import SqlStore, TokenInfo, migrate
from scheduler.store.models import Base


def spec(tenant: str = "acme", name: str = "job", devices: int = 8, workers: int = 1,
         kind: JobKind = JobKind.TRAINING) -> JobSpec:
    return JobSpec(tenant, name, kind, workers, Resources(devices, ("a800",), 16, 64 << 30),
                   priority="normal", max_runtime_s=3600, estimated_runtime_s=600,
                   entrypoint="python train.py", runtime_env={"pip": ["torch"], "sleep_s": 5})


def job(seq: int, tenant: str = "acme", state: JobState = JobState.PENDING, **kw: object) -> JobRecord:
    return JobRecord(f"j{seq}", seq, spec(tenant, f"job-{seq}"), state, 100.0 + seq, **kw)  # type: ignore[arg-type]


PLACE = Placement("a800", (WorkerPlacement("a800-r01-n01", (0, 1, 2, 3, 4, 5, 6, 7)),))


def test_migrations_create_exactly_the_models(store: SqlStore) -> None:
    assert migrate.current(store.engine) == migrate.head()
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


def test_a_database_of_the_first_schema_upgrades_keeping_its_jobs(db_url: str, clock: ManualClock) -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(db_url)
    migrate.upgrade(engine, "0001")
    with engine.begin() as conn:  # a job written by the first release
        conn.execute(sa.text(
            "INSERT INTO jobs (id, seq, tenant, name, kind, state, spec, submitted_at, borrowing, reason, detail,"
            " preemptions) VALUES ('old', 1, 'acme', 'job-1', 'training', 'pending', :spec, 101.0, false, '', '', 2)"),
            {"spec": json.dumps({"name": "job-1", "kind": "training", "workers": 1,
                                 "resources": {"accelerators": 8}})})
    engine.dispose()
    s = SqlStore(db_url, clock=clock)
    [old] = s.load().jobs
    s.close()
    assert (old.id, old.preemptions, old.node_losses, old.spec.max_retries) == ("old", 2, 0, None)


def test_an_upgrade_gives_older_jobs_what_they_ran_from_the_ledger(db_url: str, clock: ManualClock) -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(db_url)
    migrate.upgrade(engine, "0004")
    spec_json = json.dumps({"name": "j", "kind": "training", "workers": 1, "resources": {"accelerators": 8}})
    with engine.begin() as conn:  # preempted once, then ran to its end; running; never ran
        for job_id, seq, state in (("twice", 1, "succeeded"), ("now", 2, "running"), ("never", 3, "cancelled")):
            conn.execute(sa.text(
                "INSERT INTO jobs (id, seq, tenant, name, kind, state, spec, submitted_at, borrowing, reason,"
                " detail, preemptions, node_losses) VALUES (:id, :seq, 'acme', 'j', 'training', :state, :spec,"
                " 100.0, false, '', '', 0, 0)"), {"id": job_id, "seq": seq, "state": state, "spec": spec_json})
        for job_id, start, end in (("twice", 110.0, 150.0), ("twice", 200.0, 230.5), ("now", 120.0, None)):
            conn.execute(sa.text(
                "INSERT INTO job_runs (job_id, tenant, kind, accelerator, devices, started_at, ended_at)"
                " VALUES (:id, 'acme', 'training', 'a800', 8, :start, :end)"),
                {"id": job_id, "start": start, "end": end})
    engine.dispose()
    s = SqlStore(db_url, clock=clock)
    ran = {j: s.get_job(j).ran_s for j in ("twice", "now", "never")}  # type: ignore[union-attr]
    s.close()
    assert ran == {"twice": 70.5, "now": 0.0, "never": 0.0}  # the attempt under way is not counted


def test_reopening_keeps_everything_and_does_not_migrate_twice(db_url: str, clock: ManualClock) -> None:
    s = SqlStore(db_url, clock=clock)
    s.put_tenant(Tenant("acme", Quota(10, 20), 2.0))
    s.put_tenant(Tenant("patient", Quota(0, 20), 1.0, grace_period_s=300.0))
    s.put_tenant(Tenant("lab", Quota(0, 20), isolation=Isolation.SHARED))
    s.add_job(job(1))
    s.close()
    s = SqlStore(db_url, clock=clock)
    state = s.load()
    s.close()
    assert state.tenants["acme"] == Tenant("acme", Quota(10, 20), 2.0)
    assert state.tenants["patient"].grace_period_s == 300.0
    assert state.tenants["acme"].isolation is Isolation.ISOLATED and state.tenants["lab"].isolation is Isolation.SHARED
    assert [j.id for j in state.jobs] == ["j1"]
    assert state.next_seq == 2


def test_a_job_round_trips_with_every_field(store: SqlStore) -> None:
    j = job(7, state=JobState.PENDING)
    store.add_job(j)
    assert store.get_job("j7") == j
    running = replace(j, state=JobState.ADMITTED, admitted_at=200.0, placement=PLACE, borrowing=True)
    store.update_jobs([running])
    running = replace(running, state=JobState.RUNNING, started_at=201.0, ran_s=35.25)
    store.update_jobs([running])
    assert store.get_job("j7") == running
    assert [e["state"] for e in store.job_events("j7")] == ["pending", "admitted", "running"]
    assert store.job_events("j7")[1]["placement"]["workers"][0]["node"] == "a800-r01-n01"


def test_load_returns_live_jobs_in_order_and_the_next_sequence(store: SqlStore) -> None:
    for seq in (3, 1, 2):
        store.add_job(job(seq))
    store.update_jobs([replace(job(2), state=JobState.CANCELLED, finished_at=150.0, reason="Cancelled")])
    state = store.load()
    assert [j.id for j in state.jobs] == ["j1", "j3"]
    assert state.next_seq == 4


def test_load_returns_the_most_recently_finished_jobs_in_the_order_they_finished(
        store: SqlStore, monkeypatch: pytest.MonkeyPatch) -> None:
    import scheduler.store.sql.state as sql

    monkeypatch.setattr(sql, "RECENT_FINISHED", 3)
    ends = {1: (JobState.SUCCEEDED, 500.0), 2: (JobState.FAILED, 300.0), 3: (JobState.SUCCEEDED, 400.0),
            4: (JobState.CANCELLED, 600.0), 5: (JobState.SUCCEEDED, 200.0), 6: (JobState.RUNNING, None)}
    for seq, (state, end) in ends.items():
        store.add_job(job(seq))
        store.update_jobs([replace(job(seq), state=state, started_at=150.0, finished_at=end)])
    finished = store.load().finished
    # j5 finished first but is not among the 3 most recent; a cancelled job ran no course
    assert [(j.id, j.finished_at) for j in finished] == [("j2", 300.0), ("j3", 400.0), ("j1", 500.0)]
    assert finished[0].state is JobState.FAILED


def test_tenants_and_their_quota_history_name_who_changed_them(store: SqlStore, clock: ManualClock) -> None:
    with store.acting_as("alice"):
        store.put_tenant(Tenant("acme", Quota(10, 20, 5, {"a800": 8}), 1.0))
    clock.advance_to(2000.0)
    with store.acting_as("bob"):
        store.put_tenant(Tenant("acme", Quota(30, 40), 2.0))
    assert store.load().tenants["acme"] == Tenant("acme", Quota(30, 40), 2.0)
    history = store.quota_history("acme")
    assert [(h["actor"], h["guaranteed"], h["at"]) for h in history] == [("bob", 30, 2000.0), ("alice", 10, 1000.0)]
    assert history[1]["caps"] == {"a800": 8} and history[1]["lending_limit"] == 5
    store.delete_tenant("acme")
    assert "acme" not in store.load().tenants
    assert store.quota_history("acme")[0]["action"] == "delete"


def test_tokens_keep_only_a_hash_and_can_be_revoked(store: SqlStore) -> None:
    info = TokenInfo("abc123", "acme", "ci", "f" * 64, 1.0, "admin", None)
    store.add_token(info)
    assert store.tokens("acme") == [info]
    assert store.revoke_token("abc123") is True
    assert store.revoke_token("abc123") is False  # already revoked
    assert store.tokens()[0].revoked_at == 1000.0
    with store.engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT * FROM tokens").fetchall()
    assert all("aicc_" not in str(v) for row in rows for v in row)


def test_node_states_and_usage_history(store: SqlStore) -> None:
    store.set_node_state("n1", NodeState.CORDONED)
    store.set_node_state("n2", NodeState.CORDONED)
    store.set_node_state("n1", NodeState.READY)
    store.save_usage_history({"acme": 0.25, "beta": 0.5}, 1234.5)
    state = store.load()
    assert state.node_states == {"n1": NodeState.READY, "n2": NodeState.CORDONED}
    assert state.usage_history == {"acme": 0.25, "beta": 0.5}
    assert state.history_at == 1234.5


def test_jobs_are_listed_by_tenant_state_and_kind_in_pages(store: SqlStore) -> None:
    for seq in range(1, 11):
        store.add_job(job(seq, tenant="acme" if seq % 2 else "beta"))
    store.update_jobs([replace(job(3), state=JobState.CANCELLED, finished_at=1.0)])
    page1 = store.list_jobs(tenant="acme", limit=2)
    assert [j.id for j in page1] == ["j1", "j3"]
    page2 = store.list_jobs(tenant="acme", after_seq=page1[-1].seq, limit=10)
    assert [j.id for j in page2] == ["j5", "j7", "j9"]
    assert [j.id for j in store.list_jobs(states=["cancelled"])] == ["j3"]
    assert store.list_jobs(kinds=["inference"]) == []
    assert store.count_jobs(tenant="beta") == 5


def test_an_idempotency_key_is_unique_per_tenant(store: SqlStore) -> None:
    store.add_job_deferred(job(1), "key-1", "a" * 64).result()
    store.add_job_deferred(job(2, tenant="beta"), "key-1", "b" * 64).result()  # another tenant: fine
    assert store.find_idempotent("acme", "key-1") == ("j1", "a" * 64)
    with pytest.raises(Exception):  # noqa: B017 - the driver's IntegrityError
        store.add_job_deferred(job(3), "key-1", "c" * 64).result()
    assert store.get_job("j3") is None
    store.add_job(job(4))  # one bad write fails alone; the writer goes on


def test_concurrent_submissions_share_commits(store: SqlStore) -> None:
    futures = []
    lock = threading.Lock()

    def submit(base: int) -> None:
        for i in range(50):
            f = store.add_job_deferred(job(base + i))
            with lock:
                futures.append(f)

    threads = [threading.Thread(target=submit, args=(1 + 100 * t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wait(futures)
    assert all(f.exception() is None for f in futures)
    assert store.count_jobs() == 400
    assert store.writer.batches < store.writer.writes  # group commit happened


def test_runs_record_what_the_ledger_bills(store: SqlStore, clock: ManualClock) -> None:
    j = job(1)
    store.add_job(j)
    j = replace(j, state=JobState.ADMITTED, admitted_at=100.0, placement=PLACE)
    store.update_jobs([j])
    j = replace(j, state=JobState.RUNNING, started_at=110.0)
    store.update_jobs([j])
    j = replace(j, state=JobState.PREEMPTED, reason="Reclaim")
    store.update_jobs([j])
    clock.advance_to(1500.0)  # requeued when its stop was seen: the run ends then
    j = replace(j, state=JobState.PENDING, placement=None, admitted_at=None, started_at=None, preemptions=1)
    store.update_jobs([j])
    j = replace(j, state=JobState.ADMITTED, admitted_at=1600.0, placement=PLACE)
    store.update_jobs([j])
    j = replace(j, state=JobState.RUNNING, started_at=1601.0)
    store.update_jobs([j])
    runs = store.runs(0.0, 10_000.0)
    assert [(r.started_at, r.ended_at, r.devices, r.accelerator) for r in runs] == [
        (110.0, 1500.0, 8, "a800"), (1601.0, None, 8, "a800")]
    store.update_jobs([replace(j, state=JobState.SUCCEEDED, finished_at=1700.0)])
    assert store.runs(1650.0, 10_000.0)[0].ended_at == 1700.0
    assert store.runs(1800.0, 10_000.0) == []


def test_audit_log_pages(store: SqlStore) -> None:
    for i in range(5):
        store.audit("admin", "quota.set", f"t{i}", {"i": i})
    first = store.audit_log(limit=2)
    rest = store.audit_log(after_id=first[-1]["id"], limit=10)
    assert [r["target"] for r in first + rest] == ["t0", "t1", "t2", "t3", "t4"]
    assert rest[0]["detail"] == {"i": 2}
