"""The CLI in-process (typer's CliRunner) against one live ``aicc serve`` for the session."""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from scheduler.cli import build
from scheduler.client import Client, NotFound
from tests.client.live import LiveServer

_names = itertools.count()


@pytest.fixture
def admin(server: LiveServer) -> Iterator[Client]:
    """The API itself, to check what the CLI did and to compare its output with."""
    with Client(server.url, server.admin) as c:
        yield c


@dataclass
class Cli:
    server: LiveServer
    config: Path

    def __call__(self, *args: str, token: str | None = None, input: str | None = None,
                 env: dict[str, str] | None = None) -> Result:
        """``aicc ARGS`` with the admin token (or ``token``); AICC_CONFIG isolated."""
        base = {"AICC_SERVER": self.server.url, "AICC_TOKEN": token or self.server.admin,
                "AICC_CONFIG": str(self.config), "AICC_PROFILE": "", "AICC_DEBUG": ""}
        return CliRunner().invoke(build(), list(args), input=input, env={**base, **(env or {})})

    def ok(self, *args: str, **kw: Any) -> Result:
        r = self(*args, **kw)
        assert r.exit_code == 0, f"aicc {' '.join(args)}: exit {r.exit_code}\n{r.stdout}\n{r.stderr}"
        return r

    def fails(self, *args: str, **kw: Any) -> str:
        """The one error line; asserts a non-zero exit and nothing on stdout."""
        r = self(*args, **kw)
        assert r.exit_code != 0, f"aicc {' '.join(args)} succeeded:\n{r.stdout}"
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
        assert "Traceback" not in r.stderr and r.stdout == ""
        return lines[0]


@pytest.fixture
def cli(server: LiveServer, tmp_path: Path) -> Cli:
    return Cli(server, tmp_path / "config.yaml")


@pytest.fixture
def new_tenant(admin: Client) -> Iterator[Callable[..., tuple[str, str]]]:
    """A fresh tenant and its token; deleted (jobs cancelled) after the test."""
    made: list[str] = []

    def make(guaranteed: str = "1.248P", limit: str = "2.496P") -> tuple[str, str]:
        name = f"cli{next(_names)}"
        admin.create_tenant(name=name, guaranteed=guaranteed, limit=limit)
        made.append(name)
        return name, admin.issue_token(name, "cli-tests").token

    yield make
    for name in made:
        with contextlib.suppress(NotFound):
            admin.delete_tenant(name, force=True)
