"""The center as the cluster has it: one aicc node per Kubernetes node that
offers accelerators, its type from the catalog, its rack from a topology label.

Cordoned nodes (``spec.unschedulable``) become CORDONED and NotReady nodes DOWN,
so the scheduler keeps what runs there but places nothing new. Node names are
the Kubernetes names: the monitor joins device exporters on them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from scheduler.domain import AcceleratorType, Center, Node, NodeState
from scheduler.domain.units import format_memory, parse_memory
from scheduler.kube.catalog import Catalog


@dataclass(frozen=True)
class InventoryOptions:
    #: The node label whose value is the node's rack (e.g. set by the installer).
    rack_label: str = "aicc.io/rack"
    #: The node label whose value names the node's pool; absent: the accelerator type.
    pool_label: str = "aicc.io/pool"
    center_name: str = "kubernetes"
    #: Only nodes matching this Kubernetes label selector, e.g. ``aicc.io/managed=true``.
    label_selector: str | None = None


@dataclass(frozen=True)
class Inventory:
    center: Center
    #: ``"node: why"`` for each node left out (no accelerator, unknown product...).
    skipped: tuple[str, ...]


_SUFFIX = {"": 1, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18,
           "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_QUANTITY = re.compile(r"^([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(m|[kMGTPE]i?|Ki)?$")


def parse_quantity(value: str | int | float) -> float:
    """A Kubernetes quantity (``127500m``, ``2113602800Ki``, ``8``) as a number."""
    if isinstance(value, int | float):
        return float(value)
    m = _QUANTITY.match(value.strip())
    if m is None:
        raise ValueError(f"not a Kubernetes quantity: {value!r}")
    number, suffix = float(m.group(1)), m.group(2) or ""
    return number / 1000 if suffix == "m" else number * _SUFFIX[suffix]


def node_state(node: Mapping[str, Any]) -> NodeState:
    conditions = node.get("status", {}).get("conditions") or []
    ready = next((c for c in conditions if c.get("type") == "Ready"), None)
    if ready is None or ready.get("status") != "True":
        return NodeState.DOWN
    if node.get("spec", {}).get("unschedulable"):
        return NodeState.CORDONED
    return NodeState.READY


def _pool_name(value: str) -> str:
    name = re.sub(r"[^a-z0-9-]+", "-", value.lower()).strip("-")[:63].strip("-")
    return name or "pool"


def inventory_from_nodes(items: Iterable[Mapping[str, Any]], catalog: Catalog,
                         options: InventoryOptions = InventoryOptions()) -> Inventory:
    """Pure: Kubernetes Node objects (as the API returns them) -> the center."""
    nodes: list[Node] = []
    used: dict[str, AcceleratorType] = {}
    skipped: list[str] = []
    pool_accel: dict[str, str] = {}
    for item in sorted(items, key=lambda n: n["metadata"]["name"]):
        name = item["metadata"]["name"]
        labels: dict[str, str] = item["metadata"].get("labels") or {}
        allocatable: dict[str, Any] = item.get("status", {}).get("allocatable") or {}
        offered = [(r, int(parse_quantity(allocatable[r]))) for r in catalog.resources if r in allocatable]
        offered = [(r, n) for r, n in offered if n > 0]
        if not offered:
            skipped.append(f"{name}: no accelerators allocatable ({', '.join(catalog.resources)})")
            continue
        if len(offered) > 1:
            skipped.append(f"{name}: more than one accelerator resource: {', '.join(r for r, _ in offered)}")
            continue
        resource, devices = offered[0]
        accel = catalog.identify(resource, labels)
        if accel is None:
            products = {k: v for k, v in labels.items() if k.startswith(("nvidia.com/gpu.product", "accelerator"))}
            skipped.append(f"{name}: no catalog entry for {resource} with labels {products or '(none)'}")
            continue
        if devices > 64:
            skipped.append(f"{name}: {devices} devices of {resource}: more than 64 per node")
            continue
        used[accel.name] = accel
        pool = _pool_name(labels.get(options.pool_label) or accel.name)
        if pool_accel.setdefault(pool, accel.name) != accel.name:
            pool = _pool_name(f"{pool}-{accel.name}")
            pool_accel.setdefault(pool, accel.name)
        cpus = max(1, int(parse_quantity(allocatable.get("cpu", "1"))))
        memory = int(parse_quantity(allocatable.get("memory", "0")))
        rack = labels.get(options.rack_label) or name
        nodes.append(Node(name, pool, rack, accel.name, devices, cpus, memory, node_state(item)))
    accelerators = {n: used[n] for n in sorted(used)}
    return Inventory(Center(options.center_name, accelerators, tuple(nodes)), tuple(skipped))


def list_nodes(api_client: Any, label_selector: str | None = None, page: int = 500) -> list[dict[str, Any]]:
    """Every Node, as JSON (so that any client version reads the same shapes), page by page."""
    from kubernetes import client

    api: Any = client.CoreV1Api(api_client)
    items: list[dict[str, Any]] = []
    token: str | None = None
    while True:
        kwargs: dict[str, Any] = {"limit": page, "_preload_content": False}
        if label_selector:
            kwargs["label_selector"] = label_selector
        if token:
            kwargs["_continue"] = token
        body = json.loads(api.list_node(**kwargs).data)
        items.extend(body.get("items") or [])
        token = (body.get("metadata") or {}).get("continue")
        if not token:
            return items


def build_inventory(api_client: Any, catalog: Catalog, options: InventoryOptions = InventoryOptions()) -> Inventory:
    return inventory_from_nodes(list_nodes(api_client, options.label_selector), catalog, options)


def _memory_text(nbytes: int) -> str | int:
    text = format_memory(nbytes)
    return text if parse_memory(text) == nbytes else nbytes


def center_file(center: Center, tenants: Iterable[Mapping[str, Any]] = (),
                priority_classes: Mapping[str, int] | None = None) -> dict[str, Any]:
    """The center as a center file (pools with explicit nodes): ``aicc serve --center`` reads it."""
    pools: dict[str, dict[str, Any]] = {}
    for n in center.nodes:
        pool = pools.setdefault(n.pool, {"name": n.pool, "accelerator": n.accelerator, "nodes": []})
        entry: dict[str, Any] = {"name": n.name, "rack": n.rack, "devices": n.devices, "cpus": n.cpus,
                                 "memory": _memory_text(n.memory_bytes)}
        if n.state is not NodeState.READY:
            entry["state"] = n.state.value
        pool["nodes"].append(entry)
    out: dict[str, Any] = {
        "name": center.name,
        "accelerators": [
            {"name": a.name, "vendor_resource": a.vendor_resource, "ray_resource": a.ray_resource,
             "memory": _memory_text(a.memory_bytes), "tflops": dict(a.tflops)}
            for a in center.accelerators.values()
        ],
        "pools": list(pools.values()),
        "priority_classes": dict(priority_classes or {"high": 300, "normal": 200, "low": 100}),
        "tenants": [dict(t) for t in tenants],
    }
    return out
