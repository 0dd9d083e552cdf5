"""Printing for the CLI: tables by default, ``-o json|yaml``; one-line errors."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from enum import StrEnum
from typing import Any, NoReturn

import typer
import yaml


class Format(StrEnum):
    TABLE = "table"
    JSON = "json"
    YAML = "yaml"


OutputOption = typer.Option(Format.TABLE, "--output", "-o", help="table, json or yaml.")


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[str(c) for c in headers]] + [["" if c is None else str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    return "\n".join(lines)


def emit(data: Any, fmt: Format, headers: Sequence[str] = (), rows: Sequence[Sequence[Any]] = ()) -> None:
    if fmt is Format.JSON:
        typer.echo(json.dumps(data, indent=2, sort_keys=False))
    elif fmt is Format.YAML:
        typer.echo(yaml.safe_dump(data, sort_keys=False).rstrip())
    else:
        typer.echo(table(headers, rows))


def fail(message: str, code: int = 1) -> NoReturn:
    """One line on stderr and a non-zero exit: what a script can test for."""
    print(f"error: {message}", file=sys.stderr)
    raise typer.Exit(code)
