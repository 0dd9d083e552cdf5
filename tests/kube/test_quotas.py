"""One namespace per tenant with a ResourceQuota mirroring its limit: the plan. (Applying
it, against a real kube-apiserver, is in tests/k8s.)"""

from __future__ import annotations

import pytest

from scheduler.centerfile import build_center, load_center
from scheduler.kube.catalog import default_catalog
from scheduler.kube.inventory import center_file, inventory_from_nodes
from scheduler.kube.quotas import (
    NamespaceNameError,
    plan_tenant_quotas,
)
from tests.kube.cluster import cluster

TENANTS = [
    {"name": "research", "guaranteed": "2P", "limit": "5P"},
    {"name": "prod", "guaranteed": "1P", "limit": "3P", "caps": {"a800": 4}},
]


def small_center():  # type: ignore[no-untyped-def]
    inv = inventory_from_nodes(cluster(), default_catalog())
    return build_center(center_file(inv.center, TENANTS))


def test_quota_is_the_most_devices_the_limit_buys_capped_by_caps_and_the_center() -> None:
    plans = {p.tenant: p for p in plan_tenant_quotas(small_center())}
    # 5P buys 16 a800 (312T) or 15 ascend910b (320T); the center has 24 and 16.
    assert plans["research"].hard == {"requests.huawei.com/Ascend910": "15", "requests.nvidia.com/gpu": "16"}
    # 3P buys 9 of either; caps hold a800 at 4.
    assert plans["prod"].hard == {"requests.huawei.com/Ascend910": "9", "requests.nvidia.com/gpu": "4"}
    assert plans["prod"].namespace == "aicc-prod"


def test_in_a_tree_each_leaf_gets_a_namespace_within_its_ancestors_limits() -> None:
    inv = inventory_from_nodes(cluster(), default_catalog())
    tenants = [{"name": "bank", "guaranteed": "2P", "limit": "3P", "caps": {"a800": 6}},
               {"name": "desk-a", "guaranteed": "1P", "limit": "5P", "parent": "bank"},
               {"name": "desk-b", "guaranteed": "1P", "limit": "2P", "parent": "bank"}]
    plans = {p.tenant: p for p in plan_tenant_quotas(build_center(center_file(inv.center, tenants)))}
    assert sorted(plans) == ["desk-a", "desk-b"]  # the parent runs no jobs: no namespace
    # desk-a's 5P would buy 16 a800, but bank's 3P buys 9 and its cap holds a800 at 6
    assert plans["desk-a"].hard == {"requests.huawei.com/Ascend910": "9", "requests.nvidia.com/gpu": "6"}
    assert plans["desk-b"].hard == {"requests.huawei.com/Ascend910": "6", "requests.nvidia.com/gpu": "6"}


def test_the_610p_center_gets_six_namespaces_within_its_device_counts() -> None:
    plans = plan_tenant_quotas(load_center(), prefix="t-")
    assert [p.namespace for p in plans] == ["t-finance", "t-large-models", "t-manufacturing", "t-metaverse",
                                            "t-smart-city", "t-vr"]
    big = next(p for p in plans if p.tenant == "large-models")
    assert big.hard == {"requests.huawei.com/Ascend910": "912", "requests.nvidia.com/gpu": "1024"}
    with pytest.raises(NamespaceNameError):
        plan_tenant_quotas(load_center(), prefix="x" * 60)


def test_sync_quotas_dry_run_prints_the_plan_without_a_cluster() -> None:
    import yaml
    from typer.testing import CliRunner

    from scheduler.cli import build

    dry = CliRunner().invoke(build(), ["kube", "sync-quotas", "--dry-run", "-o", "yaml",
                                       "--kubeconfig", "/nonexistent"])
    assert dry.exit_code == 0, dry.output
    plan = yaml.safe_load(dry.stdout)
    assert len(plan) == 6 and plan[0]["namespace"] == "aicc-finance"
