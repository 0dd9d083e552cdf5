"""Centers built for a trace: uniform GPU nodes in racks, or a given node list."""

from __future__ import annotations

from scheduler.domain import AcceleratorType, Center, Node

GIB = 1 << 30


def accelerator(name: str, tflops_fp16: float, memory_gib: int = 32) -> AcceleratorType:
    return AcceleratorType(name, "nvidia.com/gpu", "GPU", {"fp16": tflops_fp16}, memory_gib * GIB)


def uniform_center(name: str, accel: AcceleratorType, nodes: int, node_size: int = 8,
                   nodes_per_rack: int = 8, cpus: int = 96, memory_gib: int = 768) -> Center:
    """``nodes`` nodes of ``node_size`` devices, ``nodes_per_rack`` to a rack (the last may be short)."""
    out = []
    for i in range(nodes):
        rack = f"{name}-r{i // nodes_per_rack + 1:03d}"
        out.append(Node(f"{rack}-n{i % nodes_per_rack + 1:02d}", name, rack, accel.name, node_size,
                        cpus, memory_gib * GIB))
    return Center(name, {accel.name: accel}, tuple(out))
