"""Kubernetes Node objects for a center: what a GPU operator and an Ascend device plugin
would have labelled, with the allocatable resources the kubelet would report."""

from __future__ import annotations

from typing import Any

from scheduler.domain import Center, Node, NodeState
from tests.k8s.control_plane import KWOK_ANNOTATION, ControlPlane

#: The labels each accelerator type's node carries (NVIDIA GPU feature discovery; Ascend plugin).
PRODUCT_LABELS = {
    "a800": {"nvidia.com/gpu.product": "NVIDIA-A800-SXM4-80GB", "nvidia.com/gpu.count": "8"},
    "ascend910b": {"accelerator": "huawei-Ascend910", "accelerator-type": "module-910b-8"},
}
NOT_READY = "aicc.io/test-not-ready"


def node_object(node: Node, center: Center) -> dict[str, Any]:
    accel = center.accelerators[node.accelerator]
    resources = {"cpu": str(node.cpus), "memory": str(node.memory_bytes), "pods": "110",
                 accel.vendor_resource: str(node.devices)}
    annotations = {KWOK_ANNOTATION[0]: KWOK_ANNOTATION[1]}
    if node.state is NodeState.DOWN:
        annotations[NOT_READY] = "true"
    return {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": node.name, "annotations": annotations,
                     "labels": {"kubernetes.io/hostname": node.name, "type": "kwok",
                                "aicc.io/rack": node.rack, "aicc.io/pool": node.pool,
                                **PRODUCT_LABELS[node.accelerator]}},
        "spec": {"unschedulable": True} if node.state is NodeState.CORDONED else {},
        "status": {"capacity": resources, "allocatable": resources},
    }


def create_nodes(kube: ControlPlane, center: Center) -> None:
    for node in center.nodes:
        kube.request("POST", "/api/v1/nodes", node_object(node, center))


def ready_states(kube: ControlPlane) -> dict[str, str]:
    """Node name -> its Ready condition's status ("" while kwok has not set one)."""
    out = {}
    for item in kube.request("GET", "/api/v1/nodes")["items"]:
        ready = [c["status"] for c in item.get("status", {}).get("conditions") or [] if c["type"] == "Ready"]
        out[item["metadata"]["name"]] = ready[0] if ready else ""
    return out
