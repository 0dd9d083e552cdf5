"""``aicc kube``: the center from a Kubernetes cluster; tenant namespaces and quotas.

    aicc kube inventory --kubeconfig ~/.kube/config > center.yaml
    aicc kube sync-quotas --center center.yaml --dry-run
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
import yaml

from scheduler.cli.output import Format, OutputOption, emit, fail

kube_app = typer.Typer(help="Kubernetes: build the center from the nodes; tenant namespaces and quotas.",
                       no_args_is_help=True)

Kubeconfig = Annotated[str | None, typer.Option(
    "--kubeconfig", envvar="KUBECONFIG", help="kubeconfig file (default: ~/.kube/config, or in-cluster).")]
Context = Annotated[str | None, typer.Option("--context", help="kubeconfig context (default: current).")]


def register(app: typer.Typer) -> None:
    app.add_typer(kube_app, name="kube")


def _client(kubeconfig: str | None, context: str | None) -> Any:
    try:
        from scheduler.kube.client import api_client
    except ImportError as exc:  # pragma: no cover - depends on the extra
        fail(f"needs the 'kube' extra (pip install 'aicc[kube]'): {exc}")
    try:
        return api_client(kubeconfig, context)
    except Exception as exc:
        fail(f"cannot load the Kubernetes configuration: {exc}")


def _api_error(exc: Exception) -> str:
    status = getattr(exc, "status", None)
    reason = getattr(exc, "reason", None)
    return f"Kubernetes API: {status} {reason}" if status else f"Kubernetes API: {exc}"


@kube_app.command("inventory", help="Print the center file built from the cluster's nodes.\n\n"
                  "Example: aicc kube inventory --rack-label topology.example.com/rack "
                  "--tenants-from center.yaml > center.yaml")
def inventory(
    kubeconfig: Kubeconfig = None,
    context: Context = None,
    rack_label: Annotated[str, typer.Option("--rack-label", help="Node label naming the rack.")] = "aicc.io/rack",
    pool_label: Annotated[str, typer.Option("--pool-label", help="Node label naming the pool.")] = "aicc.io/pool",
    selector: Annotated[str | None, typer.Option("--selector", "-l", help="Only nodes with these labels.")] = None,
    catalog: Annotated[Path | None, typer.Option(
        "--catalog", help="Accelerator catalog file (default: the built-in one).")] = None,
    name: Annotated[str, typer.Option("--name", help="The center's name.")] = "kubernetes",
    tenants_from: Annotated[Path | None, typer.Option(
        "--tenants-from", help="Take tenants and priority classes from this center file.")] = None,
    as_values: Annotated[bool, typer.Option(
        "--as-values", help="Print it as Helm chart values (center.file) for helm -f.")] = False,
    output: Format = OutputOption,
) -> None:
    from scheduler.centerfile import CenterFileError, build_center
    from scheduler.kube.catalog import CatalogError, default_catalog, load_catalog
    from scheduler.kube.inventory import InventoryOptions, build_inventory, center_file

    try:
        cat = load_catalog(catalog) if catalog else default_catalog()
    except CatalogError as exc:
        fail(str(exc))
    tenants: list[Any] = []
    classes = None
    if tenants_from is not None:
        try:
            raw = yaml.safe_load(tenants_from.read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            fail(f"{tenants_from}: {exc}")
        tenants, classes = raw.get("tenants") or [], raw.get("priority_classes")
    client = _client(kubeconfig, context)
    options = InventoryOptions(rack_label=rack_label, pool_label=pool_label, center_name=name,
                               label_selector=selector)
    try:
        inv = build_inventory(client, cat, options)
    except Exception as exc:
        fail(_api_error(exc))
    for line in inv.skipped:
        typer.echo(f"skipped {line}", err=True)
    if not inv.center.nodes:
        fail("no node offers an accelerator the catalog knows")
    data = center_file(inv.center, tenants, classes)
    try:
        build_center(data)  # what aicc serve --center would say about it
    except CenterFileError as exc:
        fail(f"the built center is not usable: {exc}")
    if output is Format.TABLE:
        output = Format.YAML  # a center file is what this verb is for
    emit({"center": {"file": data}} if as_values else data, output)


@kube_app.command("sync-quotas", help="Create a namespace per tenant with a ResourceQuota of its limit.\n\n"
                  "Example: aicc kube sync-quotas --center center.yaml --dry-run")
def sync_quotas(
    center: Annotated[Path | None, typer.Option(
        "--center", help="Center file (default: the shipped 610P center).")] = None,
    kubeconfig: Kubeconfig = None,
    context: Context = None,
    prefix: Annotated[str, typer.Option("--namespace-prefix", help="Namespace = prefix + tenant.")] = "aicc-",
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the plan; change nothing.")] = False,
    output: Format = OutputOption,
) -> None:
    from scheduler.centerfile import CenterFileError, load_center
    from scheduler.kube.quotas import NamespaceNameError, apply_tenant_quotas, plan_tenant_quotas

    try:
        plans = plan_tenant_quotas(load_center(center), prefix)
    except (CenterFileError, NamespaceNameError) as exc:
        fail(str(exc))
    if dry_run:
        plan: list[dict[str, Any]] = [{"tenant": p.tenant, "namespace": p.namespace, "hard": p.hard}
                                      for p in plans]
        emit(plan, output, ["TENANT", "NAMESPACE", "HARD"],
             [(p.tenant, p.namespace, _hard(p.hard)) for p in plans])
        return
    client = _client(kubeconfig, context)
    try:
        results = apply_tenant_quotas(client, plans)
    except Exception as exc:
        fail(_api_error(exc))
    data: list[dict[str, Any]] = [{"tenant": r.tenant, "namespace": r.namespace, "namespace_created": r.namespace_created,
             "hard": r.quota} for r in results]
    emit(data, output, ["TENANT", "NAMESPACE", "NAMESPACE_CREATED", "HARD"],
         [(r.tenant, r.namespace, "yes" if r.namespace_created else "no (exists)", _hard(r.quota))
          for r in results])


def _hard(hard: dict[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(hard.items()))
