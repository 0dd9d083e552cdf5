"""The layers of DESIGN.md hold, as a contract checked on every package: the decision
core does no I/O and reads no clock, and no package imports one it may not::

    domain  <-  core  <-  engine  <-  store, executors (through the engine's ports and clock)
                             ^
                service (use cases) <- api (FastAPI) ; client <- api's models ; cli (all)
    sim  ->  engine + a simulated executor, a store in memory, and a clock
    monitor  ->  reads engine state; never decides

``ALLOWED`` lists, per package, the packages of aicc it may import (``scheduler``
itself, for the version, is open to all); a new import across layers is one edit here,
made on purpose.
"""

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
#: the engine's ports and clock: what stores and executors may see of it
ENGINE_PORTS = {"scheduler.engine.ports", "scheduler.engine.clock"}
ALLOWED: dict[str, set[str]] = {
    "scheduler/domain": set(),
    "scheduler/core": {"scheduler.domain"},
    "scheduler/engine": {"scheduler.domain", "scheduler.core"},
    "scheduler/store": {"scheduler.domain", *ENGINE_PORTS},
    # the kuberay executor talks to Kubernetes through the kube package's client
    "scheduler/executors": {"scheduler.domain", "scheduler.kube.client", *ENGINE_PORTS},
    "scheduler/centerfile.py": {"scheduler.domain", "scheduler.core"},
    "scheduler/kube": {"scheduler.domain", "scheduler.centerfile"},
    "scheduler/sim": {"scheduler.domain", "scheduler.core", "scheduler.engine", "scheduler.executors",
                      "scheduler.store.memory", "scheduler.centerfile"},
    "scheduler/service": {"scheduler.domain", "scheduler.core", "scheduler.engine", "scheduler.executors",
                          "scheduler.store", "scheduler.centerfile", "scheduler.kube"},
    "scheduler/api": {"scheduler.domain", "scheduler.service"},
    "scheduler/client": {"scheduler.api"},
    "scheduler/cli": {"scheduler.domain", "scheduler.core", "scheduler.engine", "scheduler.executors",
                      "scheduler.store", "scheduler.centerfile", "scheduler.kube", "scheduler.sim",
                      "scheduler.service", "scheduler.api", "scheduler.client", "monitor"},
    "monitor": {"scheduler.domain", "scheduler.core", "scheduler.engine"},
}
#: third-party packages a layer must not import: the simulator runs without the service's
PACKAGES_FORBIDDEN = {
    "scheduler/store": {"fastapi", "ray"},
    "scheduler/executors": {"fastapi", "sqlalchemy"},
    "scheduler/sim": {"fastapi", "sqlalchemy", "ray", "uvicorn"},
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
    path = ROOT / folder
    return [path] if path.suffix == ".py" else sorted(path.rglob("*.py"))


def ours(module: str) -> bool:
    return module.split(".")[0] in ("scheduler", "monitor")


def allowed(module: str, folder: str) -> bool:
    """Whether a module of ``folder`` may import ``module`` (one of aicc's)."""
    own = folder.removesuffix(".py").replace("/", ".")
    return module == "scheduler" or offending(module, {own, *ALLOWED[folder]})


@pytest.mark.parametrize("folder", ["scheduler/domain", "scheduler/core"])
def test_the_domain_and_the_core_are_pure(folder: str) -> None:
    bad = [(p.relative_to(ROOT), m) for p in sources(folder) for m in imports(p) if offending(m, PURE_FORBIDDEN)]
    assert bad == []


@pytest.mark.parametrize("folder", sorted(LAYERS))
def test_lower_layers_do_not_import_higher_ones(folder: str) -> None:
    bad = [(p.relative_to(ROOT), m) for p in sources(folder) for m in imports(p) if offending(m, LAYERS[folder])]
    assert bad == []


def test_every_package_is_under_the_contract() -> None:
    packages = {p.name for p in (ROOT / "scheduler").iterdir()
                if (p.is_dir() and (p / "__init__.py").exists()) or (p.suffix == ".py" and p.stem != "__init__")}
    listed = {f.removeprefix("scheduler/") for f in ALLOWED if f.startswith("scheduler/")}
    assert packages == listed


@pytest.mark.parametrize("folder", sorted(ALLOWED))
def test_each_package_imports_only_the_layers_it_may(folder: str) -> None:
    bad = [(str(p.relative_to(ROOT)), m) for p in sources(folder) for m in imports(p)
           if ours(m) and not allowed(m, folder)]
    bad += [(str(p.relative_to(ROOT)), m) for p in sources(folder) for m in imports(p)
            if offending(m, PACKAGES_FORBIDDEN.get(folder, set()))]
    assert bad == []


def test_the_contract_refuses_an_upward_or_sideways_import() -> None:
    assert not allowed("scheduler.service.service", "scheduler/engine")
    assert not allowed("scheduler.engine.engine", "scheduler/executors")  # only its ports and clock
    assert allowed("scheduler.engine.ports", "scheduler/executors")
    assert not allowed("scheduler.store.sql", "scheduler/sim")  # a store in memory only
    assert not allowed("scheduler.cli.output", "scheduler/sim")
    assert allowed("scheduler.core.model", "scheduler/core")


def test_the_check_catches_an_impure_import(tmp_path: Path) -> None:
    f = tmp_path / "x.py"
    f.write_text("import time\nfrom sqlalchemy.orm import Session\nfrom . import y\n")
    assert [m for m in imports(f) if offending(m, PURE_FORBIDDEN)] == ["time", "sqlalchemy.orm"]
