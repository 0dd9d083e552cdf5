"""The use cases without HTTP: bootstrap, the loop, executors by name, `aicc serve` errors."""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType

import pytest
from typer.testing import CliRunner

from scheduler.centerfile import build_center
from scheduler.cli import build
from scheduler.domain import JobKind, JobSpec, JobState, Quota, Resources, Tenant
from scheduler.domain.errors import Conflict, Invalid, NotFound
from scheduler.engine.clock import SystemClock
from scheduler.executors.sleep import SleepExecutor
from scheduler.service import ExecutorUnavailable, Service, Settings, make_executor
from scheduler.store import SqlStore
from tests.centers import CENTER, small_center


def make(tmp_path: Path, **settings: object) -> Service:
    s = Settings(data_dir=tmp_path, step_interval_s=0.2, min_step_gap_s=0.0, **settings)  # type: ignore[arg-type]
    clock = SystemClock()
    return Service(s, SqlStore(s.resolved_db_url(), clock=clock), small_center(), SleepExecutor(clock), clock)


def spec(name: str = "j", devices: int = 8, sleep_s: float = 0.2, tenant: str = "acme") -> JobSpec:
    return JobSpec(tenant, name, JobKind.TRAINING, 1, Resources(devices, ("a800",)),
                   runtime_env={"sleep_s": sleep_s})


def test_first_start_creates_the_center_files_tenants_once(tmp_path: Path) -> None:
    svc = make(tmp_path)
    assert [t.name for t in svc.tenants()] == ["acme", "beta"]
    svc.delete_tenant("admin", "beta")
    svc.store.close()
    again = make(tmp_path)  # not a first start: what was deleted stays deleted
    assert [t.name for t in again.tenants()] == ["acme"]
    history = again.quota_history("acme")
    assert history[-1]["actor"] == "bootstrap"
    again.store.close()


def test_generated_admin_token_is_written_0600_and_works(tmp_path: Path) -> None:
    svc = make(tmp_path)
    token = svc.generated_admin_token
    assert token is not None
    path = tmp_path / "admin-token"
    assert path.read_text().strip() == token and path.stat().st_mode & 0o777 == 0o600
    p = svc.authenticate(token)
    assert p is not None and p.is_admin
    assert svc.authenticate(token + "x") is None
    svc.store.close()
    again = make(tmp_path)
    assert again.generated_admin_token is None  # only on first start
    assert again.authenticate(token) is not None
    again.store.close()


def test_admin_token_from_settings_is_not_stored(tmp_path: Path) -> None:
    svc = make(tmp_path, admin_token="from-env")
    assert svc.generated_admin_token is None and not (tmp_path / "admin-token").exists()
    assert svc.authenticate("from-env") is not None
    assert svc.store.tokens() == []
    svc.store.close()


def test_the_loop_admits_runs_and_finishes_jobs_by_itself(tmp_path: Path) -> None:
    svc = make(tmp_path)
    svc.start()
    try:
        jobs = []
        for i in range(3):
            job, future, created = svc.submit(spec(f"j{i}"))
            future.result(5)
            assert created
            jobs.append(job.id)
        deadline = time.monotonic() + 10
        while any(svc.get_job(j).job.state is not JobState.SUCCEEDED for j in jobs):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        done = svc.get_job(jobs[0]).job
        assert done.started_at is not None and done.finished_at is not None
        assert done.finished_at - done.started_at == pytest.approx(0.2, abs=0.05)
    finally:
        svc.stop()
        svc.store.close()


def test_a_tenant_never_sees_another_tenants_job(tmp_path: Path) -> None:
    svc = make(tmp_path)
    job, future, _ = svc.submit(spec())
    future.result(5)
    with pytest.raises(NotFound) as err:
        svc.get_job(job.id, tenant="beta")
    assert err.value.code == "job-not-found"
    svc.store.close()


def test_quota_checks(tmp_path: Path) -> None:
    svc = make(tmp_path)
    with pytest.raises(Invalid) as err:
        svc.create_tenant("admin", Tenant("gamma", Quota(5_000_000, 5_000_000)))
    assert err.value.code == "overcommitted"
    svc.create_tenant("admin", Tenant("gamma", Quota(5_000_000, 5_000_000)), allow_overcommit=True)
    with pytest.raises(Conflict) as err:
        svc.create_tenant("admin", Tenant("gamma", Quota(0, 0)))
    assert err.value.code == "tenant-exists"
    svc.store.close()


def test_executors_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = SystemClock()
    assert isinstance(make_executor("sleep", clock), SleepExecutor)
    monkeypatch.setenv("RAY_ADDRESS", "ray://nowhere:10001")  # a bad address: refused before any Ray call
    with pytest.raises(ExecutorUnavailable, match="RAY_ADDRESS must be the GCS address"):
        make_executor("ray", clock)
    with pytest.raises(ExecutorUnavailable, match="unknown executor"):
        make_executor("k8s", clock)


def test_serve_with_ray_fails_in_one_clear_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAY_ADDRESS", "ray://nowhere:10001")
    result = CliRunner().invoke(build(), ["serve", "--executor", "ray", "--data-dir", str(tmp_path)])
    assert result.exit_code != 0
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert lines == ["error: ray: RAY_ADDRESS must be the GCS address (host:port), not a Ray Client ray:// URL"]


def test_concurrent_submissions_during_steps_each_land_once(tmp_path: Path) -> None:
    import threading

    svc = make(tmp_path)
    svc.start()
    ids: list[str] = []
    lock = threading.Lock()

    def submit(n: int) -> None:
        for i in range(40):
            job, future, _ = svc.submit(spec(f"t{n}-{i}", devices=1, sleep_s=0.05))
            future.result(10)
            with lock:
                ids.append(job.id)

    try:
        threads = [threading.Thread(target=submit, args=(n,)) for n in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(ids) == len(set(ids)) == 240
        deadline = time.monotonic() + 20
        while svc.store.count_jobs(states=["succeeded"]) < 240:
            assert time.monotonic() < deadline, svc.store.count_jobs(states=["succeeded"])
            time.sleep(0.1)
        seqs = [j.seq for j in svc.store.list_jobs(limit=1000)]
        assert len(seqs) == 240 and seqs == sorted(set(seqs))  # one record each, in order
        assert svc.loop_errors == 0
    finally:
        svc.stop()
        svc.store.close()


def test_nodes_the_executor_lost_are_marked_down_and_take_nothing_new(tmp_path: Path) -> None:
    class LosingExecutor(SleepExecutor):
        lost: tuple[str, ...] = ()

        def lost_nodes(self) -> list[str]:
            return list(self.lost)

    s = Settings(data_dir=tmp_path, step_interval_s=0.2, min_step_gap_s=0.0)
    clock = SystemClock()
    executor = LosingExecutor(clock)
    svc = Service(s, SqlStore(s.resolved_db_url(), clock=clock), small_center(), executor, clock)
    first = svc.engine.center.nodes[0].name
    executor.lost = (first,)
    svc.start()
    try:
        job, future, _ = svc.submit(spec("after-loss", sleep_s=5.0))
        future.result(5)
        deadline = time.monotonic() + 10
        while svc.get_job(job.id).job.placement is None:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        from scheduler.domain import NodeState
        assert svc.engine.center.node(first).state is NodeState.DOWN
        assert first not in svc.get_job(job.id).job.placement.nodes
        assert svc.store.load().node_states[first] is NodeState.DOWN  # recorded, survives a restart
    finally:
        svc.stop()
        svc.store.close()


def test_the_center_files_policy_is_the_one_the_service_runs(tmp_path: Path) -> None:
    # acme is guaranteed 10 devices (limit 20): a 16-device job borrows, unless the center says not to.
    center = build_center({**CENTER, "policy": {"borrowing": False, "min_runtime_s": 600}})
    s = Settings(data_dir=tmp_path, step_interval_s=0.2, min_step_gap_s=0.0)  # type: ignore[call-arg]
    clock = SystemClock()
    svc = Service(s, SqlStore(s.resolved_db_url(), clock=clock), center, SleepExecutor(clock), clock)
    assert (svc.engine.policy.borrowing, svc.engine.policy.min_runtime_s) == (False, 600.0)
    assert svc.engine.estimator is None  # submission order: no runtimes to learn
    svc.start()
    try:
        job, future, _ = svc.submit(JobSpec("acme", "big", JobKind.TRAINING, 2, Resources(8, ("a800",)),
                                            runtime_env={"sleep_s": 60}))
        future.result(5)
        deadline = time.monotonic() + 5
        while (view := svc.get_job(job.id)).reason != "QuotaExhausted":
            assert time.monotonic() < deadline, view
            time.sleep(0.05)
        assert view.job.state is JobState.PENDING and "guaranteed quota" in view.detail
    finally:
        svc.stop()
        svc.store.close()


def test_a_center_ordering_shortest_first_learns_runtimes_from_finished_jobs_and_keeps_them_on_restart(
        tmp_path: Path) -> None:
    center = build_center({**CENTER, "policy": {"shortest_first": True}})
    s = Settings(data_dir=tmp_path, step_interval_s=0.2, min_step_gap_s=0.0)  # type: ignore[call-arg]
    clock = SystemClock()

    def service() -> Service:
        return Service(s, SqlStore(s.resolved_db_url(), clock=clock), center, SleepExecutor(clock), clock)

    svc = service()
    estimator = svc.engine.estimator
    assert estimator is not None  # (a center that keeps submission order learns nothing: see above)
    assert estimator.estimate(spec("first", sleep_s=0.3)) == 3600.0  # nothing learned yet
    svc.start()
    try:
        jobs = []
        for i in range(2):
            job, future, _ = svc.submit(spec(f"s{i}", sleep_s=0.3))
            future.result(5)
            jobs.append(job.id)
        deadline = time.monotonic() + 10
        while any(svc.get_job(j).job.state is not JobState.SUCCEEDED for j in jobs):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert estimator.estimate(spec("next", sleep_s=0.3)) == pytest.approx(0.3, abs=0.1)
    finally:
        svc.stop()
        svc.store.close()
    restarted = service()
    try:
        assert restarted.engine.estimator is not None
        assert restarted.engine.estimator.estimate(spec("after", sleep_s=0.3)) == pytest.approx(0.3, abs=0.1)
    finally:
        restarted.store.close()


def test_checkpoints_the_executor_saw_make_their_job_a_cheaper_victim(tmp_path: Path) -> None:
    """An isolated job cannot call the API: the executor reads its checkpoint file, and the loop
    hands what it saw to the engine (a later report wins; an earlier one changes nothing)."""
    class WatchingExecutor(SleepExecutor):
        seen: Mapping[str, float] = MappingProxyType({})

        def checkpoints(self) -> dict[str, float]:
            return dict(self.seen)

    s = Settings(data_dir=tmp_path, step_interval_s=0.1, min_step_gap_s=0.0)
    clock = SystemClock()
    executor = WatchingExecutor(clock)
    svc = Service(s, SqlStore(s.resolved_db_url(), clock=clock), small_center(), executor, clock)
    svc.start()
    try:
        job, future, _ = svc.submit(spec("ckpt", sleep_s=30.0))
        future.result(5)
        deadline = time.monotonic() + 10
        while job.id not in svc.engine.holding:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        at = clock.now() - 1.0
        executor.seen = {job.id: at}
        svc.kick()
        while svc.engine.holding[job.id].checkpointed_at != at:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        executor.seen = {job.id: at - 10.0}  # older than what it has: kept
        svc.kick()
        time.sleep(0.3)
        assert svc.engine.holding[job.id].checkpointed_at == at
    finally:
        svc.stop()
        svc.store.close()
