"""The center: accelerator catalog, node pools of one type, racks, nodes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property

from scheduler.domain.units import GFLOPS_PER_TFLOPS

#: The precision that quotas are normalized in: fp16 dense, as centers sell it.
QUOTA_PRECISION = "fp16"


@dataclass(frozen=True, slots=True)
class AcceleratorType:
    """One kind of device. ``tflops`` is peak dense TFLOPS per precision."""

    name: str
    vendor_resource: str  # Kubernetes extended resource, e.g. nvidia.com/gpu
    ray_resource: str  # Ray resource name, e.g. GPU or NPU
    tflops: Mapping[str, float]
    memory_bytes: int

    @property
    def gflops(self) -> int:
        """Normalized compute of one device, in whole GFLOPS."""
        return round(self.tflops[QUOTA_PRECISION] * GFLOPS_PER_TFLOPS)


class NodeState(StrEnum):
    READY = "ready"
    CORDONED = "cordoned"  # runs what it has, takes nothing new
    DOWN = "down"


@dataclass(frozen=True, slots=True)
class Node:
    name: str
    pool: str
    rack: str
    accelerator: str
    devices: int
    cpus: int
    memory_bytes: int
    state: NodeState = NodeState.READY

    @property
    def schedulable(self) -> bool:
        return self.state is NodeState.READY


@dataclass(frozen=True, slots=True)
class Pool:
    name: str
    accelerator: str
    nodes: tuple[str, ...]


@dataclass(frozen=True)
class Center:
    """An immutable picture of the center; cordoning makes a new one."""

    name: str
    accelerators: Mapping[str, AcceleratorType]
    nodes: tuple[Node, ...]
    _by_name: dict[str, Node] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_name", {n.name: n for n in self.nodes})

    def node(self, name: str) -> Node:
        return self._by_name[name]

    def has_node(self, name: str) -> bool:
        return name in self._by_name

    @cached_property
    def pools(self) -> tuple[Pool, ...]:
        names: dict[str, list[str]] = {}
        accel: dict[str, str] = {}
        for n in self.nodes:
            names.setdefault(n.pool, []).append(n.name)
            accel[n.pool] = n.accelerator
        return tuple(Pool(p, accel[p], tuple(ns)) for p, ns in names.items())

    @cached_property
    def racks(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(n.rack for n in self.nodes))

    def devices_by_type(self, *, schedulable_only: bool = False) -> dict[str, int]:
        out = dict.fromkeys(self.accelerators, 0)
        for n in self.nodes:
            if not schedulable_only or n.schedulable:
                out[n.accelerator] += n.devices
        return out

    def capacity_gflops(self, *, schedulable_only: bool = False) -> int:
        return sum(
            self.accelerators[t].gflops * count
            for t, count in self.devices_by_type(schedulable_only=schedulable_only).items()
        )

    def with_node_state(self, name: str, state: NodeState) -> Center:
        nodes = tuple(
            Node(n.name, n.pool, n.rack, n.accelerator, n.devices, n.cpus, n.memory_bytes, state)
            if n.name == name
            else n
            for n in self.nodes
        )
        return Center(self.name, self.accelerators, nodes)
