"""Reading deploy/compose.yaml as `docker compose` does: YAML (with merge keys),
then ${VAR} interpolation from an environment, then the Compose Specification
(compose-spec on PyPI: the Rust compose_spec parser, strict about unknown keys)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from tests.deploy.chart import ROOT

DEPLOY = ROOT / "deploy"
COMPOSE = DEPLOY / "compose.yaml"
_VAR = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")


class MissingVariable(ValueError):
    pass


def interpolate(value: Any, env: Mapping[str, str]) -> Any:
    """${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}, ${VAR?error} and $$, as Compose does."""
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    if not isinstance(value, str):
        return value

    def one(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"  # Compose's escape: a literal $ for the container's shell
        name, op, arg = m.group(1), m.group(2), m.group(3)
        v = env.get(name)
        if op == ":-":
            return v if v else arg
        if op == "-":
            return v if v is not None else arg
        if op in (":?", "?") and (v is None or (op == ":?" and not v)):
            raise MissingVariable(f"{name}: {arg}")
        return v or ""

    return _VAR.sub(one, value)


def raw() -> dict[str, Any]:
    return dict(yaml.safe_load(COMPOSE.read_text()))


def required_variables() -> set[str]:
    return {m.group(1) for m in _VAR.finditer(COMPOSE.read_text()) if m.group(1) and m.group(2) in (":?", "?")}


def env_example() -> dict[str, str]:
    out = {}
    for line in (DEPLOY / ".env.example").read_text().splitlines():
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            out[key.strip()] = value.strip()
    return out


def parse(doc: dict[str, Any], env: Mapping[str, str]) -> Any:
    from compose_spec import PyCompose

    return PyCompose.from_json(json.dumps(interpolate(doc, env)))


def bind_sources(doc: dict[str, Any], env: Mapping[str, str]) -> list[tuple[str, Path, str]]:
    """(service, host path, container path) of every bind mount, after interpolation."""
    out = []
    for name, svc in interpolate(doc, env)["services"].items():
        for vol in svc.get("volumes", []):
            source, _, rest = vol.partition(":")
            if source.startswith((".", "/")):
                out.append((name, (DEPLOY / source).resolve(), rest.split(":")[0]))
    return out
