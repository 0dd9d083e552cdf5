"""``aicc config set|use|show|delete``: named profiles of server and token."""

from __future__ import annotations

from typing import Annotated

import typer

from scheduler.cli.connect import Output, Yes, confirm, one_line_errors, show
from scheduler.cli.output import Format, fail, table

ProfileArg = Annotated[str, typer.Argument(help="Profile name.")]


def register(app: typer.Typer) -> None:
    c = typer.Typer(name="config", help="Profiles of ~/.config/aicc/config.yaml (or $AICC_CONFIG): which "
                    "server and token to use. Flags and AICC_SERVER / AICC_TOKEN override them.",
                    no_args_is_help=True)
    c.command("set", help="Create or change a profile.\n\n"
              "Example: aicc config set prod --server https://aicc.example.org --token-file ~/.aicc-token --use")(set_)
    c.command("use", help="Make a profile the current one.\n\nExample: aicc config use prod")(use)
    c.command("show", help="List the profiles (tokens masked) and which one is current.\n\n"
              "Example: aicc config show")(show_)
    c.command("delete", help="Remove a profile.\n\nExample: aicc config delete old --yes")(delete)
    app.add_typer(c)


def _mask(token: str | None) -> str | None:
    if not token:
        return token
    return token[:10] + "..." if len(token) > 14 else "***"


def set_(name: ProfileArg,
         server: Annotated[str | None, typer.Option("--server", help="API address.")] = None,
         token: Annotated[str | None, typer.Option("--token", help="Bearer token (kept in the file, 0600).")] = None,
         token_file: Annotated[str | None, typer.Option("--token-file", help="Read the token from this file.")] = None,
         timeout: Annotated[float | None, typer.Option("--timeout", min=0.1, help="Seconds to wait for answers.")] = None,
         use_: Annotated[bool, typer.Option("--use", help="Make it the current profile.")] = False) -> None:
    from scheduler.client.config import Profile, config_path, load_config, save_config

    with one_line_errors():
        path = config_path()
        cfg = load_config(path)
        p = cfg.profiles.get(name, Profile())
        update: dict[str, object] = {k: v for k, v in {"server": server, "token": token, "token_file": token_file,
                                    "timeout": timeout}.items() if v is not None}
        if token is not None:
            update["token_file"] = None
        if token_file is not None:
            update["token"] = None
        cfg.profiles[name] = p.model_copy(update=update)
        if use_ or cfg.current is None:
            cfg.current = name
        save_config(path, cfg)
        typer.echo(f"profile {name} saved in {path}" + (" (current)" if cfg.current == name else ""))


def use(name: ProfileArg) -> None:
    from scheduler.client.config import config_path, load_config, save_config

    with one_line_errors():
        path = config_path()
        cfg = load_config(path)
        if name not in cfg.profiles:
            fail(f"no profile {name!r} in {path} (profiles: {', '.join(sorted(cfg.profiles)) or 'none'})")
        cfg.current = name
        save_config(path, cfg)
        typer.echo(f"using profile {name}")


def show_(output: Output = Format.TABLE) -> None:
    from scheduler.client.config import config_path, load_config

    with one_line_errors():
        path = config_path()
        cfg = load_config(path)
        data = {"path": str(path), "current": cfg.current,
                "profiles": {n: {**p.model_dump(exclude_none=True), **({"token": _mask(p.token)} if p.token else {})}
                             for n, p in cfg.profiles.items()}}
        rows = [["*" if n == cfg.current else "", n, p.server or "", _mask(p.token) or p.token_file or ""]
                for n, p in sorted(cfg.profiles.items())]
        show(data, output, lambda: f"{path}\n" + table(["", "PROFILE", "SERVER", "TOKEN"], rows))


def delete(name: ProfileArg, yes: Yes = False) -> None:
    from scheduler.client.config import config_path, load_config, save_config

    with one_line_errors():
        path = config_path()
        cfg = load_config(path)
        if name not in cfg.profiles:
            fail(f"no profile {name!r} in {path}")
        confirm(yes, f"delete profile {name}")
        del cfg.profiles[name]
        if cfg.current == name:
            cfg.current = None
        save_config(path, cfg)
        typer.echo(f"deleted profile {name}")
