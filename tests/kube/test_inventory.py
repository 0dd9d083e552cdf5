"""The center built from the cluster's nodes: types from allocatable resources and
product labels, racks from the topology label, cordoned and NotReady nodes kept."""

from __future__ import annotations

from pathlib import Path

import pytest

from scheduler.centerfile import CenterFileError, build_center
from scheduler.domain import NodeState
from scheduler.kube.catalog import CatalogError, default_catalog, load_catalog
from scheduler.kube.inventory import (
    InventoryOptions,
    center_file,
    inventory_from_nodes,
    parse_quantity,
)
from tests.kube.cluster import cluster, make_node


def test_nodes_become_a_center_with_types_racks_and_states() -> None:
    inv = inventory_from_nodes(cluster(), default_catalog())
    c = inv.center
    assert [n.name for n in c.nodes] == ["gpu-a-1", "gpu-a-2", "gpu-b-1", "npu-c-1", "npu-c-2"]
    by = {n.name: n for n in c.nodes}
    assert by["gpu-a-1"].accelerator == "a800" and by["gpu-a-1"].devices == 8
    assert by["npu-c-1"].accelerator == "ascend910b" and c.accelerators["ascend910b"].ray_resource == "NPU"
    assert c.accelerators["a800"].vendor_resource == "nvidia.com/gpu"
    assert (by["gpu-a-1"].rack, by["gpu-b-1"].rack, by["npu-c-2"].rack) == ("rack-a", "rack-b", "rack-c")
    assert by["gpu-a-1"].state is NodeState.READY
    assert by["gpu-a-2"].state is NodeState.CORDONED
    assert by["gpu-b-1"].state is NodeState.DOWN
    assert by["gpu-a-1"].cpus == 127 and by["gpu-a-1"].memory_bytes == 2113602800 * 1024
    assert by["npu-c-1"].cpus == 191 and by["npu-c-1"].memory_bytes == 1536 * 2**30
    assert c.devices_by_type() == {"a800": 24, "ascend910b": 16}
    assert c.devices_by_type(schedulable_only=True) == {"a800": 8, "ascend910b": 16}
    assert c.capacity_gflops() == 24 * 312_000 + 16 * 320_000
    assert [s.split(":")[0] for s in inv.skipped] == ["cpu-1", "gpu-odd"]
    assert "NVIDIA-GeForce-RTX-4090" in inv.skipped[1]


def test_the_center_file_it_prints_loads_back_to_the_same_center() -> None:
    inv = inventory_from_nodes(cluster(), default_catalog(), InventoryOptions(center_name="lab"))
    tenants = [{"name": "research", "guaranteed": "2P", "limit": "5P", "caps": {"a800": 16}}]
    cfg = build_center(center_file(inv.center, tenants))
    assert cfg.center == inv.center
    assert cfg.tenants["research"].quota.caps == {"a800": 16}
    text = center_file(inv.center)
    assert text["pools"][0]["nodes"][1] == {"name": "gpu-a-2", "rack": "rack-a", "devices": 8, "cpus": 127,
                                            "memory": "2113602800Ki", "state": "cordoned"}


def test_rack_and_pool_labels_are_configurable_and_a_missing_rack_is_the_node_itself() -> None:
    nodes = [make_node("n1", labels={"topo/rack": "r9", "pool": "Train_Pool",
                                     "nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"},
                       allocatable={"nvidia.com/gpu": "8"}),
             make_node("n2", labels={"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3", "pool": "Train_Pool"},
                       allocatable={"nvidia.com/gpu": "4"}),
             make_node("n3", labels={"nvidia.com/gpu.product": "NVIDIA-A800-SXM4-80GB", "pool": "Train_Pool"},
                       allocatable={"nvidia.com/gpu": "8"})]
    inv = inventory_from_nodes(nodes, default_catalog(), InventoryOptions(rack_label="topo/rack", pool_label="pool"))
    assert [(n.name, n.pool, n.rack, n.accelerator) for n in inv.center.nodes] == [
        ("n1", "train-pool", "r9", "h100"), ("n2", "train-pool", "n2", "h100"),
        ("n3", "train-pool-a800", "n3", "a800")]
    build_center(center_file(inv.center))  # a pool holds one accelerator type


def test_a_catalog_file_maps_products_to_tflops(tmp_path: Path) -> None:
    f = tmp_path / "catalog.yaml"
    f.write_text("accelerators:\n"
                 "  - {name: rtx4090, vendor_resource: nvidia.com/gpu, ray_resource: GPU, memory: 24Gi,\n"
                 "     tflops: {fp16: 165}, match: ['RTX-4090']}\n")
    inv = inventory_from_nodes(cluster(), load_catalog(f))
    assert [n.name for n in inv.center.nodes] == ["gpu-odd"]
    assert inv.center.capacity_gflops() == 2 * 165_000
    f.write_text("accelerators: [{name: x, vendor_resource: a/b, ray_resource: GPU, memory: 1Gi, "
                 "tflops: {fp32: 1}, match: [x]}]\n")
    with pytest.raises(CatalogError, match="tflops: must give fp16"):
        load_catalog(f)
    f.write_text("accelerators: [{name: x, vendor_resource: a/b, ray_resource: GPU, memory: 1Gi, "
                 "tflops: {fp16: 1}, match: ['(']}]\n")
    with pytest.raises(CatalogError, match=r"accelerators\.0\.match"):
        load_catalog(f)


def test_explicit_node_pools_are_checked_like_grid_pools() -> None:
    base = {"name": "c", "accelerators": [{"name": "a800", "vendor_resource": "nvidia.com/gpu",
                                           "ray_resource": "GPU", "memory": "80Gi", "tflops": {"fp16": 312}}]}
    node = {"name": "n1", "rack": "r1", "devices": 8, "cpus": 64, "memory": "1Ti"}
    both = {**base, "pools": [{"name": "p", "accelerator": "a800", "racks": 1, "nodes": [node]}]}
    with pytest.raises(CenterFileError, match="either the grid fields or nodes"):
        build_center(both)
    neither = {**base, "pools": [{"name": "p", "accelerator": "a800"}]}
    with pytest.raises(CenterFileError, match="or a list of nodes"):
        build_center(neither)
    twice = {**base, "pools": [{"name": "p", "accelerator": "a800", "nodes": [node]},
                               {"name": "q", "accelerator": "a800", "nodes": [node]}]}
    with pytest.raises(CenterFileError, match="duplicate name 'n1'"):
        build_center(twice)
    bad_state = {**base, "pools": [{"name": "p", "accelerator": "a800", "nodes": [{**node, "state": "gone"}]}]}
    with pytest.raises(CenterFileError, match=r"pools\.0\.nodes\.0\.state"):
        build_center(bad_state)


@pytest.mark.parametrize(("text", "value"), [("127500m", 127.5), ("8", 8), ("2113602800Ki", 2113602800 * 1024),
                                             ("1536Gi", 1536 * 2**30), ("1.5", 1.5), ("2k", 2000)])
def test_kubernetes_quantities(text: str, value: float) -> None:
    assert parse_quantity(text) == value
