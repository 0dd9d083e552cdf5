"""Creating rendered manifests on the server, and comparing what it keeps with what was sent."""

from __future__ import annotations

import json
import time
import urllib.error
from pathlib import Path
from typing import Any

import yaml

from tests.k8s.control_plane import ControlPlane

#: Kinds whose creation would start containers (a kubelet's work, or a controller's that makes
#: pods): sent with dryRun=All, so that the server admits and validates them but keeps nothing.
NEEDS_KUBELET = {"Pod", "Deployment", "StatefulSet", "Job", "RayCluster"}


def create(kube: ControlPlane, doc: dict[str, Any], namespace: str, *, dry_run: bool = False) -> Any:
    """POST with strict field validation: an unknown or duplicate field is an error."""
    doc = {**doc, "metadata": {**doc["metadata"]}}
    path = kube.object_path({**doc, "metadata": {**doc["metadata"], "namespace":
                                                 doc["metadata"].get("namespace") or namespace}},
                            collection=True)
    query = "?fieldValidation=Strict" + ("&dryRun=All" if dry_run else "")
    return kube.request("POST", path + query, doc)


def create_all(kube: ControlPlane, docs: list[dict[str, Any]], namespace: str) -> list[str]:
    """Every document created (or dry-run created); the refusals, as `Kind/name: message`."""
    errors = []
    for doc in docs:
        try:
            create(kube, doc, namespace, dry_run=doc["kind"] in NEEDS_KUBELET)
        except urllib.error.HTTPError as exc:
            body = exc.read().decode(errors="replace")
            try:
                message = json.loads(body).get("message", body)
            except ValueError:
                message = body
            errors.append(f"{doc['kind']}/{doc['metadata']['name']}: {exc.code} {message}")
    return errors


def differences(sent: Any, kept: Any, where: str = "") -> list[str]:
    """Where the server's object lacks or changed what was sent (it may add defaults)."""
    if isinstance(sent, dict):
        if not isinstance(kept, dict):
            return [f"{where}: sent a map, kept {kept!r}"]
        out = []
        for k, v in sent.items():
            if k not in kept:
                out.append(f"{where}.{k}: dropped")
            else:
                out += differences(v, kept[k], f"{where}.{k}")
        return out
    if isinstance(sent, list):
        if not isinstance(kept, list) or len(kept) != len(sent):
            return [f"{where}: sent {len(sent)} items, kept {kept!r}"]
        return [d for i, (a, b) in enumerate(zip(sent, kept, strict=True)) for d in differences(a, b, f"{where}.{i}")]
    return [] if sent == kept else [f"{where}: sent {sent!r}, kept {kept!r}"]


def install_crds(kube: ControlPlane, crd_dir: Path, timeout: float = 60) -> list[str]:
    """Apply the CRDs the chart and the KubeRay operator use (of those generated) and wait
    until each is Established; their names."""
    names = []
    wanted = ["monitoring.coreos.com_servicemonitors.yaml", "monitoring.coreos.com_prometheusrules.yaml",
              *sorted(p.name for p in crd_dir.glob("ray.io_*.yaml"))]
    for path in (crd_dir / name for name in wanted):
        doc = yaml.safe_load(path.read_text())
        kube.apply(doc)
        names.append(doc["metadata"]["name"])
    deadline = time.monotonic() + timeout
    for name in names:
        while True:
            crd = kube.request("GET", f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}")
            conds = {c["type"]: c["status"] for c in crd.get("status", {}).get("conditions") or []}
            if conds.get("Established") == "True":
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"CRD {name} not Established: {conds}")
            time.sleep(0.2)
    return names
