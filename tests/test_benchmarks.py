"""Every benchmark still runs: each ``benchmarks/bench_*.py`` in its smoke mode (seconds, tiny
sizes), as ``make bench`` would run it, ending with one JSON object that says what it measured.

A benchmark that can no longer run fails here, not on the day someone re-measures the README.
A new benchmark is picked up by its file name and must have ``--smoke`` too.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from scheduler.sim.trace import DEFAULT_TRACES

REPO = Path(__file__).resolve().parents[1]
BENCHMARKS = sorted((REPO / "benchmarks").glob("bench_*.py"))
#: What a benchmark needs beyond the Python packages: a program, or the traces.
NEEDS = {"bench_api": "wrk", "bench_load": "wrk", "bench_sim": "traces"}
#: Benchmarks that measure a service or an executor must say which (the default executor is Ray).
SERVICE = {"bench_api", "bench_client", "bench_kueue_scenario", "bench_load", "bench_monitor", "bench_ray"}

pytestmark = pytest.mark.slow


def _missing(need: str | None) -> str | None:
    if need == "traces":
        return None if (DEFAULT_TRACES / "microsoft-itp-elasticflow").is_dir() else f"traces at {DEFAULT_TRACES}"
    if need is not None and shutil.which(need) is None:
        return need
    return None


def test_there_are_benchmarks() -> None:
    assert len(BENCHMARKS) >= 9, BENCHMARKS


@pytest.mark.timeout(600)
@pytest.mark.parametrize("path", BENCHMARKS, ids=[p.stem for p in BENCHMARKS])
def test_each_benchmark_runs_in_its_smoke_mode(path: Path, tmp_path: Path) -> None:
    missing = _missing(NEEDS.get(path.stem))
    if missing is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{path.name} needs {missing}, which CI installs")
        warnings.warn(f"SKIPPING {path.name} smoke run: {missing} missing", stacklevel=1)
        pytest.skip(f"{missing} missing")
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "AICC_ADMIN_TOKEN")}
    env["RAY_AUTH_MODE"] = "disabled"
    run = subprocess.run([sys.executable, str(path), "--smoke"], capture_output=True, text=True,
                         timeout=540, cwd=tmp_path, env=env)
    assert run.returncode == 0, f"{path.name} --smoke exited {run.returncode}:\n{run.stdout[-2000:]}\n{run.stderr[-3000:]}"
    last = run.stdout.strip().splitlines()[-1]
    figures = json.loads(last)
    assert isinstance(figures, dict) and figures.get("smoke") is True, last
    if path.stem in SERVICE:
        assert figures.get("executor") in ("sleep", "ray"), last
        assert figures.get("store") in ("sqlite", "postgresql", "memory"), last
