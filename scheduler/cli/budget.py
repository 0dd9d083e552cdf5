"""``aicc budget set|list|delete``: PFLOPS-hours a tenant (and its subtree) may spend per period."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated

import typer

from scheduler.cli.connect import Output, Yes, api_command, confirm, dump, dump_items, show
from scheduler.cli.output import Format, fail, table

if TYPE_CHECKING:
    from scheduler.api.models import BudgetOut
    from scheduler.client import Client

_SPAN = re.compile(r"^(\d+(?:\.\d+)?)([hdw])$")


def register(app: typer.Typer) -> None:
    b = typer.Typer(name="budget", help="Budgets: PFLOPS-hours per period, per tenant or subtree (admin).",
                    no_args_is_help=True)
    b.command("set", help="Set a tenant's budget for it and its subtree. Once spent, its new jobs hold "
              "(BudgetExhausted) or run best-effort; running jobs go on.\n\n"
              "Example: aicc budget set finance 50000 --period month --carryover 10%")(api_command(set_))
    b.command("list", help="Every budget: this period's start, what is spent and left.\n\n"
              "Example: aicc budget list")(api_command(list_))
    b.command("whatif", help="Had the budget been this much this period, when it would have been spent "
              "and whose jobs would have been held (nothing changes).\n\n"
              "Example: aicc budget whatif finance 30000")(api_command(whatif))
    b.command("delete", help="Remove a tenant's budget.\n\nExample: aicc budget delete finance --yes")(
        api_command(delete))
    app.add_typer(b)


def ratio(value: str) -> float:
    """``10%`` or ``0.1``."""
    text = value.strip()
    try:
        v = float(text[:-1]) / 100.0 if text.endswith("%") else float(text)
    except ValueError:
        fail(f"--carryover {value!r}: expected a percentage such as 10% (or a fraction such as 0.1)")
    if not 0.0 <= v <= 1.0:
        fail(f"--carryover {value!r}: must be between 0% and 100%")
    return v


def span_s(value: str) -> float:
    """``36h``, ``14d``, ``2w`` in seconds."""
    m = _SPAN.match(value.strip())
    if not m:
        fail(f"--length {value!r}: expected hours, days or weeks such as 36h, 14d, 2w")
    return float(m[1]) * {"h": 3600, "d": 86_400, "w": 604_800}[m[2]]


def budgets_table(items: list[BudgetOut]) -> str:
    rows = [[b.tenant, f"{b.pflops_hours:g}", b.period if b.period != "custom" else f"{b.period_s or 0:g} s",
             f"{b.carryover:.0%}", b.on_exhausted, b.period_start, f"{b.spent_pflops_hours:.2f}",
             f"{b.left_pflops_hours:.2f}", f"{b.spent_ratio:.0%}", "yes" if b.exhausted else "no"] for b in items]
    return table(["TENANT", "PFLOPS-HOURS", "PERIOD", "CARRYOVER", "WHEN SPENT", "SINCE", "SPENT", "LEFT",
                  "USED", "SPENT OUT"], rows)


def set_(client: Client, tenant: Annotated[str, typer.Argument(help="Tenant (a parent: its whole subtree).")],
         pflops_hours: Annotated[float, typer.Argument(help="PFLOPS-hours per period.", min=0)],
         period: Annotated[str, typer.Option("--period", help="month (default), week, or custom (--length).")
                           ] = "month",
         length: Annotated[str | None, typer.Option("--length", help="A custom period's length: 36h, 14d, 2w.")
                           ] = None,
         carryover: Annotated[str, typer.Option("--carryover", help="Share of the amount unspent compute may "
                                                "carry into the next period, e.g. 10%.")] = "0%",
         on_exhausted: Annotated[str, typer.Option("--on-exhausted", help="hold (default) or best-effort.")
                                 ] = "hold",
         output: Output = Format.TABLE) -> None:
    if period not in ("month", "week", "custom"):
        fail(f"--period {period!r}: expected month, week or custom")
    if on_exhausted not in ("hold", "best-effort"):
        fail(f"--on-exhausted {on_exhausted!r}: expected hold or best-effort")
    if (period == "custom") != (length is not None):
        fail("a custom --period takes a --length (and only it does)")
    fields: dict[str, object] = {"pflops_hours": pflops_hours, "period": period, "carryover": ratio(carryover),
                                 "on_exhausted": on_exhausted}
    if length is not None:
        fields["period_s"] = span_s(length)
    b = client.set_budget(tenant, fields)
    show(dump(b), output, lambda: budgets_table([b]))


def list_(client: Client, output: Output = Format.TABLE) -> None:
    items = client.budgets()
    show(dump_items(items), output, lambda: budgets_table(items))


def delete(client: Client, tenant: Annotated[str, typer.Argument(help="Tenant.")], yes: Yes = False,
           output: Output = Format.TABLE) -> None:
    confirm(yes, f"remove the budget of {tenant}")
    left = client.delete_budget(tenant)
    show(dump_items(left), output, lambda: f"removed the budget of {tenant}")


def whatif(client: Client, tenant: Annotated[str, typer.Argument(help="Tenant (a parent: its subtree).")],
           pflops_hours: Annotated[float, typer.Argument(help="PFLOPS-hours per period.", min=0)],
           output: Output = Format.TABLE) -> None:
    w = client.budget_whatif(tenant, pflops_hours)

    def text() -> str:
        head = (f"A budget of {w.pflops_hours:g} PFLOPS-hours for {w.tenant} since {w.period_start}: "
                + (f"spent at {w.spent_at}" if w.spent_at else "not spent by now"))
        if not w.would_have_held:
            return head + "; nobody would have been held."
        return head + f"; {len(w.would_have_held)} jobs would have been held:\n\n" + table(
            ["JOB", "TENANT", "STARTED", "DEVICES"],
            [[r.job_id, r.tenant, r.started_at, r.devices] for r in w.would_have_held])

    show(dump(w), output, text)
