"""`--executor kuberay` against the real control plane: the engine admits and places a job,
the executor makes it a RayCluster in its tenant's namespace (made by `aicc kube
sync-quotas`), the real KubeRay operator makes its pods, aicc binds them to the placed kwok
nodes and kwok runs them. Real up to where Ray itself would start in the pods (kwok runs
no containers): a job's end is what the head's `aicc-driver` container would report on
exit, written into the pod's status here as its kubelet would."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from scheduler.centerfile import CenterConfig, build_center
from scheduler.core import Policy
from scheduler.domain import JobKind, JobRecord, JobSpec, JobState, Resources
from scheduler.engine import Engine
from scheduler.engine.clock import SystemClock
from scheduler.engine.ports import DEFAULT_GRACE_S, EventKind
from scheduler.executors.kuberay import KubeRayExecutor
from scheduler.store.memory import MemoryStore
from tests.k8s.control_plane import KWOK_ANNOTATION, ControlPlane
from tests.k8s.nodes import node_object

pytestmark = pytest.mark.k8s

NS_A, NS_B = "aicc-bank-a", "aicc-bank-b"


#: Three 8-device A800 nodes (2.5P each); bank-a is guaranteed two, bank-b one and may borrow.
CENTER: dict[str, Any] = {
    "name": "kuberay-test",
    "accelerators": [{"name": "a800", "vendor_resource": "nvidia.com/gpu", "ray_resource": "GPU",
                      "memory": "80Gi", "tflops": {"fp16": 312}}],
    "pools": [{"name": "kr", "accelerator": "a800", "racks": 1, "nodes_per_rack": 3, "devices_per_node": 8,
               "cpus_per_node": 64, "memory_per_node": "512Gi"}],
    "tenants": [{"name": "bank-a", "guaranteed": "5P", "limit": "7.5P"},
                {"name": "bank-b", "guaranteed": "2.4P", "limit": "7.5P"}],
}


def config() -> CenterConfig:
    return build_center(CENTER)


@pytest.fixture(scope="module")
def world(kube: ControlPlane, kuberay_operator: subprocess.Popen[bytes]) -> Iterator[CenterConfig]:
    """The center's nodes as kwok nodes, each leaf tenant's namespace and quota as
    `aicc kube sync-quotas` makes them."""
    from scheduler.kube.client import api_client
    from scheduler.kube.quotas import apply_tenant_quotas, plan_tenant_quotas

    cfg = config()
    for node in cfg.center.nodes:
        kube.request("POST", "/api/v1/nodes", node_object(node, cfg.center))
    apply_tenant_quotas(api_client(str(kube.kubeconfig)), plan_tenant_quotas(cfg))
    yield cfg


@dataclass
class Center:
    kube: ControlPlane
    engine: Engine
    store: MemoryStore
    executor: KubeRayExecutor

    def until(self, what: str, check: Callable[[], Any], timeout: float = 60, *, step: bool = True) -> Any:
        """Run the service's loop (sync, step; ``step`` False: sync alone, to see an event's
        effect before a step admits again) until ``check`` holds."""
        deadline = time.monotonic() + timeout
        while True:
            self.engine.sync()
            if step:
                self.engine.step()
            if got := check():
                return got
            if time.monotonic() > deadline:
                pytest.fail(f"{what}: not within {timeout:.0f} s; jobs "
                            f"{ {i: (j.state, j.node_losses, j.detail) for i, j in self.store.jobs.items()} }; operator log:\n"
                            f"{self.kube.log_tail('kuberay-operator')}")
            time.sleep(0.2)

    def job(self, job_id: str) -> JobRecord:
        return self.store.jobs[job_id]

    def submit(self, job_id: str, tenant: str, nodes: int, priority: str = "normal") -> str:
        spec = JobSpec(tenant, "train", JobKind.TRAINING, nodes, Resources(8), priority=priority,
                       entrypoint="python train.py", estimated_runtime_s=3600)
        return self.engine.submit(spec, job_id=job_id).id

    def pods(self, ns: str, job_id: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self.kube.request(
            "GET", f"/api/v1/namespaces/{ns}/pods?labelSelector=ray.io/cluster=aicc-{job_id}")["items"]
        return items

    def exists(self, path: str) -> bool:
        import urllib.error

        try:
            self.kube.request("GET", path)
            return True
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return False
            raise


@pytest.fixture
def center(kube: ControlPlane, world: CenterConfig) -> Iterator[Center]:
    from scheduler.kube.client import api_client

    store = MemoryStore(world.tenants)
    executor = KubeRayExecutor(SystemClock(), api_client(str(kube.kubeconfig)), world.center, thread=False)
    engine = Engine(world.center, store, executor, SystemClock(), Policy(min_runtime_s=0.0))
    c = Center(kube, engine, store, executor)
    yield c
    for job_id in list(engine.jobs):  # leave nothing running for the next test
        engine.cancel(job_id)
    c.until("every cluster gone", lambda: not engine.holding)


def cluster(c: Center, ns: str, job_id: str) -> str:
    return f"/apis/ray.io/v1/namespaces/{ns}/rayclusters/aicc-{job_id}"


def test_an_isolated_gang_is_a_raycluster_in_its_tenants_namespace_bound_to_its_placed_nodes(center: Center) -> None:
    c = center
    job_id = c.submit("gang1", "bank-a", nodes=2)
    job = c.until("the gang running", lambda: c.job(job_id).state is JobState.RUNNING and c.job(job_id))
    placed = list(job.placement.nodes)
    assert len(placed) == 2
    rc = c.kube.request("GET", cluster(c, NS_A, job_id))
    assert rc["metadata"]["labels"]["aicc.io/tenant"] == "bank-a"
    pods = c.pods(NS_A, job_id)
    where = sorted((p["metadata"]["labels"]["aicc.io/group"], p["spec"]["nodeName"]) for p in pods)
    assert where == [("head", placed[0]), ("n0", placed[0]), ("n1", placed[1])]
    for p in pods:
        assert p["spec"]["schedulerName"] == "aicc" and p["status"]["phase"] == "Running"
        assert p["spec"]["terminationGracePeriodSeconds"] == DEFAULT_GRACE_S
    workers = [p for p in pods if p["metadata"]["labels"]["aicc.io/group"] != "head"]
    assert [w["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] for w in workers] == ["8", "8"]
    # the operator counts the workers it made as ready: it sees the pods aicc bound
    status = c.until("the RayCluster's status", lambda: (s := c.kube.request(
        "GET", cluster(c, NS_A, job_id)).get("status", {})).get("readyWorkerReplicas") == 2 and s)
    assert status["desiredWorkerReplicas"] == 2


def test_a_restarted_aicc_adopts_a_running_clusters_and_still_sees_it_lost(center: Center, kube: ControlPlane,
                                                                            world: CenterConfig) -> None:
    from scheduler.kube.client import api_client

    c = center
    job_id = c.submit("adopted", "bank-a", nodes=2)
    c.until("running", lambda: c.job(job_id).state is JobState.RUNNING)
    again = KubeRayExecutor(SystemClock(), api_client(str(kube.kubeconfig)), world.center, thread=False)
    again.adopt([c.job(job_id)])
    assert again.known() == {job_id: EventKind.STARTED} and again.poll() == []
    head = next(p for p in c.pods(NS_A, job_id) if p["metadata"]["labels"]["aicc.io/group"] == "head")
    c.kube.request("DELETE", f"/api/v1/namespaces/{NS_A}/pods/{head['metadata']['name']}")
    deadline = time.monotonic() + 30
    while not (events := again.poll()):
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert [(e.job_id, e.kind) for e in events] == [(job_id, EventKind.LOST)] and "head" in events[0].detail


def test_each_cluster_has_its_network_policy_and_its_own_ray_token(center: Center) -> None:
    c = center
    a, b = c.submit("np-a", "bank-a", nodes=1), c.submit("np-b", "bank-b", nodes=1)
    c.until("both running", lambda: all(c.job(i).state is JobState.RUNNING for i in (a, b)))
    np = c.kube.request("GET", f"/apis/networking.k8s.io/v1/namespaces/{NS_A}/networkpolicies/aicc-{a}")["spec"]
    own = {"podSelector": {"matchLabels": {"ray.io/cluster": f"aicc-{a}"}}}
    assert np["podSelector"] == own["podSelector"] and np["ingress"] == [{"from": [own]}]
    assert np["egress"][0] == {"to": [own]}
    assert np["egress"][1]["to"][0]["namespaceSelector"]["matchLabels"] == {"kubernetes.io/metadata.name": "aicc-system"}
    pods = c.pods(NS_A, a)  # the policy selects exactly this cluster's pods
    assert pods and all(p["metadata"]["labels"]["ray.io/cluster"] == f"aicc-{a}" for p in pods)
    tokens = [c.kube.request("GET", f"/api/v1/namespaces/{ns}/secrets/aicc-{i}-ray-auth")["data"]["RAY_AUTH_TOKEN"]
              for ns, i in ((NS_A, a), (NS_B, b))]
    assert tokens[0] != tokens[1] and all(len(t) > 32 for t in tokens)


def test_cancel_preempt_and_end_delete_the_cluster(center: Center) -> None:
    c = center
    big = c.submit("borrower", "bank-b", nodes=3)  # bank-b borrows the whole center
    c.until("the borrower running", lambda: c.job(big).state is JobState.RUNNING)
    mine = c.submit("owner", "bank-a", nodes=2)  # bank-a takes its guarantee back
    c.until("the owner running", lambda: c.job(mine).state is JobState.RUNNING)
    assert c.job(big).state is JobState.PENDING and c.job(big).preemptions == 1
    assert not c.exists(cluster(c, NS_B, big)) and c.pods(NS_B, big) == []
    assert not c.exists(f"/api/v1/namespaces/{NS_B}/secrets/aicc-{big}-ray-auth")

    c.engine.cancel(big)  # pending: nothing to delete
    c.engine.cancel(mine)
    assert c.job(mine).state is JobState.CANCELLED  # at once; its devices are held until its pods are gone
    c.until("the owner's cluster gone", lambda: mine not in c.engine.holding)
    assert not c.exists(cluster(c, NS_A, mine)) and c.pods(NS_A, mine) == []
    assert not c.exists(f"/apis/networking.k8s.io/v1/namespaces/{NS_A}/networkpolicies/aicc-{mine}")

    done = c.submit("finishes", "bank-a", nodes=1)
    c.until("running", lambda: c.job(done).state is JobState.RUNNING)
    head = next(p for p in c.pods(NS_A, done) if p["metadata"]["labels"]["aicc.io/group"] == "head")
    driver_exits(c.kube, head, 0)  # what the kubelet writes when `ray job submit` returns 0
    c.until("succeeded", lambda: c.job(done).state is JobState.SUCCEEDED)
    assert not c.exists(cluster(c, NS_A, done)) and c.pods(NS_A, done) == []

    bad = c.submit("fails", "bank-a", nodes=1)
    c.until("running", lambda: c.job(bad).state is JobState.RUNNING)
    head = next(p for p in c.pods(NS_A, bad) if p["metadata"]["labels"]["aicc.io/group"] == "head")
    driver_exits(c.kube, head, 1)  # `ray job status` FAILED: the driver exits 1
    job = c.until("failed", lambda: (j := c.job(bad)).state is JobState.FAILED and j)
    assert "exited 1" in job.detail and not c.exists(cluster(c, NS_A, bad))


def driver_exits(kube: ControlPlane, pod: dict[str, Any], code: int) -> None:
    statuses = [s for s in pod["status"]["containerStatuses"] if s["name"] != "aicc-driver"]
    statuses.append({"name": "aicc-driver", "image": "ray", "imageID": "", "ready": False, "restartCount": 0,
                     "state": {"terminated": {"exitCode": code, "reason": "Completed" if code == 0 else "Error"}}})
    meta = pod["metadata"]
    kube.request("PATCH", f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}/status",
                 {"status": {"containerStatuses": statuses}}, content_type="application/merge-patch+json")


def test_a_lost_pod_or_a_deleted_node_requeues_the_job(center: Center, world: CenterConfig) -> None:
    c = center
    job_id = c.submit("loses-pod", "bank-a", nodes=2)
    c.until("running", lambda: c.job(job_id).state is JobState.RUNNING)
    worker = next(p for p in c.pods(NS_A, job_id) if p["metadata"]["labels"]["aicc.io/group"] == "n1")
    c.kube.request("DELETE", f"/api/v1/namespaces/{NS_A}/pods/{worker['metadata']['name']}")
    deadline = time.monotonic() + 30  # the operator replaces it before aicc looks: aicc must not bind that one
    while not any(p["metadata"]["labels"]["aicc.io/group"] == "n1" and p["metadata"]["name"] != worker["metadata"]["name"]
                  for p in c.pods(NS_A, job_id)):
        assert time.monotonic() < deadline, c.kube.log_tail("kuberay-operator")
        time.sleep(0.2)
    job = c.until("requeued", lambda: (j := c.job(job_id)).node_losses == 1 and j, step=False)
    assert job.state is JobState.PENDING
    assert job.reason == "NodeLost" and "n1" in job.detail
    c.until("running again", lambda: c.job(job_id).state is JobState.RUNNING)  # a fresh cluster

    node = c.job(job_id).placement.nodes[-1]
    c.kube.request("DELETE", f"/api/v1/nodes/{node}")
    try:
        job = c.until("requeued after its node went", lambda: (j := c.job(job_id)).node_losses == 2 and j,
                      step=False)
        assert job.state is JobState.PENDING
        assert job.reason == "NodeLost" and node in job.detail
        assert node in c.executor.lost_nodes()  # for the service to mark down
    finally:
        doc = node_object(world.center.node(node), world.center)
        assert doc["metadata"]["annotations"][KWOK_ANNOTATION[0]] == KWOK_ANNOTATION[1]
        c.kube.request("POST", "/api/v1/nodes", doc)


def test_aicc_serve_with_the_kuberay_executor_runs_a_tenants_job_as_its_own_cluster(
        kube: ControlPlane, world: CenterConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """As a user runs it: `aicc serve --executor kuberay` (KUBECONFIG: the control plane), a
    tenant submits over HTTP; the job's pods carry its credential from its own Secret."""
    import base64

    from benchmarks.serving import Served, call

    admin = "kuberay-test-admin-token-0123456789"
    center_file = tmp_path / "center.yaml"
    center_file.write_text(yaml.safe_dump(CENTER))
    monkeypatch.setenv("KUBECONFIG", str(kube.kubeconfig))
    monkeypatch.setenv("AICC_KUBERAY_AICC_URL", "http://aicc.aicc-system.svc:8080")
    served = Served(tmp_path / "serve", admin_token=admin, center=center_file, executor="kuberay", log_level="info")
    try:
        served.wait_ready(60)
        status, issued = call(served.url, "POST", "/v1/admin/tenants/bank-b/tokens", admin, {"name": "t"})
        assert status == 201, issued
        status, job = call(served.url, "POST", "/v1/jobs", issued["token"], {
            "name": "served", "workers": 1, "resources": {"accelerators": 8, "accelerator_types": ["a800"]},
            "entrypoint": "python train.py"})
        assert status in (200, 201, 202), job
        job_id = job["id"]
        deadline = time.monotonic() + 60
        while (view := call(served.url, "GET", f"/v1/jobs/{job_id}", admin)[1])["state"] != "running":
            assert time.monotonic() < deadline, f"{view}\n{served.log_tail()}"
            time.sleep(0.3)
        pods = kube.request("GET", f"/api/v1/namespaces/{NS_B}/pods?labelSelector=aicc.io/job=aicc-{job_id}")["items"]
        assert sorted(p["spec"]["nodeName"] for p in pods) == sorted(view["placement"]["nodes"] * 2)
        secret = kube.request("GET", f"/api/v1/namespaces/{NS_B}/secrets/aicc-{job_id}-ray-auth")["data"]
        assert set(secret) == {"RAY_AUTH_TOKEN", "AICC_JOB_TOKEN", "AICC_URL"}
        assert base64.b64decode(secret["AICC_URL"]).decode() == "http://aicc.aicc-system.svc:8080"
        status, _ = call(served.url, "POST", f"/v1/jobs/{job_id}/cancel", issued["token"])
        assert status == 200
        deadline = time.monotonic() + 60
        while kube.request("GET", f"/api/v1/namespaces/{NS_B}/pods?labelSelector=aicc.io/job=aicc-{job_id}")["items"]:
            assert time.monotonic() < deadline, served.log_tail()
            time.sleep(0.3)
    finally:
        served.stop()


def test_a_job_whose_namespace_is_missing_fails_with_the_apis_answer(kube: ControlPlane, world: CenterConfig) -> None:
    from scheduler.executors.kuberay import KubeRaySettings
    from scheduler.kube.client import api_client

    executor = KubeRayExecutor(SystemClock(), api_client(str(kube.kubeconfig)), world.center,
                               KubeRaySettings(namespace_prefix="nowhere-"), thread=False)
    store = MemoryStore(world.tenants)
    engine = Engine(world.center, store, executor, SystemClock(), Policy())
    job_id = engine.submit(JobSpec("bank-a", "x", JobKind.TRAINING, 1, Resources(8)), job_id="no-ns").id
    engine.step()
    engine.sync()
    job = store.jobs[job_id]
    assert job.state is JobState.FAILED and "nowhere-bank-a" in job.detail and "404" in job.detail, job
    assert job_id not in engine.holding

