"""A small heterogeneous cluster, as real Node objects: A800 and Ascend 910B nodes
in two racks, a cordoned one, a NotReady one, a CPU-only one and an unknown GPU."""

from __future__ import annotations

from typing import Any

from tests.kube.fake_api import make_node

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
