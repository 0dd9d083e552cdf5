"""Where the k8s tests find the real programs, and what they do when they are missing."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.k8s import tools


def unavailable(reason: str) -> None:
    """Fail under CI (the tools must be there), skip loudly elsewhere."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"required under CI: {reason}")
    pytest.skip(f"SKIPPED: {reason}")


def require(*names: str) -> Path:
    """The cache's bin folder, once the named tools (default: all required) are in it."""
    wanted = names or tools.REQUIRED
    missing = [n for n in wanted if not (tools.bin_dir() / n).is_file()]
    if not names:
        missing += [m for m in tools.missing_tools() if m.startswith("crd ")]
    if missing:
        unavailable(f"the Kubernetes test tools are not built ({', '.join(missing)} missing "
                    f"from {tools.bin_dir()}): run `make k8s-tools`")
    return tools.bin_dir()


def helm_binary() -> Path:
    return require("helm") / "helm"
