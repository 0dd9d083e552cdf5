"""Rendering the chart for tests: the Go renderer (Go text/template + sprig,
as Helm) built once per session from Debian's packages, plus Helm's
coalescing of values and its values.schema.json check, in Python.

Without Go or the sprig library the tests that render are skipped loudly,
and fail under CI=true (.ci/run installs golang-go,
golang-github-masterminds-sprig-dev and golang-k8s-sigs-yaml-dev).
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "aicc"
VALUES_DIR = Path(__file__).resolve().parent / "values"
RENDERER_SRC = Path(__file__).resolve().parent / "helmtemplate"
GOPATH = Path("/usr/share/gocode")
SPRIG = GOPATH / "src" / "github.com" / "Masterminds" / "sprig"
SIGS_YAML = GOPATH / "src" / "sigs.k8s.io" / "yaml"
#: CRD groups the chart may use, offered to .Capabilities as `helm template --api-versions` would.
CRD_APIS = "monitoring.coreos.com/v1,ray.io/v1"


def unavailable(reason: str) -> None:
    """Fail under CI, skip loudly elsewhere."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"required under CI: {reason}")
    pytest.skip(f"SKIPPED: {reason}")


def build_renderer(out_dir: Path) -> Path:
    go = shutil.which("go")
    if go is None or not SPRIG.is_dir() or not SIGS_YAML.is_dir():
        unavailable("Go and Debian's golang-github-masterminds-sprig-dev and golang-k8s-sigs-yaml-dev "
                    "are needed to render the chart (apt-get install golang-go "
                    "golang-github-masterminds-sprig-dev golang-k8s-sigs-yaml-dev)")
    binary = out_dir / "helmtemplate"
    # Go's own build cache when there is a home for it (a warm build takes about a second).
    cache = Path(os.environ["HOME"]) / ".cache" / "go-build" if os.environ.get("HOME") else out_dir / "gocache"
    env = {**os.environ, "GO111MODULE": "off", "GOPATH": str(GOPATH), "GOFLAGS": "", "GOCACHE": str(cache)}
    proc = subprocess.run([go, "build", "-o", str(binary), "."], cwd=RENDERER_SRC, env=env,
                          capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        pytest.fail(f"building the renderer failed:\n{proc.stderr}")
    return binary


class Renderer:
    def __init__(self, binary: Path) -> None:
        self.binary = binary

    def run(self, value_files: Iterable[Path | str] = (), *, notes: bool = False,
            name: str = "aicc", namespace: str = "aicc", apis: str = CRD_APIS) -> subprocess.CompletedProcess[str]:
        args = [str(self.binary), "-name", name, "-namespace", namespace, "-api-versions", apis]
        for f in value_files:
            args += ["-f", str(f)]
        if notes:
            args.append("-notes")
        args.append(str(CHART))
        return subprocess.run(args, capture_output=True, text=True, timeout=60)

    def manifests(self, value_files: Iterable[Path | str] = (), **kw: Any) -> list[dict[str, Any]]:
        proc = self.run(value_files, **kw)
        assert proc.returncode == 0, proc.stderr
        return [d for d in yaml.safe_load_all(proc.stdout) if d]

    def notes(self, value_files: Iterable[Path | str] = ()) -> str:
        proc = self.run(value_files, notes=True)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout


def coalesce(base: dict[str, Any], user: dict[str, Any]) -> dict[str, Any]:
    """Helm's merge of user values over the chart's: maps deeply, null deletes."""
    out = copy.deepcopy(base)
    for key, value in user.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = coalesce(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def merged_values(*files: Path) -> dict[str, Any]:
    values: dict[str, Any] = yaml.safe_load((CHART / "values.yaml").read_text())
    for f in files:
        values = coalesce(values, yaml.safe_load(f.read_text()) or {})
    return values


def schema_errors(values: dict[str, Any]) -> list[str]:
    """What `helm install` would refuse: values.schema.json over the coalesced values."""
    import jsonschema

    schema = json.loads((CHART / "values.schema.json").read_text())
    validator = jsonschema.Draft7Validator(schema)
    return sorted(f"{'.'.join(str(p) for p in e.absolute_path) or '(top)'}: {e.message}"
                  for e in validator.iter_errors(values))


def by_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d.get("kind") == kind]


def one(docs: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    found = by_kind(docs, kind)
    assert len(found) == 1, f"expected one {kind}, got {[d['metadata']['name'] for d in found]}"
    return found[0]
