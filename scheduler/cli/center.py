"""``aicc center show``: capacity by pool and accelerator type: devices and PFLOPS, total,
allocated and free, with racks."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from scheduler.cli.connect import Output, api_command, dump, show
from scheduler.cli.output import Format, table

if TYPE_CHECKING:
    from scheduler.api.models import CenterOut
    from scheduler.client import Client


def register(app: typer.Typer) -> None:
    center = typer.Typer(name="center", help="The computing center: pools, accelerator types, capacity.",
                         no_args_is_help=True)
    center.command("show", help="Pools and accelerator types: devices and PFLOPS total, allocated and "
                   "free; nodes and racks.\n\nExample: aicc center show -o json")(api_command(show_center))
    app.add_typer(center)


def _p(x: float) -> str:
    return f"{x:.1f}"


def center_text(c: CenterOut) -> str:
    pools = [[p.name, p.accelerator, p.nodes, p.racks, p.devices, p.allocated_devices, p.free_devices,
              p.unschedulable_devices, _p(p.pflops), _p(p.allocated_pflops), _p(p.free_pflops)]
             for p in c.pools]
    t = c.total
    pools.append(["total", "", sum(p.nodes for p in c.pools), sum(p.racks for p in c.pools), t.devices,
                  t.allocated_devices, t.free_devices, t.unschedulable_devices, _p(t.pflops),
                  _p(t.allocated_pflops), _p(t.free_pflops)])
    accels = [[a.name, f"{a.tflops_fp16:g}", a.memory, a.devices, a.allocated_devices, a.free_devices,
               _p(a.pflops), _p(a.allocated_pflops), _p(a.free_pflops)] for a in c.accelerators]
    classes = ", ".join(f"{k}={v}" for k, v in c.priority_classes.items())
    return "\n".join([
        f"Center {c.name}: {_p(t.pflops)} PFLOPS fp16 dense, {t.devices} devices; "
        f"{_p(c.guaranteed_pflops)} PFLOPS guaranteed to tenants",
        "",
        table(["POOL", "ACCELERATOR", "NODES", "RACKS", "DEVICES", "ALLOCATED", "FREE", "UNSCHEDULABLE",
               "PFLOPS", "ALLOC PFLOPS", "FREE PFLOPS"], pools),
        "",
        table(["ACCELERATOR", "FP16 TFLOPS", "MEMORY", "DEVICES", "ALLOCATED", "FREE", "PFLOPS",
               "ALLOC PFLOPS", "FREE PFLOPS"], accels),
        "",
        f"Priority classes: {classes}",
        *([leader_line(c)] if c.leadership is not None else []),
    ])


def leader_line(c: CenterOut) -> str:
    """Who schedules, as the replica that answered sees it."""
    led = c.leadership
    assert led is not None
    if led.mode == "single":
        return "Scheduler: one replica (no leader election)"
    who = f"{led.leader} (epoch {led.epoch})" if led.leader else "NONE (a failover is under way)"
    return f"Scheduler leader: {who}; this replica is {led.role}; {led.changes} leader changes seen"


def show_center(client: Client, output: Output = Format.TABLE) -> None:
    c = client.center()
    show(dump(c), output, lambda: center_text(c))
