"""Check rendered manifests: core kinds against Kubernetes' own OpenAPI schemas
(kubernetes-validate, strict: unknown fields are errors), custom resources
against the minimal schemas in schemas/ (see its README) with their pod
templates checked as real core/v1 PodTemplates.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

SCHEMAS = Path(__file__).resolve().parent / "schemas"
#: The chart's kubeVersion floor and the newest schemas kubernetes-validate has.
KUBE_VERSIONS = ("1.25.0", "latest")
CUSTOM = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"): "servicemonitor.json",
    ("monitoring.coreos.com/v1", "PrometheusRule"): "prometheusrule.json",
    ("ray.io/v1", "RayCluster"): "raycluster.json",
}


@cache
def _custom_validator(name: str) -> Any:
    import jsonschema

    schema = json.loads((SCHEMAS / name).read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


def _core(doc: dict[str, Any], where: str) -> list[str]:
    import kubernetes_validate

    errors = []
    for version in KUBE_VERSIONS:
        v = kubernetes_validate.latest_version() if version == "latest" else version
        try:
            kubernetes_validate.validate(doc, v, strict=True)
        except kubernetes_validate.ValidationError as exc:
            path = ".".join(str(p) for p in exc.path)
            errors.append(f"{where} (Kubernetes {v}) {path}: {exc.message}")
        except kubernetes_validate.SchemaNotFoundError:
            errors.append(f"{where}: no Kubernetes {v} schema for {doc.get('apiVersion')} {doc.get('kind')}")
    return errors


def _pod_templates(doc: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    spec = doc.get("spec", {})
    out = [("headGroupSpec.template", spec.get("headGroupSpec", {}).get("template", {}))]
    for i, group in enumerate(spec.get("workerGroupSpecs", [])):
        out.append((f"workerGroupSpecs.{i}.template", group.get("template", {})))
    return out


def manifest_errors(doc: dict[str, Any]) -> list[str]:
    kind, api = doc.get("kind"), doc.get("apiVersion")
    where = f"{kind}/{doc.get('metadata', {}).get('name')}"
    custom = CUSTOM.get((api, kind))
    if custom is None:
        return _core(doc, where)
    errors = [f"{where} {'.'.join(str(p) for p in e.absolute_path)}: {e.message}"
              for e in _custom_validator(custom).iter_errors(doc)]
    if kind == "RayCluster":
        for path, template in _pod_templates(doc):
            wrapped = {"apiVersion": "v1", "kind": "PodTemplate",
                       "metadata": {"name": "ray-template"}, "template": template}
            errors += _core(wrapped, f"{where} {path}")
    return errors
