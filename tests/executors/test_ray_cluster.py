"""The Ray executor on a real multi-node Ray cluster (three nodes of 4 logical GPUs, two racks).

These nodes, these jobs -> the gangs run on exactly the nodes the scheduler
chose; a preempted job's devices come back and it is requeued; a failed job
says why; a restart re-attaches; a node that dies requeues its jobs (last: it
removes a node from the session's cluster). Each job runs both ways a job
starts: in aicc's launcher (no runtime env to build) and as a Ray Job
Submission API job (a working_dir Ray packages).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from scheduler.core import Policy
from scheduler.domain import (
    AcceleratorType,
    Isolation,
    JobKind,
    JobRecord,
    JobSpec,
    JobState,
    NodeState,
    Quota,
    Resources,
    Tenant,
)
from scheduler.engine import Engine
from scheduler.engine.clock import SystemClock
from scheduler.engine.ports import EventKind
from scheduler.executors.ray import RayExecutor
from scheduler.executors.ray.launch import submission_id
from scheduler.executors.ray.launcher import ACTOR_NAME
from scheduler.store.memory import MemoryStore
from tests.executors.conftest import DEVICES_PER_NODE, RayCluster

pytestmark = pytest.mark.slow

JOBS_DIR = Path(__file__).parent / "jobs"
A800 = AcceleratorType("a800", "nvidia.com/gpu", "GPU", {"fp16": 312.0}, 80 << 30)
GFLOPS = A800.gflops  # one device


def tenants() -> dict[str, Tenant]:
    # Shared: this cluster is attached, where every job runs on the one Ray cluster.
    return {"borrower": Tenant("borrower", Quota(0, 12 * GFLOPS), isolation=Isolation.SHARED),
            "owner": Tenant("owner", Quota(12 * GFLOPS, 12 * GFLOPS), isolation=Isolation.SHARED)}


#: how a job starts: "launcher" (nothing for Ray to build) or "job-api" (a working_dir to package)
WAYS = ("launcher", "job-api")


def probe(tenant: str, name: str, workers: int, devices: int, seconds: float = 0.0, exit_code: int = 0,
          grace_s: float = 2.0, way: str = "job-api") -> JobSpec:
    args = f"--seconds {seconds} --exit {exit_code}"
    if way == "launcher":
        entrypoint, env = f"python {JOBS_DIR / 'gang_probe.py'} {args}", {"grace_period_s": grace_s}
    else:
        entrypoint, env = f"python gang_probe.py {args}", {"working_dir": str(JOBS_DIR), "grace_period_s": grace_s}
    return JobSpec(tenant, name, JobKind.TRAINING, workers, Resources(devices, ("a800",)),
                   entrypoint=entrypoint, runtime_env=env)


def ray_jobs(ex: RayExecutor, prefix: str) -> list[str]:
    """Submission ids starting with ``prefix`` that Ray's Job API has."""
    from ray.job_submission import JobSubmissionClient

    return [j.submission_id for j in JobSubmissionClient(ex.dashboard_url).list_jobs()
            if (j.submission_id or "").startswith(prefix)]


def launched(prefix: str) -> list[str]:
    """Submission ids starting with ``prefix`` that the launcher has run."""
    import ray

    launcher = ray.get_actor(ACTOR_NAME, namespace="aicc")
    return [sid for sid in ray.get(launcher.status.remote(None)) if sid.startswith(prefix)]


@pytest.fixture
def executor(ray_cluster: RayCluster) -> Iterator[RayExecutor]:
    ex = RayExecutor(SystemClock(), address=ray_cluster.address, dashboard_url=ray_cluster.dashboard_url,
                     catalog={"a800": A800})
    try:
        yield ex
    finally:
        ex.close()


def engine_for(ex: RayExecutor, store: MemoryStore | None = None) -> Engine:
    assert ex.center is not None
    return Engine(ex.center, store or MemoryStore(tenants()), ex, SystemClock(), Policy(min_runtime_s=0.0))


def run_until(engine: Engine, done: Callable[[], bool], timeout_s: float = 90.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        engine.step()
        engine.sync()
        if done():
            return
        time.sleep(0.1)
    raise AssertionError("timed out; jobs: " + "; ".join(f"{j.id} {j.state.value} {j.detail}"
                                                           for j in engine.live_jobs()))


def state(engine: Engine, job_id: str) -> JobRecord:
    store = engine.store
    assert isinstance(store, MemoryStore)
    return store.jobs[job_id]


def probe_output(ex: RayExecutor, job_id: str) -> dict:
    lines = [ln for ln in ex.logs(job_id).splitlines() if ln.startswith("AICC-PROBE {")]
    assert lines, ex.logs(job_id)
    return json.loads(lines[-1].removeprefix("AICC-PROBE "))


def free_gpus(timeout_s: float = 10.0, expect: float = 3 * DEVICES_PER_NODE) -> float:
    import ray

    deadline = time.monotonic() + timeout_s
    free = 0.0
    while time.monotonic() < deadline:
        free = ray.available_resources().get("GPU", 0.0)
        if free == expect:
            return free
        time.sleep(0.2)
    return free


def test_the_center_is_built_from_rays_nodes(executor: RayExecutor, ray_cluster: RayCluster) -> None:
    center = executor.center
    assert center is not None
    assert {(n.name, n.rack, n.devices, n.accelerator) for n in center.nodes} == {
        ("gpu-a", "rack-1", 4, "a800"), ("gpu-b", "rack-1", 4, "a800"), ("gpu-c", "rack-2", 4, "a800")}
    for name in ("gpu-a", "gpu-b", "gpu-c"):
        assert executor.topology.binding(name).ray_node_id == ray_cluster.ray_node_id(name)


@pytest.mark.parametrize("way", WAYS)
def test_a_gang_runs_on_exactly_the_nodes_the_scheduler_chose_and_only_once(executor: RayExecutor,
                                                                          ray_cluster: RayCluster, way: str) -> None:
    engine = engine_for(executor)
    job = engine.submit(probe("owner", "spread", workers=3, devices=3, way=way), job_id=f"gang-{way}")
    engine.step()
    admitted = state(engine, job.id)
    assert admitted.placement is not None
    executor.start(admitted)  # a retry, as after a crash between record and act: no second run
    run_until(engine, lambda: state(engine, job.id).state.terminal)
    done = state(engine, job.id)
    assert done.state is JobState.SUCCEEDED, done.detail
    out = probe_output(executor, job.id)
    # The job saw the scheduler's placement, worker by worker ...
    assert [(p["node"], p["devices"]) for p in out["placement"]] == [
        (w.node, list(w.devices)) for w in admitted.placement.workers]
    placed = [p["node"] for p in out["placement"]]
    assert sorted(placed) == ["gpu-a", "gpu-b", "gpu-c"]  # 3 x 3 devices: one worker per node
    # ... and each worker's task ran on exactly that Ray node.
    for worker, node in zip(out["workers"], placed, strict=True):
        assert worker["ray_node"] == ray_cluster.ray_node_id(node)
        assert worker["tenant"] == "owner"
    prefix = f"aicc-gang-{way}-"
    runs = (launched(prefix), ray_jobs(executor, prefix))
    assert runs == (([submission_id(job.id, 0)], []) if way == "launcher" else ([], [submission_id(job.id, 0)]))
    assert free_gpus() == 12  # every device back once it ended


@pytest.mark.parametrize("way", WAYS)
def test_preemption_stops_the_job_returns_its_devices_and_requeues_it(executor: RayExecutor, way: str) -> None:
    engine = engine_for(executor)
    borrowed = engine.submit(probe("borrower", "long", workers=3, devices=4, seconds=120, grace_s=2, way=way),
                             job_id=f"pre-{way}")
    run_until(engine, lambda: state(engine, borrowed.id).state is JobState.RUNNING
              and "AICC-PROBE {" in executor.logs(borrowed.id))  # its SIGTERM handler is in place
    assert free_gpus(expect=0) == 0  # Ray holds all 12 devices for it
    began = time.monotonic()
    owner = engine.submit(probe("owner", "mine", workers=2, devices=4, seconds=1, way=way), job_id=f"pre-{way}-2")
    run_until(engine, lambda: state(engine, owner.id).state in (JobState.RUNNING, JobState.SUCCEEDED))
    victim = state(engine, borrowed.id)
    assert victim.state in (JobState.PENDING, JobState.ADMITTED, JobState.RUNNING)
    assert victim.preemptions == 1
    assert time.monotonic() - began < 60
    assert "AICC-PROBE got SIGTERM" in executor.logs(borrowed.id)  # it was told, and had its grace
    # The borrower is requeued; it may run again once the owner is done.
    engine.cancel(borrowed.id)
    run_until(engine, lambda: state(engine, owner.id).state.terminal and not engine.holding)
    assert state(engine, owner.id).state is JobState.SUCCEEDED
    assert state(engine, borrowed.id).state is JobState.CANCELLED
    assert free_gpus() == 12


@pytest.mark.parametrize("way", WAYS)
def test_a_failed_job_says_why(executor: RayExecutor, way: str) -> None:
    engine = engine_for(executor)
    job = engine.submit(probe("owner", "crash", workers=1, devices=1, exit_code=3, way=way), job_id=f"fail-{way}")
    run_until(engine, lambda: state(engine, job.id).state.terminal)
    done = state(engine, job.id)
    assert done.state is JobState.FAILED
    assert "exit code 3" in done.detail
    assert "AICC-PROBE" in executor.logs(job.id)


@pytest.mark.parametrize("way", WAYS)
def test_after_a_restart_running_jobs_are_reattached_and_orphans_removed(ray_cluster: RayCluster, way: str) -> None:
    import ray

    store = MemoryStore(tenants())
    first = RayExecutor(SystemClock(), address=ray_cluster.address, dashboard_url=ray_cluster.dashboard_url,
                        catalog={"a800": A800})
    engine = engine_for(first, store)
    job = engine.submit(probe("owner", "survivor", workers=2, devices=2, seconds=4, way=way), job_id=f"re-{way}")
    run_until(engine, lambda: state(engine, job.id).state is JobState.RUNNING)
    first.close()  # the service goes away; Ray keeps running the job
    orphan = ray.util.placement_group([{"GPU": 1}], name=f"aicc-orphan-{way}-0", lifetime="detached")
    ray.get(orphan.ready(), timeout=30)

    second = RayExecutor(SystemClock(), address=ray_cluster.address, dashboard_url=ray_cluster.dashboard_url,
                         catalog={"a800": A800})
    try:
        restarted = engine_for(second, store)
        second.adopt(restarted.live_jobs())
        assert second.known().get(job.id) is EventKind.STARTED
        assert restarted.reconcile() == []  # nothing to repair: it still runs
        run_until(restarted, lambda: state(restarted, job.id).state.terminal)
        assert state(restarted, job.id).state is JobState.SUCCEEDED
        table = ray.util.placement_group_table()
        assert table[orphan.id.hex()]["state"] == "REMOVED"
    finally:
        second.close()


def test_if_the_launcher_dies_its_runs_fail_and_a_new_one_takes_over(executor: RayExecutor) -> None:
    import ray

    engine = engine_for(executor)
    job = engine.submit(probe("owner", "orphaned", workers=1, devices=1, seconds=120, way="launcher"),
                        job_id="orphaned-1")
    run_until(engine, lambda: state(engine, job.id).state is JobState.RUNNING)
    ray.kill(ray.get_actor(ACTOR_NAME, namespace="aicc"), no_restart=True)
    run_until(engine, lambda: state(engine, job.id).state.terminal)
    assert state(engine, job.id).state is JobState.FAILED
    assert "launcher died" in state(engine, job.id).detail
    after = engine.submit(probe("owner", "after", workers=1, devices=1, way="launcher"), job_id="orphaned-2")
    run_until(engine, lambda: state(engine, after.id).state.terminal)
    assert state(engine, after.id).state is JobState.SUCCEEDED
    assert free_gpus() == 12


def test_a_node_that_dies_mid_job_requeues_its_jobs(executor: RayExecutor, ray_cluster: RayCluster) -> None:
    engine = engine_for(executor)
    job = engine.submit(probe("owner", "doomed", workers=1, devices=4, seconds=120, way="launcher"), job_id="lost-1")
    run_until(engine, lambda: state(engine, job.id).state is JobState.RUNNING)
    running = state(engine, job.id)
    assert running.placement is not None
    node = running.placement.workers[0].node
    began = time.monotonic()
    ray_cluster.cluster.remove_node(ray_cluster.nodes.pop(node))
    run_until(engine, lambda: state(engine, job.id).state is not JobState.RUNNING, timeout_s=40)
    lost_after = time.monotonic() - began
    requeued = state(engine, job.id)
    assert requeued.state is JobState.PENDING
    assert requeued.reason == "NodeLost" and node in requeued.detail
    assert requeued.preemptions == 1
    assert lost_after <= 30
    # The operator (or the service's node watch) marks the node down; the job runs elsewhere.
    engine.set_node_state(node, NodeState.DOWN)
    run_until(engine, lambda: state(engine, job.id).state is JobState.RUNNING)
    again = state(engine, job.id)
    assert again.placement is not None and again.placement.workers[0].node != node
    engine.cancel(job.id)
    run_until(engine, lambda: not engine.holding)
