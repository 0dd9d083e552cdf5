"""The kuberay executor's objects and judgements without a server: a job's RayCluster,
NetworkPolicy and Secret; which pod goes to which node; what pods and nodes mean."""

from __future__ import annotations

import json
from typing import Any

import pytest

from scheduler.domain import (
    AcceleratorType,
    JobKind,
    JobRecord,
    JobSpec,
    JobState,
    Placement,
    Resources,
)
from scheduler.domain.job import WorkerPlacement
from scheduler.engine.ports import EventKind
from scheduler.executors.kuberay import binder, manifests
from scheduler.executors.kuberay.manifests import KubeRaySettings
from scheduler.executors.kuberay.watch import assess

GPU = AcceleratorType("a800", "nvidia.com/gpu", "GPU", {"fp16": 312.0}, 80 * 2**30)
NPU = AcceleratorType("ascend910b", "huawei.com/Ascend910", "NPU", {"fp16": 320.0}, 64 * 2**30)


def job(workers: tuple[tuple[str, tuple[int, ...]], ...], *, job_id: str = "j7", tenant: str = "bank-a",
        entrypoint: str = "python train.py", env: dict[str, str] | None = None) -> JobRecord:
    spec = JobSpec(tenant, "train", JobKind.TRAINING, len(workers), Resources(len(workers[0][1])),
                   entrypoint=entrypoint, runtime_env={"env_vars": env or {}})
    placement = Placement("a800", tuple(WorkerPlacement(n, d) for n, d in workers))
    return JobRecord(job_id, 7, spec, JobState.ADMITTED, 0.0, placement=placement)


GANG = job((("n-a", (0, 1, 2, 3)), ("n-a", (4, 5, 6, 7)), ("n-b", (0, 1, 2, 3))))
SETTINGS = KubeRaySettings()


def test_the_cluster_has_a_head_on_the_first_node_and_a_worker_group_per_placed_node() -> None:
    rc = manifests.ray_cluster(GANG, "aicc-bank-a", GPU, SETTINGS, grace_s=45)
    assert rc["metadata"]["name"] == "aicc-j7" and rc["metadata"]["namespace"] == "aicc-bank-a"
    head = rc["spec"]["headGroupSpec"]["template"]
    assert head["spec"]["nodeSelector"] == {"kubernetes.io/hostname": "n-a"}
    assert rc["spec"]["headGroupSpec"]["rayStartParams"]["num-cpus"] == "0"
    groups = rc["spec"]["workerGroupSpecs"]
    assert [(g["groupName"], g["replicas"], g["template"]["spec"]["nodeSelector"]["kubernetes.io/hostname"])
            for g in groups] == [("n0", 1, "n-a"), ("n1", 1, "n-b")]
    limits = [g["template"]["spec"]["containers"][0]["resources"]["limits"] for g in groups]
    assert limits == [{"nvidia.com/gpu": "8"}, {"nvidia.com/gpu": "4"}]  # two bundles on n-a: 8 devices
    assert [g["rayStartParams"]["num-gpus"] for g in groups] == ["8", "4"]
    for t in [head, *(g["template"] for g in groups)]:
        assert t["spec"]["schedulerName"] == "aicc"
        assert t["spec"]["restartPolicy"] == "Never"  # a driver run twice would run the job twice
        assert t["spec"]["terminationGracePeriodSeconds"] == 45
        assert t["spec"]["automountServiceAccountToken"] is False and "volumes" not in t["spec"]
        assert t["metadata"]["labels"]["aicc.io/job"] == "aicc-j7"
        for c in t["spec"]["containers"]:  # the token comes from the cluster's own Secret
            assert c["envFrom"] == [{"secretRef": {"name": "aicc-j7-ray-auth"}}]
            assert c["env"][0] == {"name": "RAY_AUTH_MODE", "value": "token"}


def test_an_npu_cluster_asks_for_ascend_devices_and_rays_npu_resource() -> None:
    rc = manifests.ray_cluster(job((("n-x", (0, 1)),)), "ns", NPU, SETTINGS, grace_s=0)
    g = rc["spec"]["workerGroupSpecs"][0]
    assert g["template"]["spec"]["containers"][0]["resources"]["requests"] == {"huawei.com/Ascend910": "2"}
    assert json.loads(json.loads(g["rayStartParams"]["resources"])) == {"NPU": 2}


def test_the_driver_gets_the_entrypoint_verbatim_and_the_jobs_env_never_a_secret() -> None:
    j = job((("n-a", (0,)),), entrypoint="python -c 'print(\"$HOME\")'", env={"LR": "0.1"})
    rc = manifests.ray_cluster(j, "ns", GPU, SETTINGS, grace_s=0)
    drv = rc["spec"]["headGroupSpec"]["template"]["spec"]["containers"][1]
    assert drv["name"] == "aicc-driver" and drv["command"][:2] == ["python", "-c"]
    env = {e["name"]: e["value"] for e in drv["env"] if "value" in e}
    assert env["AICC_ENTRYPOINT"] == "python -c 'print(\"$HOME\")'" and env["AICC_JOB_ID"] == "j7"
    runtime = json.loads(env["AICC_RUNTIME_ENV"])["env_vars"]
    assert runtime["LR"] == "0.1" and runtime["AICC_TENANT"] == "bank-a" and "AICC_PLACEMENT" in runtime
    assert not any("TOKEN" in e["name"] for e in drv["env"])  # secrets come from the Secret alone


def test_the_secret_holds_its_own_token_and_the_jobs_credential_only() -> None:
    s = manifests.auth_secret(GANG, "aicc-bank-a", "tok", {"AICC_JOB_TOKEN": "jt"})
    assert s["metadata"]["name"] == "aicc-j7-ray-auth"
    assert s["stringData"] == {"RAY_AUTH_TOKEN": "tok", "AICC_JOB_TOKEN": "jt"}


def test_the_network_policy_admits_only_its_own_cluster_and_lets_out_only_to_it_aicc_and_dns() -> None:
    np = manifests.network_policy(GANG, "aicc-bank-a", SETTINGS)["spec"]
    own = {"podSelector": {"matchLabels": {"ray.io/cluster": "aicc-j7"}}}
    assert np["podSelector"] == own["podSelector"] and np["policyTypes"] == ["Ingress", "Egress"]
    assert np["ingress"] == [{"from": [own]}]
    to = [rule["to"][0] for rule in np["egress"]]
    assert to[0] == own
    assert to[1]["namespaceSelector"] == {"matchLabels": {"kubernetes.io/metadata.name": "aicc-system"}}
    assert np["egress"][1]["ports"] == [{"protocol": "TCP", "port": 8080}]
    assert to[2]["podSelector"] == {"matchLabels": {"k8s-app": "kube-dns"}}


def test_names_are_dns_labels_short_enough_for_kuberays_suffixes() -> None:
    assert manifests.cluster_name("J_42/x") == "aicc-j-42-x"
    assert len(manifests.cluster_name("x" * 200) + "-n12-worker-abcde") <= 63
    assert manifests.namespace_of("bank-a", SETTINGS) == "aicc-bank-a"


def test_settings_from_the_environment() -> None:
    s = KubeRaySettings.from_env({"AICC_KUBERAY_IMAGE": "r:1", "AICC_KUBERAY_AICC_NAMESPACE": "ops",
                                  "AICC_KUBERAY_AICC_LABELS": '{"app": "aicc"}', "AICC_KUBERAY_AICC_PORT": "9",
                                  "AICC_KUBERAY_START_TIMEOUT_S": "60"})
    assert (s.image, s.aicc_namespace, dict(s.aicc_pod_labels), s.aicc_port) == ("r:1", "ops", {"app": "aicc"}, 9)
    assert s.start_timeout_s == 60.0 and KubeRaySettings().start_timeout_s == 900.0


def pod(name: str, group: str, node: str | None = None, phase: str | None = None,
        driver_exit: int | None = None) -> dict[str, Any]:
    status: dict[str, Any] = {"phase": phase} if phase else {}
    if driver_exit is not None:
        status["containerStatuses"] = [{"name": "aicc-driver", "state": {"terminated": {"exitCode": driver_exit}}}]
    spec: dict[str, Any] = {"schedulerName": "aicc"}
    if node:
        spec["nodeName"] = node
    return {"metadata": {"name": name, "namespace": "ns", "labels": {"aicc.io/group": group}},
            "spec": spec, "status": status}


GROUPS = manifests.group_nodes(GANG.placement)  # type: ignore[arg-type]
READY = {"n-a": True, "n-b": True}


def test_each_pending_pod_goes_to_its_groups_node_one_a_group() -> None:
    pods = [pod("h", "head"), pod("w0", "n0"), pod("w1", "n1", "n-b"), pod("w0b", "n0")]
    assert [(p["metadata"]["name"], n) for p, n in binder.to_bind(pods, GROUPS)] == [("h", "n-a"), ("w0", "n-a")]
    assert binder.to_bind(pods, GROUPS, done={"head", "n0"}) == []  # a replacement is never bound
    assert binder.binding("h", "n-a")["target"] == {"apiVersion": "v1", "kind": "Node", "name": "n-a"}


def test_started_when_every_group_runs_on_its_node() -> None:
    pods = [pod("h", "head", "n-a", "Running"), pod("w0", "n0", "n-a", "Running"), pod("w1", "n1", "n-b", "Pending")]
    assert assess(GROUPS, pods, READY, started=False, bound=GROUPS).kind is None
    pods[2] = pod("w1", "n1", "n-b", "Running")
    assert assess(GROUPS, pods, READY, started=False, bound=GROUPS).kind is EventKind.STARTED
    assert assess(GROUPS, pods, READY, started=True).kind is None


def test_lost_with_a_node_or_a_pod_ended_by_the_driver() -> None:
    pods = [pod("h", "head", "n-a", "Running"), pod("w0", "n0", "n-a", "Running"), pod("w1", "n1", "n-b", "Running")]
    assert assess(GROUPS, pods, {"n-a": True}, started=True).kind is EventKind.LOST  # n-b deleted
    assert assess(GROUPS, pods, {**READY, "n-b": False}, started=True).kind is EventKind.LOST
    assert assess(GROUPS, pods[:2], READY, started=True).kind is EventKind.LOST  # a pod deleted
    assert assess(GROUPS, pods[:2], READY, started=False, bound={"head"}).kind is None  # n1 not bound yet
    assert assess(GROUPS, pods[:2], READY, started=False, bound={"n1"}).kind is EventKind.LOST
    failed = [*pods[:2], pod("w1", "n1", "n-b", "Failed")]
    assert assess(GROUPS, failed, READY, started=True).kind is EventKind.LOST
    done = [pod("h", "head", "n-a", "Running", driver_exit=0), *pods[1:]]
    assert assess(GROUPS, done, READY, started=True).kind is EventKind.SUCCEEDED
    bad = [pod("h", "head", "n-a", "Running", driver_exit=3), *pods[1:]]
    v = assess(GROUPS, bad, READY, started=True)
    assert v.kind is EventKind.FAILED and "exited 3" in v.detail


class FakeApi:
    """The executor's calls answered as by a server where nothing ever gets pods (no
    operator, a quota that refuses them, images that never pull)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def __call__(self, api: Any, method: str, path: str, body: Any = None, query: Any = None, **_: Any) -> Any:
        self.calls.append((method, path))
        if method == "POST":
            return {"metadata": {"uid": "u1", **(body or {}).get("metadata", {})}}
        if method == "GET" and path == "/api/v1/nodes":
            return {"items": [{"metadata": {"name": n}, "status": {"conditions": [{"type": "Ready", "status": "True"}]}}
                              for n in ("n-a", "n-b")]}
        return {"items": []}


def test_a_cluster_not_running_in_time_is_given_up_as_lost(monkeypatch: pytest.MonkeyPatch) -> None:
    from scheduler.domain import Center
    from scheduler.engine.clock import ManualClock
    from scheduler.executors.kuberay import KubeRayExecutor
    from scheduler.executors.kuberay import executor as module

    fake = FakeApi()
    monkeypatch.setattr(module, "call", fake)
    clock = ManualClock(0.0)
    ex = KubeRayExecutor(clock, None, Center("c", {"a800": GPU}, ()), KubeRaySettings(start_timeout_s=60), thread=False)
    ex.start(GANG, 30)
    assert ex.poll() == [] and ("POST", "/apis/ray.io/v1/namespaces/aicc-bank-a/rayclusters") in fake.calls
    clock.advance_to(60.0)
    assert ex.poll() == []  # not yet
    clock.advance_to(61.0)
    events = ex.poll()
    assert [(e.job_id, e.kind) for e in events] == [("j7", EventKind.LOST)]
    assert "not running within 60 s" in events[0].detail
    cluster = "/apis/ray.io/v1/namespaces/aicc-bank-a/rayclusters/aicc-j7"
    assert fake.calls.index(("PATCH", cluster)) < fake.calls.index(("DELETE", cluster))  # suspended first
    assert ex.known() == {"j7": EventKind.LOST}
