"""The aicc-driver program (the head pod's second container), run here since Ray cannot
run in the test's kwok pods: against a stand-in of Ray's job client (it waits for the
dashboard, submits the entrypoint verbatim once, follows a job already submitted, exits 0
only when the job succeeded), and against the session's real Ray cluster's job API."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from scheduler.executors.kuberay import driver

FAKE_RAY = '''
import json, os

class JobStatus:
    PENDING, RUNNING, SUCCEEDED, FAILED, STOPPED = "PENDING", "RUNNING", "SUCCEEDED", "FAILED", "STOPPED"

LOG = os.environ["FAKE_LOG"]

def note(*row):
    with open(LOG, "a") as f:
        f.write(json.dumps(row) + "\\n")

class JobSubmissionClient:
    def __init__(self, address):
        note("connect", address)

    def list_jobs(self):
        if not os.path.exists(LOG + ".up"):  # the dashboard answers from the second try
            open(LOG + ".up", "w").close()
            raise ConnectionError("not up yet")
        return []

    def submit_job(self, entrypoint, submission_id, runtime_env):
        note("submit", entrypoint, submission_id, runtime_env)
        if os.environ.get("FAKE_EXISTS"):
            raise RuntimeError(f"Job with submission_id {submission_id} already exists")
        return submission_id

    def get_job_status(self, job):
        return os.environ["FAKE_STATUS"]

    def get_job_logs(self, job):
        return "the job's output\\n"
'''


def run_driver(tmp_path: Path, status: str, exists: bool = False) -> tuple[int, list[list[object]], str]:
    fake = tmp_path / "fake"
    (fake / "ray").mkdir(parents=True)
    (fake / "ray" / "__init__.py").write_text("")
    (fake / "ray" / "job_submission.py").write_text(FAKE_RAY)
    log = tmp_path / "calls.jsonl"
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(fake), "FAKE_LOG": str(log), "FAKE_STATUS": status,
           **{e["name"]: e["value"] for e in driver.environment("j9", "python -c 'print(\"$HOME\")'", {"A": "1"})}}
    if exists:
        env["FAKE_EXISTS"] = "1"
    done = subprocess.run([sys.executable, *driver.command()[1:]], env=env, capture_output=True, text=True,
                          timeout=60)
    return done.returncode, [json.loads(line) for line in log.read_text().splitlines()], done.stdout


@pytest.mark.parametrize(("status", "code"), [("SUCCEEDED", 0), ("FAILED", 1), ("STOPPED", 1)])
def test_the_driver_submits_once_verbatim_and_exits_as_the_job_ended(tmp_path: Path, status: str, code: int) -> None:
    rc, calls, out = run_driver(tmp_path, status)
    assert rc == code
    assert calls[0] == ["connect", driver.DASHBOARD] and len([c for c in calls if c[0] == "connect"]) == 2
    submits = [c for c in calls if c[0] == "submit"]
    assert submits == [["submit", "python -c 'print(\"$HOME\")'", "j9", {"env_vars": {"A": "1"}}]]
    assert out == "the job's output\n"


def test_a_restarted_driver_follows_the_job_it_already_submitted(tmp_path: Path) -> None:
    rc, calls, _ = run_driver(tmp_path, "SUCCEEDED", exists=True)
    assert rc == 0 and [c[0] for c in calls].count("submit") == 1


@pytest.mark.parametrize(("entrypoint", "code"), [
    ("""python -c 'import os; print("lr", os.environ["A"])'""", 0),
    ("python -c 'import sys; sys.exit(3)'", 1),
])
def test_the_driver_on_a_real_ray_runs_the_entrypoint_and_exits_as_it_ended(
        ray_cluster, entrypoint: str, code: int) -> None:  # type: ignore[no-untyped-def]
    """Ray's real job API (the session's Ray cluster, auth off): what kwok cannot run."""
    job_id = f"kuberay-driver-{code}-{os.getpid()}"
    env = {**os.environ, "AICC_DASHBOARD": ray_cluster.dashboard_url,
           **{e["name"]: e["value"] for e in driver.environment(job_id, entrypoint, {"A": "0.1"})}}
    done = subprocess.run([sys.executable, *driver.command()[1:]], env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == code, done.stderr[-2000:]
    assert f"aicc-driver: job {job_id}" in done.stderr
    if code == 0:
        assert "lr 0.1" in done.stdout
