"""The chart's RayCluster reconciled by the real KubeRay operator (built from its Go module):
it makes a head pod and a pod per worker replica; bound to kwok nodes whose accelerators
fit, kwok runs them, and the operator sees its cluster's workers ready."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from scheduler.domain import Center, Node
from tests.deploy.chart import FULL_610P, Helm, one
from tests.k8s.control_plane import ControlPlane
from tests.k8s.nodes import node_object

pytestmark = pytest.mark.k8s

NS = "ray-test"
SMALL = {"a800": 3, "ascend910b": 2}


def ray_nodes(kube: ControlPlane) -> list[dict[str, Any]]:
    """A few kwok nodes of each accelerator type, labelled as the 610P center's, for this test."""
    from scheduler.centerfile import load_center

    center: Center = load_center().center
    docs = []
    for accel, count in SMALL.items():
        for i in range(count):
            node = Node(f"ray-{accel}-{i}", accel, f"ray-rack-{accel}", accel, 8, 192, 2 * 2**40)
            doc = node_object(node, center)
            doc["metadata"]["labels"]["aicc.io/test"] = "ray"
            docs.append(doc)
    for doc in docs:
        kube.request("POST", "/api/v1/nodes", doc)
    return docs


def bind(kube: ControlPlane, pod: dict[str, Any], nodes: list[dict[str, Any]], used: dict[str, dict[str, int]]) -> str:
    """What kube-scheduler would do for these pods: the first node whose labels match the
    pod's nodeSelector and whose accelerators are still free; a Binding to it."""
    wanted: dict[str, int] = {}
    for c in pod["spec"]["containers"]:
        for r, v in (c.get("resources", {}).get("limits") or {}).items():
            if "/" in r:
                wanted[r] = wanted.get(r, 0) + int(v)
    selector = pod["spec"].get("nodeSelector") or {}
    for node in nodes:
        labels = node["metadata"]["labels"]
        free = {r: int(v) - used.get(node["metadata"]["name"], {}).get(r, 0)
                for r, v in node["status"]["allocatable"].items() if "/" in r}
        fits = all(labels.get(k) == v for k, v in selector.items()) and all(
            free.get(r, 0) >= n for r, n in wanted.items())
        if fits:
            name = node["metadata"]["name"]
            for r, n in wanted.items():
                used.setdefault(name, {})[r] = used.get(name, {}).get(r, 0) + n
            kube.request("POST", f"/api/v1/namespaces/{NS}/pods/{pod['metadata']['name']}/binding",
                         {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": pod["metadata"]["name"]},
                          "target": {"apiVersion": "v1", "kind": "Node", "name": name}})
            return name
    raise AssertionError(f"no node fits pod {pod['metadata']['name']} ({selector}, {wanted})")


def wait(what: str, check: Any, timeout: float, kube: ControlPlane) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() > deadline:
            pytest.fail(f"{what} not within {timeout:.0f} s; operator log:\n{kube.log_tail('kuberay-operator')}")
        time.sleep(0.5)


def test_the_charts_ray_cluster_becomes_running_head_and_worker_pods(
        kube: ControlPlane, helm: Helm, kuberay_operator: subprocess.Popen[bytes], tmp_path: Path) -> None:
    small = tmp_path / "small.yaml"
    groups = yaml.safe_load(FULL_610P[0].read_text())["ray"]["cluster"]["workerGroups"]
    for g in groups:
        g["replicas"] = g["maxReplicas"] = SMALL[g["name"]]
    small.write_text(yaml.safe_dump({"ray": {"cluster": {"workerGroups": groups}}}))
    docs = helm.manifests((*FULL_610P, small), namespace=NS)
    kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})
    for kind in ("Secret", "RayCluster"):  # the cluster and the Ray token it mounts
        doc = one(docs, kind)
        doc["metadata"]["namespace"] = NS
        kube.request("POST", kube.object_path(doc, collection=True) + "?fieldValidation=Strict", doc)
    ray = one(docs, "RayCluster")["metadata"]["name"]
    nodes = ray_nodes(kube)
    want = 1 + sum(SMALL.values())

    def pods() -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = kube.request(
            "GET", f"/api/v1/namespaces/{NS}/pods?labelSelector=ray.io/cluster={ray}")["items"]
        return items

    made = wait("the operator's pods", lambda: len(pods()) == want and pods(), 120, kube)
    used: dict[str, dict[str, int]] = {}
    placed = {}
    for pod in sorted(made, key=lambda p: p["metadata"]["labels"]["ray.io/node-type"] != "worker"):
        placed[pod["metadata"]["name"]] = bind(kube, pod, nodes, used)

    running = wait("kwok running every pod",
                   lambda: (ps := pods()) and all(p["status"].get("phase") == "Running" for p in ps) and ps,
                   60, kube)
    by_type: dict[str, list[dict[str, Any]]] = {}
    for p in running:
        labels = p["metadata"]["labels"]
        by_type.setdefault(labels["ray.io/node-type"], []).append(p)
        assert p["spec"]["nodeName"] == placed[p["metadata"]["name"]]
        assert p["status"]["podIP"] and p["status"]["containerStatuses"][0]["ready"] is True
    assert len(by_type["head"]) == 1
    groups_seen = sorted(p["metadata"]["labels"]["ray.io/group"] for p in by_type["worker"])
    assert groups_seen == ["a800"] * 3 + ["ascend910b"] * 2
    for p in by_type["worker"]:  # each worker on a node of its accelerator
        node = kube.request("GET", f"/api/v1/nodes/{p['spec']['nodeName']}")
        group = p["metadata"]["labels"]["ray.io/group"]
        key = "nvidia.com/gpu" if group == "a800" else "huawei.com/Ascend910"
        assert node["status"]["allocatable"][key] == "8"
        assert p["spec"]["containers"][0]["resources"]["limits"][key] == "8"
        # the operator's ray start carries the group's Ray node labels; the node name follows
        c = p["spec"]["containers"][0]
        start = " ".join(c.get("command", []) + c.get("args", []))
        assert f"aicc.io/accelerator={group}" in start, start
        assert any(e["name"] == "RAY_OVERRIDE_LABELS" for e in c["env"])

    status = wait("the RayCluster's status", lambda: (s := kube.request(
        "GET", f"/apis/ray.io/v1/namespaces/{NS}/rayclusters/{ray}").get("status", {})).get(
        "readyWorkerReplicas") == 5 and s, 60, kube)
    assert status["availableWorkerReplicas"] == 5 and status["desiredWorkerReplicas"] == 5
