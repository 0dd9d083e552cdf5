"""The launcher on its own (no Ray): runs once per submission id, reports how a run
ended, stops with SIGTERM then SIGKILL after the grace period, and leaves nothing behind.

On Ray it is tested with the executor in test_ray_cluster.py.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from scheduler.domain import JobKind, JobSpec, Resources
from scheduler.executors.ray.config import RaySettings
from scheduler.executors.ray.launch import needs_built_env
from scheduler.executors.ray.launcher import Launcher


@pytest.fixture
def launcher(tmp_path: Path) -> Iterator[Launcher]:
    ln = Launcher(str(tmp_path))
    yield ln
    ln.shutdown()


def wait_for(check: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError("timed out")


def status(ln: Launcher, sid: str) -> str:
    return str(ln.status([sid])[sid]["status"])


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"


def test_a_run_starts_once_per_submission_id_and_its_output_is_kept(launcher: Launcher, tmp_path: Path) -> None:
    marker = tmp_path / "count"
    cmd = f"echo run >> {marker}; echo \"tenant=$AICC_TENANT\"; sleep 0.3"
    assert launcher.start("aicc-j1-0", cmd, {"AICC_TENANT": "vr"}, {"aicc_job_id": "j1"}) is True
    assert launcher.start("aicc-j1-0", cmd, {"AICC_TENANT": "vr"}, {"aicc_job_id": "j1"}) is False
    assert status(launcher, "aicc-j1-0") == "RUNNING"
    wait_for(lambda: status(launcher, "aicc-j1-0") == "SUCCEEDED")
    assert marker.read_text() == "run\n"
    assert launcher.logs("aicc-j1-0") == "tenant=vr\n"
    assert launcher.logs("aicc-unknown-0") is None
    assert launcher.status(None)["aicc-j1-0"]["metadata"] == {"aicc_job_id": "j1"}


def test_the_driver_gets_the_jobs_env_as_its_ray_job_config(launcher: Launcher) -> None:
    launcher.start("aicc-env-0", "echo \"$RAY_JOB_CONFIG_JSON_ENV_VAR\"; echo \"log=$AICC_LOG_FILE\"",
                   {"AICC_JOB_ID": "env"}, {"k": "v"})
    wait_for(lambda: status(launcher, "aicc-env-0") == "SUCCEEDED")
    config_line, log_line = (launcher.logs("aicc-env-0") or "").splitlines()
    assert json.loads(config_line) == {"runtime_env": {"env_vars": {"AICC_JOB_ID": "env"}}, "metadata": {"k": "v"}}
    assert log_line.endswith("aicc-env-0.log")


def test_a_failed_run_says_its_exit_code_and_last_line(launcher: Launcher) -> None:
    launcher.start("aicc-bad-0", "echo first; echo 'ValueError: no data' >&2; exit 3", {}, {})
    wait_for(lambda: status(launcher, "aicc-bad-0") == "FAILED")
    info = launcher.status(["aicc-bad-0"])["aicc-bad-0"]
    assert info["driver_exit_code"] == 3
    assert info["message"].splitlines()[0] == "exit code 3"
    assert info["message"].splitlines()[-1] == "ValueError: no data"


def test_stop_sends_sigterm_and_the_grace_period_is_honoured(launcher: Launcher) -> None:
    launcher.start("aicc-polite-0", "trap 'echo got TERM; exit 0' TERM; while true; do sleep 0.05; done", {}, {})
    time.sleep(0.3)  # the trap is set
    assert launcher.stop("aicc-polite-0", grace_s=30) is True
    wait_for(lambda: status(launcher, "aicc-polite-0") == "STOPPED", 5)
    assert "got TERM" in (launcher.logs("aicc-polite-0") or "")


def test_a_run_that_ignores_sigterm_is_killed_after_its_grace_with_its_whole_group(launcher: Launcher,
                                                                                    tmp_path: Path) -> None:
    pidfile = tmp_path / "child.pid"
    launcher.start("aicc-stubborn-0", f"trap '' TERM; sh -c 'trap \"\" TERM; sleep 60' & echo $! > {pidfile}; "
                   "while true; do sleep 0.05; done", {}, {})
    wait_for(lambda: pidfile.exists() and pidfile.read_text().strip() != "")
    child = int(pidfile.read_text())
    began = time.monotonic()
    launcher.stop("aicc-stubborn-0", grace_s=1.0)
    time.sleep(0.5)
    assert status(launcher, "aicc-stubborn-0") == "RUNNING"  # still within its grace
    wait_for(lambda: status(launcher, "aicc-stubborn-0") == "STOPPED", 10)
    assert time.monotonic() - began >= 1.0
    wait_for(lambda: not alive(child), 5)  # its background child went with it


def test_only_jobs_with_an_env_to_build_go_through_the_job_api() -> None:
    def spec(env: dict[str, object]) -> JobSpec:
        return JobSpec("vr", "j", JobKind.BATCH, 1, Resources(1, ("a800",)), entrypoint="true", runtime_env=env)

    assert not needs_built_env(spec({}))
    assert not needs_built_env(spec({"env_vars": {"A": "1"}, "grace_period_s": 5, "sleep_s": 3}))
    assert needs_built_env(spec({"working_dir": "examples"}))
    assert needs_built_env(spec({"pip": ["numpy"]}))
    assert RaySettings.from_env({}).launcher is True
    assert RaySettings.from_env({"AICC_RAY_LAUNCHER": "0"}).launcher is False
    with pytest.raises(ValueError, match="AICC_RAY_LAUNCHER"):
        RaySettings.from_env({"AICC_RAY_LAUNCHER": "maybe"})


def test_a_new_launcher_ends_what_a_dead_one_left_running(tmp_path: Path) -> None:
    pidfile = tmp_path / "child.pid"
    old = Launcher(str(tmp_path))
    old.start("aicc-left-0", f"sleep 60 & echo $! > {pidfile}; wait", {}, {})
    wait_for(lambda: pidfile.exists() and pidfile.read_text().strip() != "")
    child = int(pidfile.read_text())
    assert alive(child)
    Launcher(str(tmp_path)).shutdown()  # a launcher on the same folder: the old one is gone
    wait_for(lambda: not alive(child), 5)
    old.shutdown()


def test_logs_of_ended_runs_are_deleted_a_week_after_their_last_line(launcher: Launcher, tmp_path: Path) -> None:
    launcher.start("aicc-old-0", "echo old", {}, {})
    launcher.start("aicc-quiet-0", "sleep 30", {}, {})  # running, silent for weeks: kept
    launcher.start("aicc-new-0", "echo new", {}, {})
    wait_for(lambda: status(launcher, "aicc-old-0") == status(launcher, "aicc-new-0") == "SUCCEEDED")
    (tmp_path / "aicc-gone-0.log").write_text("a run of a launcher before this one\n")
    weeks_ago = time.time() - 8 * 86400
    for sid in ("aicc-old-0", "aicc-quiet-0", "aicc-gone-0"):
        os.utime(tmp_path / f"{sid}.log", (weeks_ago, weeks_ago))
    assert launcher.sweep_logs() == 2
    assert sorted(p.name for p in tmp_path.glob("*.log")) == ["aicc-new-0.log", "aicc-quiet-0.log"]
    assert launcher.logs("aicc-old-0") is None and launcher.logs("aicc-new-0") == "new\n"
