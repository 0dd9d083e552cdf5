"""`aicc kube inventory` against a real kube-apiserver: the 610P reference center as 242
kwok nodes (128 with 8 A800s, 114 with 8 Ascend 910Bs, in racks) comes back as exactly
the center of scheduler/data/center.yaml; a cordoned node cordoned, a NotReady one down."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from scheduler.centerfile import build_center, default_center_path, load_center
from scheduler.cli import build
from scheduler.domain import Center, NodeState
from tests.k8s.control_plane import ControlPlane
from tests.k8s.nodes import create_nodes, ready_states

pytestmark = pytest.mark.k8s

CORDONED, DOWN = "a800-r03-n02", "ascend-r07-n05"


def expected_center() -> Center:
    center = load_center().center
    states = {CORDONED: NodeState.CORDONED, DOWN: NodeState.DOWN}
    nodes = tuple(dataclasses.replace(n, state=states.get(n.name, n.state)) for n in center.nodes)
    return dataclasses.replace(center, nodes=nodes)


@pytest.fixture(scope="module")
def center_nodes(kube: ControlPlane) -> Center:
    center = expected_center()
    create_nodes(kube, center)
    deadline = time.monotonic() + 60
    while True:
        states = ready_states(kube)
        if sum(s == "True" for s in states.values()) == 241 and states.get(DOWN) == "False":
            return center
        if time.monotonic() > deadline:
            waiting = sorted(n for n, s in states.items() if s not in ("True", "False"))[:5]
            pytest.fail(f"kwok did not make the nodes Ready in 60 s (still waiting: {waiting});\n"
                        f"{kube.log_tail('kwok')}")
        time.sleep(0.5)


def inventory(kube: ControlPlane, *args: str) -> Any:
    result = CliRunner().invoke(build(), ["kube", "inventory", "--kubeconfig", str(kube.kubeconfig), *args])
    assert result.exit_code == 0, result.output
    return result


def test_the_610p_center_comes_back_exactly(kube: ControlPlane, center_nodes: Center) -> None:
    result = inventory(kube, "--name", "reference-610p", "--tenants-from", str(default_center_path()))
    data = yaml.safe_load(result.stdout)
    built = build_center(data)
    assert built.center == center_nodes
    assert len(built.center.nodes) == 242
    assert built.center.devices_by_type() == {"a800": 1024, "ascend910b": 912}
    assert sum(built.center.devices_by_type().values()) == 1936
    assert built.center.capacity_gflops() == 611_328_000  # 611.33 PFLOPS
    assert built.tenants == load_center().tenants
    assert result.stderr == ""  # no node skipped


def test_the_cordoned_node_is_cordoned_and_the_not_ready_one_down(kube: ControlPlane,
                                                                  center_nodes: Center) -> None:
    pools = yaml.safe_load(inventory(kube).stdout)["pools"]
    states = {n["name"]: n.get("state", "ready") for p in pools for n in p["nodes"]}
    assert states[CORDONED] == "cordoned" and states[DOWN] == "down"
    assert sorted(n for n, s in states.items() if s != "ready") == [CORDONED, DOWN]
    node = kube.request("GET", f"/api/v1/nodes/{DOWN}")
    ready = next(c for c in node["status"]["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "False" and ready["reason"] == "KubeletNotReady"  # set by kwok


def test_a_label_selector_and_helm_values_output(kube: ControlPlane, center_nodes: Center,
                                                tmp_path: Path) -> None:
    result = inventory(kube, "--selector", "aicc.io/pool=ascend", "--as-values")
    center = build_center(yaml.safe_load(result.stdout)["center"]["file"]).center
    assert len(center.nodes) == 114 and center.devices_by_type() == {"ascend910b": 912}


def test_it_says_which_nodes_it_left_out_and_why_it_cannot_build_a_center(
        kube: ControlPlane, center_nodes: Center, tmp_path: Path) -> None:
    odd = [("cpu-only", {}, {}), ("gpu-odd", {"nvidia.com/gpu.product": "NVIDIA-GeForce-RTX-4090"},
                                  {"nvidia.com/gpu": "2"})]
    for name, labels, extra in odd:
        resources = {"cpu": "64", "memory": "256Gi", "pods": "110", **extra}
        kube.request("POST", "/api/v1/nodes", {
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": {"aicc.io/test": "odd", **labels},
                         "annotations": {"kwok.x-k8s.io/node": "fake"}},
            "status": {"capacity": resources, "allocatable": resources}})
    run = CliRunner().invoke
    kc = str(kube.kubeconfig)
    left_out = run(build(), ["kube", "inventory", "--kubeconfig", kc, "-l", "aicc.io/test=odd"])
    assert left_out.exit_code == 1 and "no node offers an accelerator" in left_out.stderr
    assert "skipped cpu-only: no accelerators allocatable" in left_out.stderr
    assert "skipped gpu-odd: no catalog entry for nvidia.com/gpu" in left_out.stderr
    big = tmp_path / "big.yaml"
    big.write_text(yaml.safe_dump({"tenants": [{"name": "huge", "guaranteed": "700P", "limit": "700P"}]}))
    over = run(build(), ["kube", "inventory", "--kubeconfig", kc, "--tenants-from", str(big)])
    assert over.exit_code == 1 and "guarantees sum beyond the center's capacity" in over.stderr
    missing = run(build(), ["kube", "inventory", "--kubeconfig", str(tmp_path / "nope")])
    assert missing.exit_code == 1 and "cannot load the Kubernetes configuration" in missing.stderr
    for name, _, _ in odd:
        kube.request("DELETE", f"/api/v1/nodes/{name}")
