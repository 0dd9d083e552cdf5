"""The ``aicc`` command: ``aicc <noun> <verb>``, as in ``ray job submit``.

Each module of this package adds its nouns to the app in ``register``; the
app is assembled on first use, so importing the package stays cheap.
"""

from __future__ import annotations

import importlib
import sys

import typer

COMMAND_MODULES = ("demo", "up", "serve", "simulate", "center", "tenant", "quota", "budget", "token", "job", "node",
                   "usage", "top", "audit", "config", "kube", "grafana")

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
    """Run the CLI; a usage error is one line on stderr and exit status 2, not a box."""
    from typer._click import exceptions as exc_mod  # typer carries its own copy of click
    command = typer.main.get_command(build())
    try:
        code = command.main(standalone_mode=False)
    except exc_mod.NoArgsIsHelpError as exc:
        typer.echo(exc.ctx.get_help() if exc.ctx else str(exc))
        code = 0
    except exc_mod.UsageError as exc:
        where = f" (see '{exc.ctx.command_path} --help')" if exc.ctx else ""
        print(f"error: {exc.format_message()}{where}", file=sys.stderr)
        code = 2
    except typer.Abort:
        print("error: aborted", file=sys.stderr)
        code = 1
    sys.exit(code if isinstance(code, int) else 0)
