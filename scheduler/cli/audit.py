"""``aicc audit list``: who changed what (admin)."""

from __future__ import annotations

import json
from itertools import islice
from typing import TYPE_CHECKING, Annotated

import typer

from scheduler.cli.connect import Output, api_command, dump_items, show
from scheduler.cli.output import Format, table

if TYPE_CHECKING:
    from scheduler.client import Client


def register(app: typer.Typer) -> None:
    a = typer.Typer(name="audit", help="The audit log of admin actions (admin).", no_args_is_help=True)
    a.command("list", help="Admin actions, oldest first: quota changes, tokens, cordons, cancels.\n\n"
              "Example: aicc audit list --target finance --last 20")(api_command(list_))
    app.add_typer(a)


def list_(client: Client,
          actor: Annotated[str | None, typer.Option("--actor", help="Only this actor (admin, tenant:x).")] = None,
          target: Annotated[str | None, typer.Option("--target", help="Only this target (tenant, node, job).")] = None,
          last: Annotated[int | None, typer.Option("--last", min=1, help="Only the newest N entries.")] = None,
          output: Output = Format.TABLE) -> None:
    items = list(client.audit(actor=actor, target=target))
    if last is not None:
        items = items[-last:]
    rows = [[e.id, e.at, e.actor, e.action, e.target, json.dumps(e.detail, sort_keys=True)[:80]]
            for e in islice(items, None)]
    show(dump_items(items), output, lambda: table(["ID", "AT", "ACTOR", "ACTION", "TARGET", "DETAIL"], rows))
