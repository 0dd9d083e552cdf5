"""One namespace per tenant with a ResourceQuota mirroring its limit: created once,
server-side applied with a field manager, idempotent on every later run."""

from __future__ import annotations

from pathlib import Path

import pytest

from scheduler.centerfile import build_center, load_center
from scheduler.kube.catalog import default_catalog
from scheduler.kube.inventory import center_file, inventory_from_nodes
from scheduler.kube.quotas import (
    QUOTA_NAME,
    NamespaceNameError,
    apply_tenant_quotas,
    plan_tenant_quotas,
)
from tests.kube.cluster import cluster
from tests.kube.fake_api import FakeKube

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


def test_the_610p_center_gets_six_namespaces_within_its_device_counts() -> None:
    plans = plan_tenant_quotas(load_center(), prefix="t-")
    assert [p.namespace for p in plans] == ["t-finance", "t-large-models", "t-manufacturing", "t-metaverse",
                                            "t-smart-city", "t-vr"]
    big = next(p for p in plans if p.tenant == "large-models")
    assert big.hard == {"requests.huawei.com/Ascend910": "912", "requests.nvidia.com/gpu": "1024"}
    with pytest.raises(NamespaceNameError):
        plan_tenant_quotas(load_center(), prefix="x" * 60)


def test_apply_creates_namespaces_and_quotas_then_is_idempotent(fake_kube: FakeKube, tmp_path: Path) -> None:
    from scheduler.kube.client import api_client

    client = api_client(str(fake_kube.kubeconfig(tmp_path / "kubeconfig")))
    plans = plan_tenant_quotas(small_center())
    first = apply_tenant_quotas(client, plans)
    assert [(r.namespace, r.namespace_created) for r in first] == [("aicc-prod", True), ("aicc-research", True)]
    assert first[1].quota == {"requests.huawei.com/Ascend910": "15", "requests.nvidia.com/gpu": "16"}
    ns = fake_kube.namespaces["aicc-research"]
    assert ns["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "aicc"
    assert ns["metadata"]["labels"]["aicc.io/tenant"] == "research"
    quota = fake_kube.quotas[("aicc-research", QUOTA_NAME)]
    assert quota["metadata"]["managedFields"][0]["manager"] == "aicc"
    patches = [(p, c) for m, p, c in fake_kube.requests if m == "PATCH"]
    assert all(c == "application/apply-patch+yaml" for _, c in patches)
    assert all("fieldManager=aicc" in p and "force=true" in p for p, _ in patches)

    second = apply_tenant_quotas(client, plans)  # 409 AlreadyExists is success
    assert [r.namespace_created for r in second] == [False, False]
    assert [r.quota for r in second] == [r.quota for r in first]
    assert len(fake_kube.namespaces) == 2 and len(fake_kube.quotas) == 2


def test_a_lowered_limit_is_applied_over_the_old_quota(fake_kube: FakeKube, tmp_path: Path) -> None:
    from scheduler.kube.client import api_client

    client = api_client(str(fake_kube.kubeconfig(tmp_path / "kubeconfig")))
    apply_tenant_quotas(client, plan_tenant_quotas(small_center()))
    inv = inventory_from_nodes(cluster(), default_catalog())
    lowered = build_center(center_file(inv.center, [{"name": "research", "guaranteed": "1P", "limit": "1P"}]))
    (result,) = apply_tenant_quotas(client, plan_tenant_quotas(lowered))
    assert result.quota == {"requests.huawei.com/Ascend910": "3", "requests.nvidia.com/gpu": "3"}
    assert fake_kube.quotas[("aicc-research", QUOTA_NAME)]["spec"]["hard"] == result.quota


def test_an_api_error_other_than_409_is_raised(fake_kube: FakeKube, tmp_path: Path) -> None:
    from kubernetes.client.exceptions import ApiException

    from scheduler.kube.client import api_client

    path = fake_kube.kubeconfig(tmp_path / "kubeconfig")
    path.write_text(path.read_text().replace("fake-token-for-tests", "wrong"))
    with pytest.raises(ApiException) as info:
        apply_tenant_quotas(api_client(str(path)), plan_tenant_quotas(small_center()))
    assert info.value.status == 401
