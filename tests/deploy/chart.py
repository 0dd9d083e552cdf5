"""Rendering the chart for tests with the real Helm (v4, built by `make k8s-tools`).

Without the helm binary the tests that render are skipped loudly, and fail under
CI=true (`make test` builds it first).
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from tests.k8s.env import unavailable

__all__ = ["unavailable"]  # what tests of other deploy files use for a missing program

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "aicc"
VALUES_DIR = Path(__file__).resolve().parent / "values"
#: CRD groups the chart may use, offered to .Capabilities (`helm template --api-versions`).
CRD_APIS = ("monitoring.coreos.com/v1", "ray.io/v1")
FULL_610P = (ROOT / "deploy" / "helm" / "values-610p.yaml", ROOT / "deploy" / "helm" / "center-610p.yaml")


class Helm:
    """The helm binary, run on the chart with a private home (no repositories, no plugins)."""

    def __init__(self, binary: Path, home: Path, env: dict[str, str] | None = None) -> None:
        self.binary = binary
        home.mkdir(parents=True, exist_ok=True)
        self.env = {**(env or {}), "HOME": str(home), "HELM_CACHE_HOME": str(home / "cache"),
                    "HELM_CONFIG_HOME": str(home / "config"), "HELM_DATA_HOME": str(home / "data"),
                    "PATH": "/usr/bin:/bin"}

    def run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(self.binary), *args], capture_output=True, text=True,
                              timeout=timeout, env=self.env)

    def template_args(self, value_files: Iterable[Path | str] = (), *, name: str = "aicc",
                      namespace: str = "aicc", apis: Iterable[str] = CRD_APIS) -> list[str]:
        args = ["template", name, str(CHART), "--namespace", namespace]
        for api in apis:
            args += ["--api-versions", api]
        for f in value_files:
            args += ["-f", str(f)]
        return args

    def template(self, value_files: Iterable[Path | str] = (), **kw: Any) -> subprocess.CompletedProcess[str]:
        return self.run(*self.template_args(value_files, **kw))

    def manifests(self, value_files: Iterable[Path | str] = (), **kw: Any) -> list[dict[str, Any]]:
        proc = self.template(value_files, **kw)
        assert proc.returncode == 0, proc.stderr
        return [d for d in yaml.safe_load_all(proc.stdout) if d]

    def notes(self, value_files: Iterable[Path | str] = ()) -> str:
        """NOTES.txt as `helm install` prints it (a client-only dry run)."""
        args = ["install", "aicc", str(CHART), "--namespace", "aicc", "--dry-run=client"]
        for f in value_files:
            args += ["-f", str(f)]
        proc = self.run(*args)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout.split("NOTES:", 1)[1]


def by_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d.get("kind") == kind]


def one(docs: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    found = by_kind(docs, kind)
    assert len(found) == 1, f"expected one {kind}, got {[d['metadata']['name'] for d in found]}"
    return found[0]
