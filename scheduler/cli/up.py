"""``aicc up``: the README's main job, the embedded center."""

from __future__ import annotations

import typer

from scheduler.cli.demo import demo


def register(app: typer.Typer) -> None:
    app.command("up", help="Run the embedded center (today: the scheduling demo).")(up)


def up() -> None:
    demo(center=None, jobs=60, seed=7)
