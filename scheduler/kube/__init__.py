"""Kubernetes integration: the center from the cluster's nodes, tenant namespaces
with ResourceQuotas. Needs the ``kube`` extra (the official ``kubernetes`` client)."""

from scheduler.kube.catalog import Catalog, CatalogEntry, default_catalog, load_catalog
from scheduler.kube.inventory import Inventory, InventoryOptions, build_inventory, center_file
from scheduler.kube.quotas import QuotaPlan, apply_tenant_quotas, plan_tenant_quotas

__all__ = [
    "Catalog",
    "CatalogEntry",
    "Inventory",
    "InventoryOptions",
    "QuotaPlan",
    "apply_tenant_quotas",
    "build_inventory",
    "center_file",
    "default_catalog",
    "load_catalog",
    "plan_tenant_quotas",
]
