"""``aicc token issue|list|revoke``: bearer tokens of tenants (admin)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from scheduler.cli.connect import Output, Yes, api_command, confirm, dump, dump_items, listing, show
from scheduler.cli.output import Format, table

if TYPE_CHECKING:
    from scheduler.client import Client


def register(app: typer.Typer) -> None:
    t = typer.Typer(name="token", help="Bearer tokens for tenants (admin). A token is shown once, when issued.",
                    no_args_is_help=True)
    t.command("issue", help="Issue a token for a tenant. The token is printed once; only its hash is kept.\n\n"
              "Example: aicc token issue finance --name ci -o json")(api_command(issue))
    t.command("list", help="List tokens (never the secrets): one tenant's, or all, admin ones included.\n\n"
              "Example: aicc token list --tenant finance")(api_command(list_))
    t.command("revoke", help="Revoke a token by its id; requests with it fail from now on.\n\n"
              "Example: aicc token revoke 3f2a9c1b7d0e --yes")(api_command(revoke))
    app.add_typer(t)


def issue(client: Client, tenant: Annotated[str, typer.Argument(help="Tenant the token acts for.")],
          name: Annotated[str, typer.Option("--name", help="What the token is for (shown in lists).")] = "",
          output: Output = Format.TABLE) -> None:
    t = client.issue_token(tenant, name)
    show(dump(t), output, lambda: listing([("Token", t.token), ("Id", t.id), ("Tenant", t.tenant),
                                           ("Name", t.name), ("Created", t.created_at)])
         + "\nThe token is shown only now: store it (e.g. AICC_TOKEN or a profile's token_file).")


def list_(client: Client,
          tenant: Annotated[str | None, typer.Option("--tenant", help="Only this tenant's tokens.")] = None,
          output: Output = Format.TABLE) -> None:
    items = client.tokens(tenant)
    rows = [[t.id, t.tenant or "(admin)", t.name, t.created_at, t.created_by, t.revoked_at or "-"] for t in items]
    show(dump_items(items), output,
         lambda: table(["ID", "TENANT", "NAME", "CREATED", "CREATED BY", "REVOKED"], rows))


def revoke(client: Client, token_id: Annotated[str, typer.Argument(help="Token id (from token list).")],
           tenant: Annotated[str | None, typer.Option("--tenant", help="Only if it is this tenant's.")] = None,
           yes: Yes = False, output: Output = Format.TABLE) -> None:
    confirm(yes, f"revoke token {token_id}")
    t = client.revoke_token(token_id, tenant)
    show(dump(t), output, lambda: f"revoked token {t.id} ({t.tenant or 'admin'}, {t.name}) at {t.revoked_at}")
