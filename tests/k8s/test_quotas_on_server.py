"""`aicc kube sync-quotas` against a real kube-apiserver, as the chart's service account
(its ClusterRole's permissions, not an admin's): a namespace and a ResourceQuota per tenant,
server-side applied; a second run changes nothing; the read-only role is refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from scheduler.centerfile import build_center, default_center_path, load_center
from scheduler.cli import build
from scheduler.kube.quotas import QUOTA_NAME, plan_tenant_quotas
from tests.deploy.chart import FULL_610P, Helm, one
from tests.k8s.control_plane import ControlPlane

pytestmark = pytest.mark.k8s


def chart_identity(kube: ControlPlane, helm: Helm, ns: str, values: tuple[Path, ...], path: Path) -> Path:
    """The chart's ServiceAccount, ClusterRole and binding made in ``ns``; a kubeconfig
    with a token the server issued for that service account (TokenRequest)."""
    docs = helm.manifests(values, namespace=ns)
    kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    for kind in ("ServiceAccount", "ClusterRole", "ClusterRoleBinding"):
        doc = one(docs, kind)
        doc["metadata"].setdefault("namespace", ns)
        kube.apply(doc)
    sa = one(docs, "ServiceAccount")["metadata"]["name"]
    issued = kube.request("POST", f"/api/v1/namespaces/{ns}/serviceaccounts/{sa}/token",
                          {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                           "spec": {"expirationSeconds": 3600}})
    return kube.write_kubeconfig(path, issued["status"]["token"], namespace=ns)


def sync(kubeconfig: Path, *args: str) -> Any:
    return CliRunner().invoke(build(), ["kube", "sync-quotas", "--kubeconfig", str(kubeconfig), "-o", "json",
                                        *args])


def snapshot(kube: ControlPlane, namespaces: list[str]) -> dict[str, tuple[str, str]]:
    out = {}
    for ns in namespaces:
        n = kube.request("GET", f"/api/v1/namespaces/{ns}")
        q = kube.request("GET", f"/api/v1/namespaces/{ns}/resourcequotas/{QUOTA_NAME}")
        out[ns] = (n["metadata"]["resourceVersion"], q["metadata"]["resourceVersion"])
    return out


def test_sync_quotas_as_the_charts_service_account_then_again_changes_nothing(
        kube: ControlPlane, helm: Helm, tmp_path: Path) -> None:
    kc = chart_identity(kube, helm, "aicc-system", FULL_610P, tmp_path / "sa.kubeconfig")
    plans = plan_tenant_quotas(load_center())
    first = sync(kc)
    assert first.exit_code == 0, first.output
    rows = yaml.safe_load(first.stdout)
    assert [(r["namespace"], r["namespace_created"]) for r in rows] == [(p.namespace, True) for p in plans]
    for plan in plans:
        quota = kube.request("GET", f"/api/v1/namespaces/{plan.namespace}/resourcequotas/{QUOTA_NAME}")
        assert quota["spec"]["hard"] == plan.hard
        managers = {(m["manager"], m["operation"]) for m in quota["metadata"]["managedFields"]}
        assert managers == {("aicc", "Apply")}
        ns = kube.request("GET", f"/api/v1/namespaces/{plan.namespace}")
        assert ns["metadata"]["labels"]["aicc.io/tenant"] == plan.tenant
        assert ns["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "aicc"
    big = kube.request("GET", f"/api/v1/namespaces/aicc-large-models/resourcequotas/{QUOTA_NAME}")
    assert big["spec"]["hard"] == {"requests.huawei.com/Ascend910": "912", "requests.nvidia.com/gpu": "1024"}

    before = snapshot(kube, [p.namespace for p in plans])
    again = sync(kc)
    assert again.exit_code == 0, again.output
    assert not any(r["namespace_created"] for r in yaml.safe_load(again.stdout))
    assert snapshot(kube, [p.namespace for p in plans]) == before  # not one write


def test_a_lowered_limit_is_applied_and_a_hand_added_field_stays(kube: ControlPlane, helm: Helm,
                                                                 tmp_path: Path) -> None:
    kc = chart_identity(kube, helm, "aicc-lower", FULL_610P, tmp_path / "sa.kubeconfig")
    center = tmp_path / "center.yaml"
    raw = yaml.safe_load(default_center_path().read_text())
    raw["tenants"] = [{"name": "lowered", "guaranteed": "10P", "limit": "20P"}]
    center.write_text(yaml.safe_dump(raw))
    build_center(raw)
    assert sync(kc, "--center", str(center)).exit_code == 0
    path = f"/api/v1/namespaces/aicc-lowered/resourcequotas/{QUOTA_NAME}"
    # someone else (another field manager) adds a limit on pods
    kube.request("PATCH", path + "?fieldManager=ops", {"spec": {"hard": {"pods": "50"}}},
                 content_type="application/merge-patch+json")
    raw["tenants"][0]["limit"] = "10P"
    center.write_text(yaml.safe_dump(raw))
    result = sync(kc, "--center", str(center))
    assert result.exit_code == 0, result.output
    hard = kube.request("GET", path)["spec"]["hard"]
    assert hard == {"requests.huawei.com/Ascend910": "31", "requests.nvidia.com/gpu": "32", "pods": "50"}


def test_the_read_only_role_is_refused_with_a_clear_error(kube: ControlPlane, helm: Helm,
                                                          tmp_path: Path) -> None:
    kc = chart_identity(kube, helm, "aicc-readonly", (), tmp_path / "ro.kubeconfig")
    result = sync(kc)
    assert result.exit_code == 1
    assert "error: Kubernetes API: 403 Forbidden" in result.stderr
    # what it may do, it does: read the nodes
    inv = CliRunner().invoke(build(), ["kube", "inventory", "--kubeconfig", str(kc)])
    assert "403" not in inv.output
