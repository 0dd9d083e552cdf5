"""A small heterogeneous cluster, as real Node objects: A800 and Ascend 910B nodes
in two racks, a cordoned one, a NotReady one, a CPU-only one and an unknown GPU.
(The same inventory against a real kube-apiserver is in tests/k8s.)"""

from __future__ import annotations

import uuid
from typing import Any

CREATED = "2026-11-01T08:00:00Z"

A800 = {"nvidia.com/gpu.product": "NVIDIA-A800-SXM4-80GB", "nvidia.com/gpu.count": "8"}
ASCEND = {"accelerator": "huawei-Ascend910", "accelerator-type": "module-910b-8"}


def cluster() -> list[dict[str, Any]]:
    return [
        make_node("gpu-a-1", labels={**A800, "aicc.io/rack": "rack-a"}, allocatable={"nvidia.com/gpu": "8"}),
        make_node("gpu-a-2", labels={**A800, "aicc.io/rack": "rack-a"}, allocatable={"nvidia.com/gpu": "8"},
                  unschedulable=True),
        make_node("gpu-b-1", labels={**A800, "aicc.io/rack": "rack-b"}, allocatable={"nvidia.com/gpu": "8"},
                  ready=False),
        make_node("npu-c-1", labels={**ASCEND, "aicc.io/rack": "rack-c"},
                  allocatable={"huawei.com/Ascend910": "8", "cpu": "191", "memory": "1536Gi"}),
        make_node("npu-c-2", labels={**ASCEND, "aicc.io/rack": "rack-c"},
                  allocatable={"huawei.com/Ascend910": "8", "cpu": "191", "memory": "1536Gi"}),
        make_node("cpu-1", labels={"node-role.kubernetes.io/control-plane": ""}),
        make_node("gpu-odd", labels={"nvidia.com/gpu.product": "NVIDIA-GeForce-RTX-4090"},
                  allocatable={"nvidia.com/gpu": "2"}),
    ]


def make_node(name: str, *, labels: dict[str, str] | None = None, allocatable: dict[str, str] | None = None,
              unschedulable: bool = False, ready: bool = True) -> dict[str, Any]:
    """A Node as the API returns it (a GPU node of a kubeadm cluster, trimmed of images)."""
    alloc = {"cpu": "127500m", "ephemeral-storage": "1797936245926", "hugepages-1Gi": "0",
             "hugepages-2Mi": "0", "memory": "2113602800Ki", "pods": "110", **(allocatable or {})}
    spec: dict[str, Any] = {"podCIDR": "10.244.1.0/24", "podCIDRs": ["10.244.1.0/24"]}
    if unschedulable:
        spec["unschedulable"] = True
        spec["taints"] = [{"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule",
                           "timeAdded": CREATED}]
    return {
        "metadata": {
            "name": name, "uid": str(uuid.uuid5(uuid.NAMESPACE_DNS, name)), "resourceVersion": "4242",
            "creationTimestamp": CREATED,
            "labels": {"kubernetes.io/arch": "amd64", "kubernetes.io/hostname": name,
                       "kubernetes.io/os": "linux", **(labels or {})},
            "annotations": {"node.alpha.kubernetes.io/ttl": "0",
                            "volumes.kubernetes.io/controller-managed-attach-detach": "true"},
        },
        "spec": spec,
        "status": {
            "capacity": {**alloc, "cpu": "128", "memory": "2113705200Ki"},
            "allocatable": alloc,
            "conditions": [
                {"type": "MemoryPressure", "status": "False", "reason": "KubeletHasSufficientMemory",
                 "message": "kubelet has sufficient memory available",
                 "lastHeartbeatTime": CREATED, "lastTransitionTime": CREATED},
                {"type": "Ready", "status": "True" if ready else "Unknown",
                 "reason": "KubeletReady" if ready else "NodeStatusUnknown",
                 "message": "kubelet is posting ready status" if ready else "Kubelet stopped posting node status.",
                 "lastHeartbeatTime": CREATED, "lastTransitionTime": CREATED},
            ],
            "addresses": [{"type": "InternalIP", "address": "192.0.2.10"}, {"type": "Hostname", "address": name}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {"machineID": "0" * 32, "systemUUID": str(uuid.uuid5(uuid.NAMESPACE_URL, name)),
                         "bootID": str(uuid.uuid4()), "kernelVersion": "5.15.0-105-generic",
                         "osImage": "Ubuntu 22.04.4 LTS", "containerRuntimeVersion": "containerd://1.7.13",
                         "kubeletVersion": "v1.30.2", "kubeProxyVersion": "v1.30.2",
                         "operatingSystem": "linux", "architecture": "amd64"},
        },
    }


