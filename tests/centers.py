"""The small center the API, service and security tests run on."""

from __future__ import annotations

from typing import Any

from scheduler.centerfile import CenterConfig, build_center

#: 4 nodes x 8 a800 = 32 devices = 9.984P; acme and beta are guaranteed 10 devices each.
CENTER: dict[str, Any] = {
    "name": "test",
    "accelerators": [{"name": "a800", "vendor_resource": "nvidia.com/gpu", "ray_resource": "GPU",
                      "memory": "80Gi", "tflops": {"fp16": 312}}],
    "pools": [{"name": "a800", "accelerator": "a800", "racks": 2, "nodes_per_rack": 2,
               "devices_per_node": 8, "cpus_per_node": 128, "memory_per_node": "1Ti"}],
    "tenants": [{"name": "acme", "guaranteed": "3.12P", "limit": "6.24P"},
                {"name": "beta", "guaranteed": "3.12P", "limit": "9.984P"}],
}


def small_center() -> CenterConfig:
    return build_center(CENTER)
