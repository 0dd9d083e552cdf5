"""`aicc kube inventory` and `aicc kube sync-quotas` as an admin runs them."""

from __future__ import annotations

from pathlib import Path

import yaml
from typer.testing import CliRunner

from scheduler.centerfile import build_center
from scheduler.cli import build
from tests.kube.cluster import cluster
from tests.kube.fake_api import FakeKube


def run(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(build(), list(args))


def test_inventory_prints_a_center_file_that_serve_accepts(fake_kube: FakeKube, tmp_path: Path) -> None:
    fake_kube.nodes = cluster()
    kc = str(fake_kube.kubeconfig(tmp_path / "kubeconfig"))
    tenants = tmp_path / "tenants.yaml"
    tenants.write_text(yaml.safe_dump({"priority_classes": {"normal": 1, "urgent": 9},
                                       "tenants": [{"name": "research", "guaranteed": "2P", "limit": "5P"}]}))
    result = run("kube", "inventory", "--kubeconfig", kc, "--name", "lab", "--tenants-from", str(tenants))
    assert result.exit_code == 0, result.output
    data = yaml.safe_load(result.stdout)
    cfg = build_center(data)
    assert cfg.center.name == "lab" and sorted(cfg.tenants) == ["research"]
    assert cfg.priority_classes == {"normal": 1, "urgent": 9}
    assert len(cfg.center.nodes) == 5
    assert "skipped gpu-odd" in result.stderr and "skipped cpu-1" in result.stderr
    values = run("kube", "inventory", "--kubeconfig", kc, "--as-values")
    assert values.exit_code == 0 and build_center(yaml.safe_load(values.stdout)["center"]["file"])
    as_json = run("kube", "inventory", "--kubeconfig", kc, "-o", "json")
    assert as_json.exit_code == 0 and as_json.stdout.lstrip().startswith("{")


def test_inventory_says_why_it_cannot_build_a_center(fake_kube: FakeKube, tmp_path: Path) -> None:
    kc = str(fake_kube.kubeconfig(tmp_path / "kubeconfig"))
    empty = run("kube", "inventory", "--kubeconfig", kc)
    assert empty.exit_code == 1 and "no node offers an accelerator" in empty.stderr
    fake_kube.nodes = cluster()
    big = tmp_path / "big.yaml"
    big.write_text(yaml.safe_dump({"tenants": [{"name": "huge", "guaranteed": "100P", "limit": "100P"}]}))
    over = run("kube", "inventory", "--kubeconfig", kc, "--tenants-from", str(big))
    assert over.exit_code == 1 and "guarantees sum beyond the center's capacity" in over.stderr
    missing = run("kube", "inventory", "--kubeconfig", str(tmp_path / "nope"))
    assert missing.exit_code == 1 and "cannot load the Kubernetes configuration" in missing.stderr


def test_sync_quotas_dry_run_then_apply_twice(fake_kube: FakeKube, tmp_path: Path) -> None:
    kc = str(fake_kube.kubeconfig(tmp_path / "kubeconfig"))
    dry = run("kube", "sync-quotas", "--dry-run", "-o", "yaml")
    assert dry.exit_code == 0
    assert len(yaml.safe_load(dry.stdout)) == 6 and fake_kube.requests == []
    first = run("kube", "sync-quotas", "--kubeconfig", kc)
    assert first.exit_code == 0, first.output
    assert "aicc-large-models" in first.stdout and "requests.nvidia.com/gpu=1024" in first.stdout
    assert len(fake_kube.namespaces) == 6
    again = run("kube", "sync-quotas", "--kubeconfig", kc, "-o", "json")
    assert again.exit_code == 0
    assert all(not row["namespace_created"] for row in yaml.safe_load(again.stdout))
