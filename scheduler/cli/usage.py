"""``aicc usage report|show``: what tenants consumed (the ledger) and hold now."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from scheduler.cli.connect import Output, api_command, dump, dump_items, show, when
from scheduler.cli.output import Format, table

if TYPE_CHECKING:
    from scheduler.api.models import LedgerOut, UsageOut
    from scheduler.client import Client

TenantOpt = Annotated[str | None, typer.Option(
    "--tenant", help="One tenant (the admin's choice; a tenant token sees only its own).")]


def register(app: typer.Typer) -> None:
    u = typer.Typer(name="usage", help="Consumption: the ledger of PFLOPS-hours, and usage now.",
                    no_args_is_help=True)
    u.command("report", help="The ledger: PFLOPS-hours and device-hours by tenant, accelerator type and "
              "job kind, over a window. Times: RFC 3339, a date, epoch seconds, or a span ago (7d, 12h).\n\n"
              "Example: aicc usage report --start 2026-11-01 --end 2026-12-01 --tenant finance")(
        api_command(report))
    u.command("show", help="Usage now: guaranteed, limit, in use and borrowed PFLOPS, devices by type.\n\n"
              "Example: aicc usage show --tenant finance")(api_command(show_usage))
    app.add_typer(u)


def ledger_text(led: LedgerOut) -> str:
    rows = [[x.tenant, x.accelerator, x.kind, x.jobs, f"{x.device_hours:.2f}", f"{x.pflops_hours:.3f}"]
            for x in led.items]
    rows.append(["total", "", "", sum(x.jobs for x in led.items), f"{led.total_device_hours:.2f}",
                 f"{led.total_pflops_hours:.3f}"])
    text = f"Usage from {led.start} to {led.end}\n\n" + table(
        ["TENANT", "ACCELERATOR", "KIND", "JOBS", "DEVICE-HOURS", "PFLOPS-HOURS"], rows)
    if led.subtrees:
        text += "\n\nBy subtree\n\n" + table(
            ["PARENT", "DEVICE-HOURS", "PFLOPS-HOURS"],
            [[x.tenant, f"{x.device_hours:.2f}", f"{x.pflops_hours:.3f}"] for x in led.subtrees])
    return text


def report(client: Client, tenant: TenantOpt = None,
           start: Annotated[str | None, typer.Option("--start", help="From (default: the beginning).")] = None,
           end: Annotated[str | None, typer.Option("--end", help="To (default: now).")] = None,
           output: Output = Format.TABLE) -> None:
    led = client.ledger(start=when(start, "--start"), end=when(end, "--end"), tenant=tenant)
    show(dump(led), output, lambda: ledger_text(led) + budgets_text(client, tenant))


def budgets_text(client: Client, tenant: str | None) -> str:
    """The report's last part for an admin: where each budget stands this period."""
    from scheduler.cli.budget import budgets_table
    from scheduler.client import Forbidden

    try:
        items = [b for b in client.budgets() if tenant is None or b.tenant == tenant]
    except Forbidden:  # a tenant token: budgets are the admin's to see
        return ""
    return "\n\nBudgets this period\n\n" + budgets_table(items) if items else ""


def usage_table(items: list[UsageOut]) -> str:
    rows = [[u.tenant, u.guaranteed, u.limit, u.in_use, u.borrowed, u.running_jobs, u.pending_jobs,
             ",".join(f"{k}={v}" for k, v in u.devices.items()) or "-"] for u in items]
    return table(["TENANT", "GUARANTEED", "LIMIT", "IN USE", "BORROWED", "RUNNING", "PENDING", "DEVICES"], rows)


def show_usage(client: Client, tenant: TenantOpt = None, output: Output = Format.TABLE) -> None:
    from scheduler.client import Forbidden

    if tenant is not None:
        one = client.usage(tenant)
        show(dump(one), output, lambda: usage_table([one]))
        return
    try:
        items = client.usage_all()
    except Forbidden:  # a tenant token: its own
        one = client.usage()
        show(dump(one), output, lambda: usage_table([one]))
        return
    show(dump_items(items), output, lambda: usage_table(items))
