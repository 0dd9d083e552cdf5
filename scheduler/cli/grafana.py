"""``aicc grafana provision``: the Prometheus data source, a folder and the aicc dashboards,
put into a Grafana through its HTTP API, idempotently (see monitor/grafana.py)."""

from __future__ import annotations

from typing import Annotated

import typer

from scheduler.cli.output import Format, OutputOption, emit, fail


def register(app: typer.Typer) -> None:
    g = typer.Typer(name="grafana", help="Grafana: provision the aicc dashboards.", no_args_is_help=True)
    g.command("provision", help=(
        "Create or update the Prometheus data source, the folder and the aicc dashboards (by uid). "
        "Running it twice changes nothing; --dry-run only prints what it would change. "
        "Dashboards provisioned from files are left to their file provider (one owner each).\n\n"
        "Example: aicc grafana provision --url http://grafana:3000 --token $GRAFANA_TOKEN "
        "--prometheus-url http://prometheus:9090"))(provision)
    app.add_typer(g)


def provision(
    url: Annotated[str, typer.Option("--url", envvar="GRAFANA_URL",
                                     help="Grafana's URL, e.g. http://grafana:3000.")],
    token: Annotated[str | None, typer.Option(
        "--token", envvar="GRAFANA_TOKEN",
        help="A service account token with the Editor role (or user:password in --url).")] = None,
    prometheus_url: Annotated[str, typer.Option(
        "--prometheus-url", help="Where Grafana reaches Prometheus.")] = "http://prometheus:9090",
    folder: Annotated[str, typer.Option("--folder", help="Title of the dashboards' folder.")] = "aicc",
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print what would change; change nothing.")] = False,
    output: Format = OutputOption,
) -> None:
    try:
        from monitor.grafana import Action, Provisioner, ProvisionError
        from monitor.grafana_api import GrafanaApi
    except ImportError as exc:
        fail(f"provisioning needs the 'monitor' extra (pip install 'aicc[monitor]'): {exc}")
    try:
        with GrafanaApi(url, token, timeout=10.0) as api:
            changes = Provisioner(api, prometheus_url=prometheus_url, folder_title=folder).run(dry_run)
    except ProvisionError as exc:
        fail(str(exc))
    rows = [[c.kind, c.uid, c.name, ("would " if dry_run and c.action in (Action.CREATE, Action.UPDATE)
                                      else "") + c.action.value, c.detail] for c in changes]
    emit({"dryRun": dry_run, "changes": [c.as_dict() for c in changes]}, output,
         ["KIND", "UID", "NAME", "ACTION", "DETAIL"], rows)
    conflicts = [c for c in changes if c.action is Action.CONFLICT]
    if conflicts:
        fail(f"{len(conflicts)} object(s) not provisioned: "
             + "; ".join(f"{c.kind} {c.uid}: {c.detail}" for c in conflicts))
