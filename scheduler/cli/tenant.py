"""``aicc tenant create|list|get|update|delete``: tenants and their quotas (admin)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from scheduler.cli.connect import (
    Output,
    Yes,
    api_command,
    caps,
    compute,
    confirm,
    dump,
    dump_items,
    show,
)
from scheduler.cli.output import Format, fail, table
from scheduler.cli.tree import in_tree_order, label

if TYPE_CHECKING:
    from scheduler.api.models import TenantOut
    from scheduler.client import Client

Guaranteed = Annotated[str | None, typer.Option("--guaranteed", help="Guaranteed compute, e.g. 120P or 500T.")]
Limit = Annotated[str | None, typer.Option("--limit", help="How far it may borrow idle compute, e.g. 200P.")]
LendingLimit = Annotated[str | None, typer.Option(
    "--lending-limit", help="How much of its unused guarantee others may borrow (default: all).")]
Caps = Annotated[list[str] | None, typer.Option(
    "--cap", help="Cap per accelerator type in devices, TYPE=N (repeatable): --cap a800=256.")]
Overcommit = Annotated[bool, typer.Option(
    "--allow-overcommit", help="Accept guarantees that sum beyond the center's capacity.")]
IsolationOpt = Annotated[str | None, typer.Option(
    "--isolation", help="isolated (default): each job in a Ray instance and sandbox of its own, as the "
                        "tenant's OS identity; shared: the center's Ray cluster, for tenants that trust "
                        "each other (see docs/SECURITY.md).")]
Grace = Annotated[float | None, typer.Option(
    "--grace-period", min=0, max=86_400,
    help="Seconds from SIGTERM to SIGKILL when its jobs are cancelled or preempted, unless a job sets "
         "runtime_env.grace_period_s (default: the center's, 30 s).")]


def register(app: typer.Typer) -> None:
    t = typer.Typer(name="tenant", help="Tenants of the center and their quotas (admin).", no_args_is_help=True)
    t.command("create", help="Create a tenant, with its quota (a bare number is PFLOPS).\n\n"
              "Example: aicc tenant create robotics --guaranteed 40P --limit 80P --cap a800=64 --weight 2\n\n"
              "In a tree: aicc tenant create desk-a --parent bank-a --guaranteed 10P --limit 40P\n\n"
              "Trusted teams on the center's Ray: aicc tenant create research --isolation shared")(
        api_command(create))
    t.command("list", help="List tenants with their quota and live jobs.\n\n"
              "Example: aicc tenant list -o yaml")(api_command(list_))
    t.command("get", help="Show one tenant.\n\nExample: aicc tenant get finance")(api_command(get))
    t.command("update", help="Change a tenant's weight, grace period, parent or isolation (its quota: aicc "
              "quota set).\n\nExample: aicc tenant update finance --grace-period 120\n\n"
              "Move a team: aicc tenant update desk-a --parent bank-b")(api_command(update))
    t.command("delete", help="Delete a tenant; refused while it has live jobs unless --force (which "
              "cancels them). Its tokens are revoked.\n\nExample: aicc tenant delete robotics --yes")(
        api_command(delete))
    app.add_typer(t)


def _isolation(value: str | None) -> str | None:
    if value is not None and value not in ("isolated", "shared"):
        fail(f"--isolation {value!r}: choose isolated or shared")
    return value


def caps_text(c: dict[str, int]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(c.items()))


def tenants_table(items: list[TenantOut]) -> str:
    rows = [[label(t.name, depth), t.parent or "-", f"{t.weight:g}", t.quota.guaranteed, t.quota.limit, t.quota.lending_limit or "-",
             caps_text(t.quota.caps) or "-", "-" if t.grace_period_s is None else f"{t.grace_period_s:g} s",
             t.live_jobs.get("pending", 0),
             t.live_jobs.get("running", 0) + t.live_jobs.get("admitted", 0), t.isolation]
            for t, depth in in_tree_order(items, lambda t: t.name, lambda t: t.parent)]
    return table(["TENANT", "PARENT", "WEIGHT", "GUARANTEED", "LIMIT", "LENDING LIMIT", "CAPS", "GRACE", "PENDING",
                  "RUNNING", "ISOLATION"], rows)


def create(client: Client, name: Annotated[str, typer.Argument(help="Tenant name (lowercase, digits, -).")],
           guaranteed: Guaranteed = None, limit: Limit = None, lending_limit: LendingLimit = None,
           cap: Caps = None,
           weight: Annotated[float, typer.Option("--weight", help="Share of idle compute.")] = 1.0,
           grace_period: Grace = None,
           parent: Annotated[str | None, typer.Option(
               "--parent", help="The tenant whose guarantee this one's is carved out of (it holds no jobs).")] = None,
           isolation: IsolationOpt = None,
           allow_overcommit: Overcommit = False, output: Output = Format.TABLE) -> None:
    fields = {"name": name, "weight": weight, "parent": parent, "allow_overcommit": allow_overcommit,
              "isolation": _isolation(isolation), "grace_period_s": grace_period,
              "guaranteed": compute(guaranteed, "--guaranteed"), "limit": compute(limit, "--limit"),
              "lending_limit": compute(lending_limit, "--lending-limit"), "caps": caps(cap)}
    t = client.create_tenant({k: v for k, v in fields.items() if v is not None})
    show(dump(t), output, lambda: tenants_table([t]))


def list_(client: Client, output: Output = Format.TABLE) -> None:
    items = client.tenants()
    show(dump_items(items), output, lambda: tenants_table(items))


def get(client: Client, name: Annotated[str, typer.Argument(help="Tenant name.")],
        output: Output = Format.TABLE) -> None:
    t = client.tenant(name)
    show(dump(t), output, lambda: tenants_table([t]))


def update(client: Client, name: Annotated[str, typer.Argument(help="Tenant name.")],
           weight: Annotated[float | None, typer.Option("--weight", help="Share of idle compute.")] = None,
           grace_period: Grace = None, isolation: IsolationOpt = None,
           default_grace: Annotated[bool, typer.Option(
               "--default-grace", help="Put the grace period back to the center's default.")] = False,
           parent: Annotated[str | None, typer.Option(
               "--parent", help="Move the tenant (and its subtree) under this parent.")] = None,
           top_level: Annotated[bool, typer.Option("--top-level", help="Move the tenant to the top level.")] = False,
           output: Output = Format.TABLE) -> None:
    if (weight is None and grace_period is None and not default_grace and parent is None and not top_level
            and isolation is None):
        fail("nothing to update: give --weight, --grace-period, --default-grace, --parent, --top-level or "
             "--isolation")
    if grace_period is not None and default_grace:
        fail("give --grace-period or --default-grace, not both")
    if parent is not None and top_level:
        fail("give --parent or --top-level, not both")
    t = client.update_tenant(name, weight=weight, grace_period_s=grace_period, default_grace=default_grace,
                             parent=parent, top_level=top_level, isolation=_isolation(isolation))
    show(dump(t), output, lambda: tenants_table([t]))


def delete(client: Client, name: Annotated[str, typer.Argument(help="Tenant name.")],
           force: Annotated[bool, typer.Option("--force", help="Cancel its live jobs.")] = False,
           yes: Yes = False, output: Output = Format.TABLE) -> None:
    confirm(yes, f"delete tenant {name}" + (" and cancel its live jobs" if force else ""))
    gone = client.delete_tenant(name, force=force)
    show(dump(gone), output, lambda: f"deleted tenant {gone.name}" + (
        f"; cancelled {len(gone.cancelled_jobs)} jobs: {', '.join(gone.cancelled_jobs)}"
        if gone.cancelled_jobs else ""))
