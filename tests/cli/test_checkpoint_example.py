"""The example job that checkpoints (examples/checkpointing.py) against a live ``aicc serve``."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import yaml

from scheduler.client import Client
from tests.cli.conftest import Cli

NewTenant = Callable[..., tuple[str, str]]

ROOT = Path(__file__).resolve().parents[2]


def test_the_example_reports_its_checkpoints_and_resumes(cli: Cli, admin: Client, new_tenant: NewTenant,
                                                         tmp_path: Path) -> None:
    _name, token = new_tenant()
    spec = yaml.safe_load((ROOT / "examples" / "jobs" / "checkpointing.yaml").read_text())
    spec["runtime_env"] = {"sleep_s": 600}  # the live server's executor only sleeps: run the script here
    with Client(cli.server.url, token) as tenant:
        job = tenant.submit(spec)
        deadline = time.monotonic() + 10
        while tenant.job(job.id).state != "running":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        # (its own credential is minted inside the service; its tenant's token works the same way)
        env = {**os.environ, "AICC_URL": cli.server.url, "AICC_JOB_ID": job.id, "AICC_JOB_TOKEN": token,
               "AICC_CHECKPOINT_DIR": str(tmp_path)}
        script = [sys.executable, str(ROOT / "examples" / "checkpointing.py"), "--step-seconds", "0"]
        first = subprocess.run([*script, "--steps", "25", "--every", "10"], env=env, capture_output=True,
                               text=True, timeout=60)
        assert first.returncode == 0, first.stderr
        assert first.stdout.count('"checkpointed_at"') == 3  # steps 10, 20 and the last, 25
        again = subprocess.run([*script, "--steps", "30", "--every", "10"], env=env, capture_output=True,
                               text=True, timeout=60)
        assert "resuming at step 25" in again.stdout and "done at step 30" in again.stdout
        tenant.cancel(job.id)
