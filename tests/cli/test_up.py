"""The README's main command, as a user runs it: ``aicc up`` (what ``make run`` runs) starts the
embedded center, its demo tenants' jobs (isolated tenants: each in a sandbox with a Ray of its
own, from a copy of ``examples/``) run to success, and SIGTERM (or Ctrl-C) stops it, leaving no
process of its Ray head or of the jobs behind."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from scheduler.executors.ray.launcher import pids_mentioning
from tests import needs
from tests.ray_cluster import free_block

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]


def test_aicc_up_runs_the_demo_jobs_to_success_and_stops_on_sigterm(tmp_path: Path) -> None:
    needs.bwrap("aicc up (the demo tenants are isolated)")
    pytest.importorskip("ray")
    ray_base = free_block(22100)
    port = free_block(22300, size=2)
    prometheus_port = port + 1
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "AICC_ADMIN_TOKEN")}
    env.update(RAY_AUTH_MODE="disabled", AICC_RAY_PORT_BASE=str(ray_base))
    log = tmp_path / "up.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-c", "from scheduler.cli import main; main()", "up", "--port", str(port),
             "--prometheus-port", str(prometheus_port), "--data-dir", str(tmp_path / "run")],
            cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 420  # the head and three Ray instances, on 2 busy cores
        while "last log lines" not in log.read_text() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(1)
        text = log.read_text()
        assert "last log lines" in text, f"the demo jobs did not end:\n{text[-4000:]}"
        final = text[text.rindex("ID  TENANT"):text.index("last log lines")]
        states = re.findall(r"^j\d+\s+\S+\s+\S+\s+(\w+)", final, flags=re.M)
        assert states == ["succeeded"] * 3, f"demo jobs: {states}\n{text[-4000:]}"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=90) == 0, log.read_text()[-3000:]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "stopping" in log.read_text()
    deadline = time.monotonic() + 30  # the head's processes follow it out
    while pids_mentioning(f"aicc-ray-{ray_base}") and time.monotonic() < deadline:
        time.sleep(0.5)
    assert pids_mentioning(f"aicc-ray-{ray_base}") == [], "the embedded Ray head outlived aicc up"
    assert pids_mentioning(f"aicc-iso-{ray_base}") == [], "an isolated job outlived aicc up"
