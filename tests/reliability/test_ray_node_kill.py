"""Kill the Ray node under a running gang: requeued per policy, usage restored exactly, the
queue goes on. The scenario (``ray_node_kill.py``) runs in a process of its own on a real
Ray cluster of its own (ports 23600-23699)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]


def test_killing_the_node_under_a_running_gang_requeues_it_and_frees_exactly_its_devices() -> None:
    try:
        import ray.cluster_utils  # noqa: F401
    except ImportError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"Ray is required under CI: {exc}")
        warnings.warn(f"SKIPPING the Ray node kill test: {exc}", stacklevel=1)
        pytest.skip(f"Ray not installed: {exc}")
    env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    proc = subprocess.run([sys.executable, "-m", "tests.reliability.ray_node_kill"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=280)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    assert proc.returncode == 0 and lines, f"{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
    seen = json.loads(lines[-1])
    assert seen.get("ok") is True, seen
    print(seen)
