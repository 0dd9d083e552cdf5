"""The ``aicc`` command: ``aicc <noun> <verb>``, as in ``ray job submit``.

Each module of this package adds its nouns to the app in ``register``; the
app is assembled on first use, so importing the package stays cheap.
"""

from __future__ import annotations

import importlib

import typer

COMMAND_MODULES = ("demo", "up", "serve", "simulate", "center", "tenant", "quota", "token", "job", "node",
                   "usage", "top", "audit", "config", "kube")

app = typer.Typer(
    name="aicc",
    help="Scheduler and monitor for a shared AI computing center.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

_registered = False


def build() -> typer.Typer:
    global _registered
    if not _registered:
        for name in COMMAND_MODULES:
            importlib.import_module(f"scheduler.cli.{name}").register(app)
        _registered = True
    return app


def main() -> None:
    build()()
