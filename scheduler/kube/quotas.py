"""One namespace per tenant with a ResourceQuota mirroring its limit, so that
pods made outside aicc (kubectl, other operators) cannot exceed it either.

A quota in Kubernetes counts devices of an extended resource, not PFLOPS: the
hard limit for a resource is the most devices of any accelerator type using it
that the tenant's limit buys (``limit // per-device compute``), capped by the
tenant's ``caps`` and by the devices the center has. Namespaces are created
(409 AlreadyExists is success); quotas are server-side applied with a field
manager, so running it again changes nothing and hand edits of other fields stay.

In a tenant tree only the leaves run jobs, so only they get a namespace; its
quota is the tighter of its own and each ancestor's (a ResourceQuota cannot
cap a subtree's sum across namespaces: aicc does that itself).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from scheduler.centerfile import CenterConfig
from scheduler.domain import Center, Tenant, ancestors, parents_of

FIELD_MANAGER = "aicc"
QUOTA_NAME = "aicc-tenant-limit"
MANAGED_BY = {"app.kubernetes.io/managed-by": "aicc"}


@dataclass(frozen=True)
class QuotaPlan:
    tenant: str
    namespace: str
    #: ResourceQuota spec.hard, e.g. {"requests.nvidia.com/gpu": "512"}.
    hard: dict[str, str]


@dataclass(frozen=True)
class QuotaResult:
    tenant: str
    namespace: str
    namespace_created: bool
    quota: dict[str, str]


class NamespaceNameError(ValueError):
    """A tenant whose namespace name would not be a valid DNS label."""


def device_limits(tenant: Tenant, center: Center) -> dict[str, int]:
    """Per extended resource: the most devices the tenant's limit allows of one type."""
    total = center.devices_by_type()
    out: dict[str, int] = {}
    for name, accel in center.accelerators.items():
        allowed = min(tenant.quota.limit // accel.gflops, total.get(name, 0))
        if name in tenant.quota.caps:
            allowed = min(allowed, tenant.quota.caps[name])
        resource = accel.vendor_resource
        out[resource] = max(out.get(resource, 0), allowed)
    return out


def plan_tenant_quotas(config: CenterConfig, prefix: str = "aicc-") -> list[QuotaPlan]:
    plans = []
    parents = parents_of(config.tenants)
    for name in sorted(config.tenants):
        if name in parents:
            continue  # a parent holds no jobs: its leaves have the namespaces
        namespace = f"{prefix}{name}"
        if len(namespace) > 63:
            raise NamespaceNameError(f"namespace {namespace!r} for tenant {name!r} is longer than 63 characters")
        limits = device_limits(config.tenants[name], config.center)
        for up in ancestors(config.tenants, name):
            theirs = device_limits(config.tenants[up], config.center)
            limits = {r: min(n, theirs.get(r, n)) for r, n in limits.items()}
        hard = {f"requests.{r}": str(n) for r, n in sorted(limits.items())}
        plans.append(QuotaPlan(name, namespace, hard))
    return plans


def namespace_body(plan: QuotaPlan) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": plan.namespace, "labels": {**MANAGED_BY, "aicc.io/tenant": plan.tenant}}}


def quota_body(plan: QuotaPlan) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ResourceQuota",
            "metadata": {"name": QUOTA_NAME, "namespace": plan.namespace,
                         "labels": {**MANAGED_BY, "aicc.io/tenant": plan.tenant}},
            "spec": {"hard": dict(plan.hard)}}


def apply_tenant_quotas(api_client: Any, plans: Iterable[QuotaPlan],
                        field_manager: str = FIELD_MANAGER) -> list[QuotaResult]:
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    api: Any = client.CoreV1Api(api_client)
    results = []
    for plan in plans:
        try:
            # The content type said outright: the kubernetes client (37.0) sends none on a
            # create (and ignores _content_type there); kube-apiserver answers 415.
            api.create_namespace(namespace_body(plan), field_manager=field_manager,
                                 _headers={"Content-Type": "application/json"})
            created = True
        except ApiException as exc:
            if exc.status != 409:
                raise
            created = False  # AlreadyExists: someone (or an earlier run) made it
        response = api.patch_namespaced_resource_quota(
            QUOTA_NAME, plan.namespace, quota_body(plan), field_manager=field_manager, force=True,
            _content_type="application/apply-patch+yaml", _preload_content=False)
        applied = json.loads(response.data)
        results.append(QuotaResult(plan.tenant, plan.namespace, created,
                                   dict((applied.get("spec") or {}).get("hard") or {})))
    return results
