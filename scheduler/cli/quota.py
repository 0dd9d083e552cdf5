"""``aicc quota set|get|history|whatif``: a tenant's PFLOPS quota (admin)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from scheduler.cli.connect import (
    Output,
    api_command,
    caps,
    compute,
    dump,
    dump_items,
    listing,
    show,
)
from scheduler.cli.output import Format, fail, table
from scheduler.cli.tenant import Caps, Guaranteed, Limit, Overcommit, caps_text
from scheduler.cli.tree import in_tree_order, label

if TYPE_CHECKING:
    from scheduler.api.models import TenantOut, WhatIfOut
    from scheduler.client import Client

TenantArg = Annotated[str, typer.Argument(help="Tenant name.")]
Weight = Annotated[float | None, typer.Option("--weight", help="Share of idle compute (fair share).")]
NoCaps = Annotated[bool, typer.Option("--no-caps", help="Remove every per-type cap.")]
LENDING_HELP = "How much of its unused guarantee others may borrow; 'none' removes the limit."


def register(app: typer.Typer) -> None:
    q = typer.Typer(name="quota", help="Tenant quotas in PFLOPS: guaranteed, limit, lending limit, "
                    "per-type caps, weight (admin).", no_args_is_help=True)
    q.command("set", help="Set a tenant's quota; options not given keep their value. Units: P, T, E "
              "(a bare number is PFLOPS).\n\n"
              "Example: aicc quota set finance --guaranteed 120P --limit 200P --cap a800=256 --weight 2")(
        api_command(set_))
    q.command("list", help="Every tenant's quota with what it uses and borrows now.\n\n"
              "Example: aicc quota list")(api_command(list_))
    q.command("get", help="Show a tenant's quota.\n\nExample: aicc quota get finance -o json")(api_command(get))
    q.command("history", help="Every quota the tenant had, newest first: who set it and when.\n\n"
              "Example: aicc quota history finance")(api_command(history))
    q.command("whatif", help="Which running jobs would be preempted and which pending jobs would start, "
              "were these quotas set now. Nothing is changed. One tenant from options, or many from a "
              "YAML file (a list of {tenant, guaranteed, limit, lending_limit, caps, weight}). For what "
              "it would have done over time, replay the history: aicc job export, then aicc simulate "
              "--quota.\n\n"
              "Example: aicc quota whatif finance --guaranteed 40P --limit 60P\n\n"
              "Example: aicc quota whatif -f changes.yaml -o json")(api_command(whatif))
    app.add_typer(q)


def _lending(value: str | None) -> tuple[bool, str | None]:
    """(given, value): 'none' is given and clears the limit."""
    if value is None:
        return False, None
    if value.strip().lower() in ("none", "null", "unlimited"):
        return True, None
    return True, compute(value, "--lending-limit")


def change_fields(guaranteed: str | None, limit: str | None, lending_limit: str | None,
                  cap: list[str] | None, no_caps: bool, weight: float | None) -> dict[str, Any]:
    """The quota fields the options give, checked before any request."""
    from scheduler.domain.units import parse_compute

    fields: dict[str, Any] = {}
    if guaranteed is not None:
        fields["guaranteed"] = compute(guaranteed, "--guaranteed")
    if limit is not None:
        fields["limit"] = compute(limit, "--limit")
    if guaranteed is not None and limit is not None and parse_compute(guaranteed) > parse_compute(limit):
        fail(f"--guaranteed {guaranteed} is above --limit {limit}: a tenant may not be guaranteed more "
             "than its limit")
    given, lending = _lending(lending_limit)
    if given:
        fields["lending_limit"] = lending
    if no_caps and cap:
        fail("--no-caps and --cap: give one of them")
    if no_caps:
        fields["caps"] = {}
    elif cap:
        fields["caps"] = caps(cap)
    if weight is not None:
        fields["weight"] = weight
    return fields


def quota_text(t: TenantOut) -> str:
    q = t.quota
    return listing([("Tenant", t.name), ("Weight", f"{t.weight:g}"),
                    ("Guaranteed", f"{q.guaranteed} ({q.guaranteed_pflops:g} PFLOPS)"),
                    ("Limit", f"{q.limit} ({q.limit_pflops:g} PFLOPS)"),
                    ("Lending limit", q.lending_limit or "none (all of its unused guarantee)"),
                    ("Caps", caps_text(q.caps) or "none"),
                    ("Live jobs", ", ".join(f"{k}={v}" for k, v in sorted(t.live_jobs.items())) or "none")])


def set_(client: Client, tenant: TenantArg, guaranteed: Guaranteed = None, limit: Limit = None,
         lending_limit: Annotated[str | None, typer.Option("--lending-limit", help=LENDING_HELP)] = None,
         cap: Caps = None, no_caps: NoCaps = False, weight: Weight = None,
         allow_overcommit: Overcommit = False, output: Output = Format.TABLE) -> None:
    fields = change_fields(guaranteed, limit, lending_limit, cap, no_caps, weight)
    if not fields:
        fail("nothing to set: give --guaranteed, --limit, --lending-limit, --cap, --no-caps or --weight")
    t = client.set_quota(tenant, fields, allow_overcommit=allow_overcommit)
    show(dump(t), output, lambda: quota_text(t))


def list_(client: Client, output: Output = Format.TABLE) -> None:
    items = client.tenants()
    if output is not Format.TABLE:
        show(dump_items(items), output, str)
        return
    used = {u.tenant: u for u in client.usage_all()}
    rows = []
    for t, depth in in_tree_order(items, lambda t: t.name, lambda t: t.parent):
        q, u = t.quota, used.get(t.name)
        rows.append([label(t.name, depth), f"{t.weight:g}", q.guaranteed, q.limit, q.lending_limit or "-",
                     caps_text(q.caps) or "-", u.in_use if u else "", u.borrowed if u else "",
                     u.pending_jobs if u else ""])
    typer.echo(table(["TENANT", "WEIGHT", "GUARANTEED", "LIMIT", "LENDING LIMIT", "CAPS", "IN USE",
                      "BORROWED", "QUEUED"], rows))


def get(client: Client, tenant: TenantArg, output: Output = Format.TABLE) -> None:
    t = client.quota(tenant)
    show(dump(t), output, lambda: quota_text(t))


def history(client: Client, tenant: TenantArg, output: Output = Format.TABLE) -> None:
    items = client.quota_history(tenant)
    rows = [[h.at, h.actor, h.action, h.guaranteed or "", h.limit or "", h.lending_limit or "-",
             caps_text(h.caps or {}) or "-", "" if h.weight is None else f"{h.weight:g}"] for h in items]
    show(dump_items(items), output, lambda: table(
        ["AT", "ACTOR", "ACTION", "GUARANTEED", "LIMIT", "LENDING LIMIT", "CAPS", "WEIGHT"], rows))


def whatif_text(w: WhatIfOut) -> str:
    pre, start = set(w.preempt_because_of_change), set(w.start_because_of_change)
    rows: list[list[Any]] = []
    for p in w.would_preempt:
        rows.append(["PREEMPT", p.job_id, p.tenant, p.name, p.devices, f"{p.reason} for {p.for_job}",
                     "yes" if p.job_id in pre else "no"])
    for s in w.would_start:
        rows.append(["START", s.job_id, s.tenant, s.name, s.devices,
                     s.accelerator + (" (borrowing)" if s.borrowing else ""),
                     "yes" if s.job_id in start else "no"])
    out = [table(["ACTION", "JOB", "TENANT", "NAME", "DEVICES", "DETAIL", "BECAUSE OF CHANGE"], rows)
           if rows else "The next step would preempt nothing and start nothing with these quotas."]
    if w.prevented_by_change:
        out.append(f"No longer happening because of the change: {', '.join(w.prevented_by_change)}")
    out.append(f"{len(w.would_preempt)} preempted ({len(pre)} because of the change), "
               f"{len(w.would_start)} started ({len(start)} because of the change)")
    return "\n".join(out)


def _changes_file(path: Path) -> list[dict[str, Any]]:
    import yaml

    try:
        text = typer.get_text_stream("stdin").read() if str(path) == "-" else path.read_text()
        data = yaml.safe_load(text)
    except (OSError, yaml.YAMLError) as exc:
        fail(f"cannot read {path}: {exc}")
    if isinstance(data, dict) and "changes" in data:
        data = data["changes"]
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list) or not all(isinstance(c, dict) for c in data):
        fail(f"{path}: expected a list of changes such as [{{tenant: finance, guaranteed: 40P}}]")
    return data


def whatif(client: Client,
           tenant: Annotated[str | None, typer.Argument(help="Tenant whose quota would change.")] = None,
           guaranteed: Guaranteed = None, limit: Limit = None,
           lending_limit: Annotated[str | None, typer.Option("--lending-limit", help=LENDING_HELP)] = None,
           cap: Caps = None, no_caps: NoCaps = False, weight: Weight = None,
           parent: Annotated[str | None, typer.Option(
               "--parent", help="Move the tenant (a team) under this parent.")] = None,
           top_level: Annotated[bool, typer.Option("--top-level", help="Move the tenant to the top level.")] = False,
           file: Annotated[Path | None, typer.Option("--file", "-f", help="YAML list of changes ('-': stdin).")] = None,
           output: Output = Format.TABLE) -> None:
    changes: list[dict[str, Any]] = _changes_file(file) if file is not None else []
    if tenant is not None:
        fields = change_fields(guaranteed, limit, lending_limit, cap, no_caps, weight)
        if parent is not None and top_level:
            fail("give --parent or --top-level, not both")
        if parent is not None or top_level:
            fields["parent"] = parent
        if not fields:
            fail("nothing would change: give --guaranteed, --limit, --lending-limit, --cap, --weight, "
                 "--parent or --top-level")
        changes.append({"tenant": tenant, **fields})
    if not changes:
        fail("give a TENANT with the quota to try, or -f with a list of changes")
    w = client.whatif(changes)
    show(dump(w), output, lambda: whatif_text(w))
