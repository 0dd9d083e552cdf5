"""Tenants shown as a tree: each parent followed by its children, indented."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")


def in_tree_order(items: Sequence[T], name: Callable[[T], str], parent: Callable[[T], str | None]
                  ) -> list[tuple[T, int]]:
    """The items depth first (children in name order under their parent), with their depth.
    An item whose parent is not listed (a tenant sees only itself) is shown at the top."""
    by_name = {name(i): i for i in items}
    children: dict[str | None, list[T]] = {}
    for i in items:
        p = parent(i)
        children.setdefault(p if p in by_name else None, []).append(i)
    out: list[tuple[T, int]] = []

    def walk(p: str | None, depth: int) -> None:
        for i in sorted(children.get(p, []), key=name):
            out.append((i, depth))
            walk(name(i), depth + 1)

    walk(None, 0)
    return out


def label(text: str, depth: int) -> str:
    """The name indented under its parent."""
    return text if depth == 0 else "  " * (depth - 1) + "└ " + text
