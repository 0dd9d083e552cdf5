"""The layers of DESIGN.md hold: the decision core does no I/O and reads no clock,
and no lower layer imports a higher one."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PURE_FORBIDDEN = {"ray", "fastapi", "sqlalchemy", "httpx", "requests", "asyncio", "time", "socket",
                  "subprocess", "threading", "uvicorn", "yaml", "random", "os", "datetime", "scheduler.engine",
                  "scheduler.store", "scheduler.api", "scheduler.service", "scheduler.executors",
                  "scheduler.sim", "scheduler.cli", "monitor"}
LAYERS = {
    "scheduler/engine": {"scheduler.store", "scheduler.api", "scheduler.service", "scheduler.cli",
                         "scheduler.sim", "scheduler.executors", "monitor", "fastapi", "sqlalchemy", "ray"},
}


def imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.extend(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append(node.module)
    return out


def offending(module: str, forbidden: set[str]) -> bool:
    return any(module == f or module.startswith(f + ".") for f in forbidden)


def sources(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


@pytest.mark.parametrize("folder", ["scheduler/domain", "scheduler/core"])
def test_the_domain_and_the_core_are_pure(folder: str) -> None:
    bad = [(p.relative_to(ROOT), m) for p in sources(folder) for m in imports(p) if offending(m, PURE_FORBIDDEN)]
    assert bad == []


@pytest.mark.parametrize("folder", sorted(LAYERS))
def test_lower_layers_do_not_import_higher_ones(folder: str) -> None:
    bad = [(p.relative_to(ROOT), m) for p in sources(folder) for m in imports(p) if offending(m, LAYERS[folder])]
    assert bad == []


def test_the_check_catches_an_impure_import(tmp_path: Path) -> None:
    f = tmp_path / "x.py"
    f.write_text("import time\nfrom sqlalchemy.orm import Session\nfrom . import y\n")
    assert [m for m in imports(f) if offending(m, PURE_FORBIDDEN)] == ["time", "sqlalchemy.orm"]
