"""How the center's nodes map to Ray's.

Embedded: every aicc node is a logical resource ``aicc_node:<name>`` (its
device count) on the one local Ray node, so a bundle that asks for it lands
"on" that node and Ray refuses more devices than the node has.
Attached: the center is built from Ray's alive nodes (their accelerator
resource and labels), and each bundle is pinned to its node by a label
selector on Ray's node id.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from scheduler.domain import AcceleratorType, Center, Node

NODE_RESOURCE_PREFIX = "aicc_node:"
NODE_ID_LABEL = "ray.io/node-id"
#: Labels a Ray node may carry to tell aicc what it is.
NAME_LABEL = "aicc.io/node"
RACK_LABEL = "aicc.io/rack"
POOL_LABEL = "aicc.io/pool"
ACCELERATOR_LABEL = "aicc.io/accelerator"
RAY_ACCELERATOR_LABEL = "ray.io/accelerator-type"


def node_resource(name: str) -> str:
    return f"{NODE_RESOURCE_PREFIX}{name}"


@dataclass(frozen=True, slots=True)
class NodeBinding:
    """Where one aicc node is in Ray: which Ray node, and how a bundle is pinned to it."""

    name: str
    ray_resource: str  # the accelerator's Ray resource: GPU, NPU, ...
    ray_node_id: str | None = None  # None: not known yet (embedded: the head)
    pin_resource: str | None = None  # embedded: aicc_node:<name>

    def bundle(self, devices: int, cpus: int = 0) -> tuple[dict[str, float], dict[str, str]]:
        """(resources, label selector) of one bundle of ``devices`` on this node."""
        res: dict[str, float] = {}
        if devices > 0:
            res[self.ray_resource] = float(devices)
        if cpus > 0:
            res["CPU"] = float(cpus)
        selector: dict[str, str] = {}
        if self.pin_resource is not None:
            res[self.pin_resource] = float(devices) if devices > 0 else 0.001
        elif self.ray_node_id is not None:
            selector[NODE_ID_LABEL] = self.ray_node_id
        if not res:
            res[self.ray_resource] = 0.001
        return res, selector


@dataclass(frozen=True)
class Topology:
    bindings: Mapping[str, NodeBinding]
    embedded: bool
    #: Put the job's CPUs per worker in its bundles (attached clusters with real CPUs).
    bundle_cpus: bool = False
    _by_ray: dict[str, tuple[str, ...]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_ray: dict[str, list[str]] = {}
        for b in self.bindings.values():
            if b.ray_node_id is not None:
                by_ray.setdefault(b.ray_node_id, []).append(b.name)
        object.__setattr__(self, "_by_ray", {k: tuple(v) for k, v in by_ray.items()})

    def binding(self, name: str) -> NodeBinding:
        try:
            return self.bindings[name]
        except KeyError:
            raise KeyError(f"node {name!r} is not known to Ray") from None

    def aicc_nodes_on(self, ray_node_id: str) -> tuple[str, ...]:
        return self._by_ray.get(ray_node_id, ())

    def with_head(self, head_node_id: str) -> Topology:
        """Embedded: every aicc node lives on the head."""
        if not self.embedded:
            return self
        return Topology({n: NodeBinding(b.name, b.ray_resource, head_node_id, b.pin_resource)
                         for n, b in self.bindings.items()}, True, self.bundle_cpus)


def embedded_topology(center: Center) -> Topology:
    return Topology({n.name: NodeBinding(n.name, center.accelerators[n.accelerator].ray_resource,
                                         None, node_resource(n.name))
                     for n in center.nodes}, embedded=True)


def _clean(name: str) -> str:
    out = "".join(c if c.isalnum() or c == "-" else "-" for c in name.lower()).strip("-")
    return out[:63] or "node"


def discover_center(ray_nodes: Iterable[Mapping[str, Any]], catalog: Mapping[str, AcceleratorType],
                    *, name: str = "ray", bundle_cpus: bool = True) -> tuple[Center, Topology]:
    """The center of an existing Ray cluster: one aicc node per alive Ray node with devices.

    ``ray_nodes`` are ``ray.nodes()`` rows (NodeID, Alive, Resources, Labels). A node's
    accelerator type is its ``aicc.io/accelerator`` label, else Ray's accelerator-type
    label if it names a catalog type, else the first catalog type whose Ray resource it
    has; its rack is ``aicc.io/rack`` (default ``rack-0``), its name ``aicc.io/node``
    (default ``ray-<first 12 hex of its node id>``).
    """
    by_resource: dict[str, str] = {}
    for a in catalog.values():
        by_resource.setdefault(a.ray_resource, a.name)
    nodes: list[Node] = []
    bindings: dict[str, NodeBinding] = {}
    for row in sorted(ray_nodes, key=lambda r: str(r.get("NodeID", ""))):
        if not row.get("Alive", row.get("alive", False)):
            continue
        node_id = str(row["NodeID"])
        res: Mapping[str, float] = row.get("Resources") or {}
        labels: Mapping[str, str] = row.get("Labels") or {}
        accel = labels.get(ACCELERATOR_LABEL)
        if accel is None:
            ray_type = labels.get(RAY_ACCELERATOR_LABEL, "").lower()
            accel = ray_type if ray_type in catalog else None
        if accel is None:
            accel = next((by_resource[r] for r in by_resource if res.get(r, 0) >= 1), None)
        if accel is None or accel not in catalog:
            continue  # no devices aicc schedules (e.g. a CPU-only head)
        devices = int(res.get(catalog[accel].ray_resource, 0))
        if devices < 1:
            continue
        node_name = _clean(labels.get(NAME_LABEL) or f"ray-{node_id[:12]}")
        if node_name in bindings:
            raise ValueError(f"two Ray nodes are both called {node_name!r} (label {NAME_LABEL})")
        nodes.append(Node(node_name, _clean(labels.get(POOL_LABEL) or accel), _clean(labels.get(RACK_LABEL) or "rack-0"),
                          accel, devices, int(res.get("CPU", 0)), int(res.get("memory", 0))))
        bindings[node_name] = NodeBinding(node_name, catalog[accel].ray_resource, node_id, None)
    if not nodes:
        raise ValueError("the Ray cluster has no alive node with accelerators of the catalog "
                         f"({', '.join(sorted(by_resource))})")
    used = {n.accelerator for n in nodes}
    center = Center(name, {k: v for k, v in catalog.items() if k in used}, tuple(nodes))
    return center, Topology(bindings, embedded=False, bundle_cpus=bundle_cpus)
