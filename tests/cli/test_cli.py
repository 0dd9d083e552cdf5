"""What every command shares: where the server and token come from, one-line errors from
the real ``aicc`` entry point, and help with an example."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import typer

from scheduler.cli import build
from tests.cli.conftest import Cli

NOUNS = ("center", "tenant", "quota", "token", "job", "node", "usage", "top", "audit", "config")


def test_every_command_has_help_with_an_example() -> None:
    root: Any = typer.main.get_command(build())
    missing = []
    for noun in NOUNS:
        cmd = root.commands[noun]
        verbs = cmd.commands.values() if hasattr(cmd, "commands") else [cmd]
        missing += [f"{noun} {v.name}" for v in verbs if "Example: aicc" not in (v.help or "")]
    assert missing == []


def test_profiles_flags_and_environment(cli: Cli, tmp_path: object) -> None:
    srv, admin = cli.server.url, cli.server.admin
    cli.ok("config", "set", "lab", "--server", srv, "--token", admin)
    cli.ok("config", "set", "broken", "--server", "http://127.0.0.1:22998", "--token", "x", "--timeout", "2")
    shown = cli.ok("config", "show").stdout
    assert "* lab" in shown.replace("*  lab", "* lab") and admin not in shown  # masked
    no_env = {"AICC_SERVER": "", "AICC_TOKEN": ""}
    assert "test-center" in cli.ok("center", "show", env=no_env).stdout  # the current profile: lab
    assert "cannot reach" in cli.fails("center", "show", "--profile", "broken", env=no_env)
    # a flag beats the profile
    assert "test-center" in cli.ok("center", "show", "--profile", "broken", "--server", srv, "--token", admin,
                                   env=no_env).stdout
    # the environment beats the profile
    assert "test-center" in cli.ok("center", "show", env={"AICC_SERVER": "", "AICC_TOKEN": "",
                                                           "AICC_PROFILE": "broken"} | {"AICC_SERVER": srv,
                                                                                       "AICC_TOKEN": admin}).stdout
    assert "unauthorized" in cli.fails("center", "show", "--token", "wrong")
    cli.ok("config", "use", "broken")
    assert "cannot reach" in cli.fails("center", "show", env=no_env)
    assert "no profile 'nope'" in cli.fails("center", "show", "--profile", "nope", env=no_env)
    assert "pass --yes" in cli.fails("config", "delete", "lab")
    cli.ok("config", "delete", "lab", "--yes")
    assert json.loads(cli.ok("config", "show", "-o", "json").stdout)["profiles"].keys() == {"broken"}


def test_the_installed_command_fails_with_one_line_and_no_traceback(cli: Cli) -> None:
    env = {**os.environ, "AICC_SERVER": cli.server.url, "AICC_TOKEN": cli.server.admin,
           "AICC_CONFIG": str(cli.config)}
    env.pop("AICC_DEBUG", None)
    run = subprocess.run([sys.executable, "-c", "from scheduler.cli import main; main()", "quota", "get", "nope"],
                         capture_output=True, text=True, env=env, timeout=60)
    assert run.returncode == 1 and run.stdout == ""
    assert run.stderr == "error: tenant 'nope' not found (tenant-not-found, HTTP 404)\n"
    run = subprocess.run([sys.executable, "-c", "from scheduler.cli import main; main()", "quota", "set", "acme",
                          "--guaranteed", "12X"], capture_output=True, text=True, env=env, timeout=60)
    assert run.returncode == 1 and run.stderr.startswith("error: --guaranteed: cannot read compute '12X'")
    assert run.stderr.count("\n") == 1
