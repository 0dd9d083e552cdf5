"""``aicc top``: a live view of the center, refreshed until interrupted."""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer

from scheduler.cli.connect import Output, api_command, dump
from scheduler.cli.output import Format, emit, table
from scheduler.cli.tree import in_tree_order, label

if TYPE_CHECKING:
    from scheduler.api.models import CenterOut, UsageOut
    from scheduler.client import Client

CLEAR = "\x1b[H\x1b[2J"


def register(app: typer.Typer) -> None:
    app.command("top", help="A live view of the center: per tenant guaranteed, in use and borrowed PFLOPS "
                "and queue depth; free devices by accelerator type. Refreshes until Ctrl-C; --once "
                "prints one frame (for scripts).\n\nExample: aicc top --interval 5\n\n"
                "Example: aicc top --once -o json")(api_command(top))


def snapshot(client: Client) -> tuple[CenterOut, list[UsageOut]]:
    from scheduler.client import Forbidden

    center = client.center()
    try:
        usage = client.usage_all()
    except Forbidden:  # a tenant token sees its own line
        usage = [client.usage()]
    return center, usage


def _leader(center: CenterOut) -> str:
    """With replicas (--ha): who leads, on the first line."""
    led = center.leadership
    if led is None or led.mode != "ha":
        return ""
    return f" - leader {led.leader} (epoch {led.epoch})" if led.leader else " - leader NONE (failover)"


def frame(center: CenterOut, usage: list[UsageOut], now: datetime | None = None) -> str:
    now = now or datetime.now(UTC)
    t = center.total
    used = 100.0 * t.allocated_pflops / t.pflops if t.pflops else 0.0
    # a parent's line is its subtree's: the total counts the top-level lines
    ordered = in_tree_order(usage, lambda u: u.tenant, lambda u: u.parent)
    rows: list[list[Any]] = [[label(u.tenant, depth), f"{u.guaranteed_pflops:.1f}", f"{u.limit_pflops:.1f}",
                              f"{u.in_use_pflops:.1f}", f"{u.borrowed_pflops:.1f}",
                              f"{100.0 * u.in_use_pflops / u.guaranteed_pflops:.0f}%" if u.guaranteed_pflops else "-",
                              u.running_jobs, u.pending_jobs] for u, depth in ordered]
    tops = [u for u, depth in ordered if depth == 0]
    rows.append(["total", f"{sum(u.guaranteed_pflops for u in tops):.1f}", "",
                 f"{sum(u.in_use_pflops for u in tops):.1f}", f"{sum(u.borrowed_pflops for u in tops):.1f}",
                 "", sum(u.running_jobs for u in tops), sum(u.pending_jobs for u in tops)])
    accels = [[a.name, a.free_devices, a.allocated_devices, a.unschedulable_devices, a.devices,
               f"{a.free_pflops:.1f}"] for a in center.accelerators]
    return "\n".join([
        f"aicc top - {center.name} - {now.strftime('%Y-%m-%d %H:%M:%S')} UTC{_leader(center)}",
        f"Compute: {t.allocated_pflops:.1f} of {t.pflops:.1f} PFLOPS allocated ({used:.0f}%), "
        f"{t.free_pflops:.1f} free; devices {t.allocated_devices}/{t.devices}",
        "",
        table(["TENANT", "GUARANTEED", "LIMIT", "IN USE", "BORROWED", "OF GUARANTEE", "RUNNING", "QUEUED"], rows),
        "",
        table(["ACCELERATOR", "FREE", "ALLOCATED", "UNSCHEDULABLE", "DEVICES", "FREE PFLOPS"], accels),
    ])


def top(client: Client,
        interval: Annotated[float, typer.Option("--interval", "-n", min=0.2, help="Seconds between refreshes.")] = 2.0,
        once: Annotated[bool, typer.Option("--once", help="Print one frame and exit.")] = False,
        output: Output = Format.TABLE) -> None:
    if output is not Format.TABLE:
        center, usage = snapshot(client)
        emit({"center": dump(center), "usage": [dump(u) for u in usage]}, output)
        return
    clear = sys.stdout.isatty() and not once
    try:
        _refresh(client, interval, once, clear)
    except KeyboardInterrupt:  # the way out of a live view: not an error
        return


def _refresh(client: Client, interval: float, once: bool, clear: bool) -> None:
    while True:
        center, usage = snapshot(client)
        text = frame(center, usage)
        typer.echo((CLEAR if clear else "") + text)
        if once:
            return
        if not clear:
            typer.echo("")
        time.sleep(interval)
