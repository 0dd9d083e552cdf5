"""What every command that talks to a server shares: the connection options, the client,
errors as one line, ``--yes`` on destructive verbs, and a few formatters.

``api_command`` turns ``f(client, ...)`` into a Typer command that also takes
``--server``, ``--token`` and ``--profile``, opens the client from them (flags,
then AICC_SERVER / AICC_TOKEN, then the config profile) and prints any error
as ``error: ...`` on stderr with a non-zero exit, never a traceback (set
AICC_DEBUG=1 to see one).
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import math
import os
import re
import sys
import typing
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any

import click
import typer

from scheduler.cli.output import Format, emit, fail

if TYPE_CHECKING:
    from pydantic import BaseModel

    from scheduler.client import Client

Output = Annotated[Format, typer.Option("--output", "-o", help="table, json or yaml.")]
Yes = Annotated[bool, typer.Option("--yes", "-y", help="Do it without asking (required when stdin is not a terminal).")]

_SERVER = inspect.Parameter(
    "server", inspect.Parameter.KEYWORD_ONLY, default=None,
    annotation=Annotated[str | None, typer.Option(
        "--server", help="API address (env AICC_SERVER; default: the profile's, else http://127.0.0.1:8080).",
        show_default=False)])
_TOKEN = inspect.Parameter(
    "token", inspect.Parameter.KEYWORD_ONLY, default=None,
    annotation=Annotated[str | None, typer.Option(
        "--token", help="Bearer token, a tenant's or the admin's (env AICC_TOKEN).", show_default=False)])
_PROFILE = inspect.Parameter(
    "profile", inspect.Parameter.KEYWORD_ONLY, default=None,
    annotation=Annotated[str | None, typer.Option(
        "--profile", help="Profile of ~/.config/aicc/config.yaml (env AICC_PROFILE).", show_default=False)])


def open_client(server: str | None, token: str | None, profile: str | None) -> Client:
    from scheduler.client import Client

    return Client.from_config(server, token, profile)


@contextlib.contextmanager
def one_line_errors() -> Iterator[None]:
    """Client errors, bad input and interrupts as one line on stderr and a non-zero exit."""
    try:
        yield
    except (typer.Exit, typer.Abort, click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
        raise
    except KeyboardInterrupt:
        raise typer.Exit(130) from None
    except BrokenPipeError:  # `aicc job list | head`: the reader has what it wanted
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        raise typer.Exit(0) from None
    except Exception as exc:
        if os.environ.get("AICC_DEBUG"):
            raise
        from scheduler.client import AiccError, Unauthorized

        if isinstance(exc, Unauthorized):
            fail(f"{exc}; give a token with --token, AICC_TOKEN or a profile (aicc config set)")
        if isinstance(exc, AiccError):
            fail(str(exc))
        fail(f"{type(exc).__name__}: {exc}")


def api_command(fn: Callable[..., None]) -> Callable[..., None]:
    """``fn(client, ...)`` as a command with --server/--token/--profile and one-line errors."""
    sig = inspect.signature(fn)
    hints = typing.get_type_hints(fn, localns={"Client": object}, include_extras=True)
    params = [p.replace(annotation=hints.get(p.name, p.annotation))
              for p in list(sig.parameters.values())[1:]]

    @functools.wraps(fn)
    def command(*args: Any, server: str | None = None, token: str | None = None,
                profile: str | None = None, **kwargs: Any) -> None:
        with one_line_errors():
            client = open_client(server, token, profile)
            try:
                fn(client, *args, **kwargs)
            finally:
                client.close()

    all_params = [*params, _SERVER, _TOKEN, _PROFILE]
    command.__signature__ = sig.replace(parameters=all_params, return_annotation=None)  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: p.annotation for p in all_params}
    return command


def confirm(yes: bool, what: str) -> None:
    """Destructive verbs: ``--yes``, or a yes at the terminal; never a silent default."""
    if yes:
        return
    if not sys.stdin.isatty():
        fail(f"{what}: pass --yes to confirm (stdin is not a terminal)")
    if not typer.confirm(f"{what}?", default=False):
        fail("not confirmed; nothing was done")


# -- formatting ---------------------------------------------------------------------------


def dump(model: BaseModel) -> Any:
    """A response model as the API's JSON."""
    return model.model_dump(mode="json", by_alias=True)


def dump_items(models: Sequence[BaseModel]) -> dict[str, Any]:
    return {"items": [dump(m) for m in models]}


def show(data: Any, fmt: Format, text: Callable[[], str]) -> None:
    """JSON or YAML of ``data``; else the text (a table or a listing) made only when needed."""
    if fmt is Format.TABLE:
        typer.echo(text())
    else:
        emit(data, fmt)


def listing(pairs: Sequence[tuple[str, Any]]) -> str:
    """``Key:  value`` lines, aligned, skipping empty values."""
    shown = [(k, v) for k, v in pairs if v not in (None, "", [], {})]
    width = max((len(k) for k, _ in shown), default=0) + 1
    return "\n".join(f"{k + ':':<{width}} {v}" for k, v in shown)


def parse_time(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def age(since: str | None, now: datetime | None = None) -> str:
    """``42s``, ``5m``, ``3h``, ``2d``: how long ago, as squeue and kubectl show it."""
    start = parse_time(since)
    if start is None:
        return ""
    s = max(0, int(((now or datetime.now(UTC)) - start).total_seconds()))
    if s < 120:
        return f"{s}s"
    if s < 7200:
        return f"{s // 60}m"
    if s < 172800:
        return f"{s // 3600}h"
    return f"{s // 86400}d"


_SPANS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def when(value: str | None, option: str) -> str | None:
    """A time for the API: RFC 3339, a date, epoch seconds, or ``7d`` / ``12h`` ago.

    Checked here so a typo is a clean error before any request.
    """
    if value is None or value == "":
        return None
    v = value.strip()
    if v == "now":
        return datetime.now(UTC).isoformat().replace("+00:00", "Z")
    if len(v) > 1 and v[-1] in _SPANS and v[:-1].isdigit():
        at = datetime.now(UTC) - timedelta(seconds=int(v[:-1]) * _SPANS[v[-1]])
        return at.isoformat().replace("+00:00", "Z")
    try:
        t = float(v)
    except ValueError:
        pass
    else:  # sent as the API reads it: plain digits, or RFC 3339
        if not math.isfinite(t):
            fail(f"{option}: {value!r} is not a time")
        if re.fullmatch(r"[0-9]{1,11}(\.[0-9]{1,9})?", v):
            return v
        at = datetime.fromtimestamp(min(max(t, 0.0), 253402300799.0), UTC)
        return at.isoformat().replace("+00:00", "Z")
    dt = parse_time(v)
    if dt is None:
        fail(f"{option}: cannot read time {value!r}: expected RFC 3339 (2026-01-31T00:00:00Z), "
             "a date (2026-01-31), epoch seconds, or a span ago (12h, 7d)")
    if re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", v):
        return v
    return dt.astimezone(UTC).isoformat().replace("+00:00", "Z")


def compute(value: str | None, option: str) -> str | None:
    """A compute flag checked with the domain's parser: ``12X`` fails here, not at the server."""
    if value is None:
        return None
    from scheduler.domain.units import UnitError, parse_compute

    try:
        parse_compute(value)
    except UnitError as exc:
        fail(f"{option}: {exc}")
    return value


def caps(values: Sequence[str] | None, option: str = "--cap") -> dict[str, int] | None:
    """``a800=256`` (repeatable) to {type: devices}."""
    if not values:
        return None
    out: dict[str, int] = {}
    for raw in values:
        for item in raw.split(","):
            name, sep, count = item.partition("=")
            name = name.strip()
            if not sep or not name or not count.strip().isdigit():
                fail(f"{option}: expected TYPE=DEVICES such as a800=256, got {item!r}")
            out[name] = int(count)
    return out
