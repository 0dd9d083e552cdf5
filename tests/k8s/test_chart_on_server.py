"""The chart against a real kube-apiserver: every object it renders, for the defaults and
every values file, is accepted with strict field validation (the CRDs installed first);
`helm install` of the trial configuration makes them as rendered, and `helm upgrade`
keeps the admin token generated at install."""

from __future__ import annotations

import base64
from typing import Any

import pytest
import yaml

from tests.deploy.chart import CHART, FULL_610P, ROOT, VALUES_DIR, Helm, one
from tests.k8s.control_plane import ControlPlane
from tests.k8s.objects import NEEDS_KUBELET, create_all, differences

pytestmark = pytest.mark.k8s

EXAMPLES = {
    "defaults": (),
    "610p": FULL_610P,
    **{p.stem: (p,) for p in sorted(VALUES_DIR.glob("good-*.yaml"))},
}


def namespace(kube: ControlPlane, name: str) -> None:
    kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})


def test_the_crds_come_from_the_projects_go_types(kube: ControlPlane, crds: list[str]) -> None:
    assert {"prometheusrules.monitoring.coreos.com", "rayclusters.ray.io", "rayjobs.ray.io",
            "servicemonitors.monitoring.coreos.com"} <= set(crds)
    ray = kube.request("GET", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/rayclusters.ray.io")
    (version,) = [v for v in ray["spec"]["versions"] if v["storage"]]
    assert version["name"] == "v1"
    spec = version["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
    assert {"headGroupSpec", "workerGroupSpecs", "rayVersion"} <= set(spec)


@pytest.mark.parametrize("example", sorted(EXAMPLES))
def test_every_rendered_object_is_accepted_strictly(kube: ControlPlane, crds: list[str], helm: Helm,
                                                    example: str) -> None:
    ns = f"ex-{example}"[:63]
    docs = helm.manifests(EXAMPLES[example], name="aicc", namespace=ns)
    assert docs
    namespace(kube, ns)
    namespace(kube, "monitoring")  # where a values file may put the ServiceMonitor
    assert create_all(kube, docs, ns) == []
    # the objects that were really created are there as sent
    for doc in docs:
        if doc["kind"] in NEEDS_KUBELET:
            continue
        doc_ns = doc["metadata"].get("namespace") or ns
        kept = kube.request("GET", kube.object_path({**doc, "metadata": {**doc["metadata"],
                                                                         "namespace": doc_ns}}))
        assert differences(doc, kept, doc["kind"]) == []


def test_strict_validation_refuses_an_unknown_field(kube: ControlPlane, crds: list[str], helm: Helm) -> None:
    """The check above can fail: a misspelled field in a core kind and in a custom resource."""
    namespace(kube, "ex-typo")
    docs = helm.manifests(FULL_610P, namespace="ex-typo")
    service = one(docs, "Service")
    service["spec"]["prots"] = service["spec"].pop("ports")
    ray = one(docs, "RayCluster")
    ray["spec"]["headGroupSpec"]["rayStartParam"] = {}
    errors = create_all(kube, [service, ray], "ex-typo")
    assert len(errors) == 2
    assert 'unknown field "spec.prots"' in errors[0]
    assert 'unknown field "spec.headGroupSpec.rayStartParam"' in errors[1]


def secret_token(kube: ControlPlane, ns: str) -> bytes:
    secret = kube.request("GET", f"/api/v1/namespaces/{ns}/secrets/aicc-admin-token")
    return base64.b64decode(secret["data"]["token"])


def test_helm_install_then_upgrade_keeps_the_generated_admin_token(kube: ControlPlane, helm: Helm,
                                                                   helm_k8s: Helm) -> None:
    ns = "trial"
    proc = helm_k8s.run("install", "aicc", str(CHART), "--namespace", ns, "--create-namespace")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    manifest = helm_k8s.run("get", "manifest", "aicc", "--namespace", ns)
    assert manifest.returncode == 0, manifest.stderr
    docs = [d for d in yaml.safe_load_all(manifest.stdout) if d]
    assert sorted(d["kind"] for d in docs) == sorted(
        ["Deployment", "Service", "Secret", "ServiceAccount", "ClusterRole", "ClusterRoleBinding"])
    for doc in docs:  # present on the server as rendered
        kept: dict[str, Any] = kube.request("GET", kube.object_path(
            {**doc, "metadata": {**doc["metadata"], "namespace": doc["metadata"].get("namespace") or ns}}))
        assert differences(doc, kept, doc["kind"]) == []
        assert kept["metadata"]["annotations"]["meta.helm.sh/release-name"] == "aicc"
    token = secret_token(kube, ns)
    assert len(token) == 48

    up = helm_k8s.run("upgrade", "aicc", str(CHART), "--namespace", ns, "--set", "logLevel=debug")
    assert up.returncode == 0, up.stdout + up.stderr
    assert secret_token(kube, ns) == token  # the chart's lookup found it
    dep = kube.request("GET", f"/apis/apps/v1/namespaces/{ns}/deployments/aicc")
    args = dep["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "debug" in args
    status = helm_k8s.run("status", "aicc", "--namespace", ns, "-o", "json")
    assert status.returncode == 0 and '"version":2' in status.stdout.replace(" ", "")
    # a render without the server would have made a new token: the lookup is what keeps it
    offline = one(helm.manifests(namespace=ns), "Secret")
    assert base64.b64decode(offline["data"]["token"]) != token


def test_the_example_ray_cluster_is_accepted(kube: ControlPlane, crds: list[str]) -> None:
    docs = [d for f in sorted((ROOT / "deploy" / "kubernetes").glob("*.yaml"))
            for d in yaml.safe_load_all(f.read_text()) if d]
    assert docs
    namespace(kube, "ex-raycluster")
    assert create_all(kube, docs, "ex-raycluster") == []
