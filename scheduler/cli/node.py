"""``aicc node list|get|cordon|uncordon|drain``: the center's nodes (admin)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from scheduler.cli.connect import Output, Yes, api_command, confirm, dump, dump_items, show
from scheduler.cli.output import Format, table

if TYPE_CHECKING:
    from scheduler.api.models import NodeOut
    from scheduler.client import Client

NodeArg = Annotated[str, typer.Argument(help="Node name (see aicc node list).")]


def register(app: typer.Typer) -> None:
    n = typer.Typer(name="node", help="Nodes of the center: state, devices, cordon and drain (admin).",
                    no_args_is_help=True)
    n.command("list", help="List nodes with their devices allocated and free.\n\n"
              "Example: aicc node list --pool a800 --state cordoned")(api_command(list_))
    n.command("get", help="Show one node.\n\nExample: aicc node get a800-r01-n01 -o json")(api_command(get))
    n.command("cordon", help="Take nothing new on the node; what runs there keeps running.\n\n"
              "Example: aicc node cordon a800-r01-n01")(api_command(cordon))
    n.command("uncordon", help="Make the node schedulable again.\n\n"
              "Example: aicc node uncordon a800-r01-n01")(api_command(uncordon))
    n.command("drain", help="Cordon the node and, with --preempt, stop (requeue) the jobs running there; "
              "without it they finish and nothing new starts.\n\n"
              "Example: aicc node drain a800-r01-n01 --preempt --yes")(api_command(drain))
    app.add_typer(n)


def nodes_table(items: list[NodeOut]) -> str:
    rows = [[n.name, n.pool, n.rack, n.accelerator, n.state, n.devices, n.allocated, n.free, n.cpus, n.memory]
            for n in items]
    return table(["NODE", "POOL", "RACK", "ACCELERATOR", "STATE", "DEVICES", "ALLOCATED", "FREE", "CPUS",
                  "MEMORY"], rows)


def list_(client: Client,
          state: Annotated[str | None, typer.Option("--state", help="ready, cordoned or down.")] = None,
          pool: Annotated[str | None, typer.Option("--pool", help="Only this pool.")] = None,
          output: Output = Format.TABLE) -> None:
    items = client.nodes(state=state, pool=pool)
    show(dump_items(items), output, lambda: nodes_table(items))


def get(client: Client, name: NodeArg, output: Output = Format.TABLE) -> None:
    n = client.node(name)
    show(dump(n), output, lambda: nodes_table([n]))


def cordon(client: Client, name: NodeArg, output: Output = Format.TABLE) -> None:
    n = client.cordon(name)
    show(dump(n), output, lambda: f"node {n.name} {n.state}; {n.allocated} devices still held by jobs")


def uncordon(client: Client, name: NodeArg, output: Output = Format.TABLE) -> None:
    n = client.uncordon(name)
    show(dump(n), output, lambda: f"node {n.name} {n.state}; {n.free} devices free")


def drain(client: Client, name: NodeArg,
          preempt: Annotated[bool, typer.Option("--preempt", help="Stop (requeue) what runs there now.")] = False,
          yes: Yes = False, output: Output = Format.TABLE) -> None:
    confirm(yes, f"drain node {name}" + (" and preempt its jobs" if preempt else ""))
    d = client.drain(name, preempt=preempt)
    show(dump(d), output, lambda: f"node {d.node} {d.state}; preempted: {', '.join(d.preempted) or 'none'}; "
         f"still running: {', '.join(d.still_running) or 'none'}")
