"""One live ``aicc serve`` for the client tests, and a fresh tenant per test."""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from scheduler.client import Client, NotFound
from tests.client.live import LiveServer

_names = itertools.count()


@pytest.fixture
def admin(server: LiveServer) -> Iterator[Client]:
    with Client(server.url, server.admin) as c:
        yield c


@pytest.fixture
def new_tenant(admin: Client, server: LiveServer) -> Iterator[Callable[..., tuple[str, Client]]]:
    """Create a tenant (unique name) and a client holding its token."""
    made: list[tuple[str, Client]] = []

    def make(guaranteed: str = "0.624P", limit: str = "1.248P", **extra: Any) -> tuple[str, Client]:
        name = f"c{next(_names)}"
        admin.create_tenant(name=name, guaranteed=guaranteed, limit=limit, **extra)
        c = Client(server.url, admin.issue_token(name, "tests").token)
        made.append((name, c))
        return name, c

    yield make
    for name, c in made:  # frees the devices its jobs hold for the next test
        c.close()
        with contextlib.suppress(NotFound):
            admin.delete_tenant(name, force=True)
