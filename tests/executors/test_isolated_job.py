"""The isolated runner's own logic, without a sandbox or Ray: a stand-in head on a free port.

The runner starts the entrypoint as soon as the head's GCS answers, while the rest of the
head comes up; a head that fails then must not leave the job running as if its Ray were
there (unless the job itself killed it), and one that fails before its GCS answers must not
start the job at all.
"""

from __future__ import annotations

import importlib.util
import json
import py_compile
import signal
import socket
import sys
from pathlib import Path

import pytest

from scheduler.executors.ray import isolated, isolated_job

#: A stand-in for ``ray start``: listens on the GCS port (or not), then ends with a code.
FAKE_HEAD = """
import os, socket, sys, time
port, listen, wait_s, code = int(sys.argv[1]), sys.argv[2] == "1", float(sys.argv[3]), int(sys.argv[4])
if listen:
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port)); s.listen(8)
time.sleep(wait_s)
if code < 0:
    os.kill(os.getpid(), -code)
sys.exit(code)
"""


def _run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, entrypoint: str, *, listen: bool, wait_s: float,
         code: int) -> tuple[int, dict[str, object]]:
    with socket.socket() as s:  # a free port: the runner's network namespace is the host's here
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setattr(isolated_job, "GCS_PORT", port)
    monkeypatch.setattr(isolated_job, "head_command", lambda _run: [
        sys.executable, "-c", FAKE_HEAD, str(port), "1" if listen else "0", str(wait_s), str(code)])
    job_dir = tmp_path / "job"
    job_dir.mkdir()
    (job_dir / "run.json").write_text(json.dumps({"entrypoint": entrypoint}))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        rc = isolated_job.main(job_dir)
    finally:  # the runner forwards these to its job; pytest's own come back
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    return rc, json.loads((job_dir / "status.json").read_text())


def test_the_entrypoint_starts_once_the_gcs_answers_and_ends_with_its_code(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rc, status = _run(tmp_path, monkeypatch, "echo started; exit 7", listen=True, wait_s=30, code=0)
    assert rc == 7 and status["state"] == "exited" and status["code"] == 7
    phases = status["phases"]
    assert isinstance(phases, dict) and phases["runner"] <= phases["gcs"] <= phases["entrypoint"]
    assert "started" in (tmp_path / "job" / "job.log").read_text()


def test_a_head_that_fails_after_its_gcs_answered_ends_the_job(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rc, status = _run(tmp_path, monkeypatch, "echo started; sleep 60; echo finished", listen=True, wait_s=0.5,
                      code=1)
    assert rc == 1 and status["state"] == "failed"
    assert "did not start (exit code 1)" in str(status["message"])
    log = (tmp_path / "job" / "job.log").read_text()
    assert "started" in log and "finished" not in log  # killed, not waited for


def test_a_job_that_kills_its_own_ray_start_goes_on(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A job may kill every process it sees (the attacker tests' probe does): its own Ray's
    `ray start` among them. That is not its Ray failing to start: the job is not killed for it."""
    rc, status = _run(tmp_path, monkeypatch, "echo started; sleep 1; echo finished", listen=True, wait_s=0.2,
                      code=-signal.SIGKILL)
    assert rc == 0 and status["state"] == "exited" and status["code"] == 0
    assert "finished" in (tmp_path / "job" / "job.log").read_text()


def test_a_head_that_fails_before_its_gcs_answers_starts_no_job(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rc, status = _run(tmp_path, monkeypatch, "echo started", listen=False, wait_s=0.2, code=2)
    assert rc == 1 and status["state"] == "failed" and "exit code 2" in str(status["message"])
    assert not (tmp_path / "job" / "job.log").exists()


def test_ray_without_bytecode_is_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every isolated Ray's processes would compile Ray's modules again (the sandbox is read-only):
    the executor warns, naming what to compile."""
    site = tmp_path / "site-packages"
    (site / "ray" / "dashboard").mkdir(parents=True)
    (site / "ray" / "__init__.py").write_text("")
    agent = site / "ray" / "dashboard" / "agent.py"
    agent.write_text("x = 1\n")
    spec = importlib.util.spec_from_file_location("ray", site / "ray" / "__init__.py")
    monkeypatch.setattr(isolated.importlib.util, "find_spec", lambda name: spec if name == "ray" else None)
    assert isolated.ray_without_bytecode() == site
    py_compile.compile(str(agent))
    assert isolated.ray_without_bytecode() is None


def test_a_status_left_by_an_earlier_run_of_the_same_id_is_not_this_runs(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """After a restart of aicc a run id can come again (its folder kept for its logs): the old
    run's "exited" must not make the new one RUNNING, or SUCCEEDED, before it started."""
    class NoSandbox:
        def __init__(self, **_kw: object) -> None:
            pass

        def wrap(self, cmd: list[str]) -> list[str]:
            return ["sleep", "30"]  # a runner that never gets as far as writing its status

    monkeypatch.setattr(isolated, "Sandbox", NoSandbox)
    runs = isolated.IsolatedRuns(tmp_path / "iso")
    (tmp_path / "iso" / "aicc-j1-0").mkdir(parents=True)
    (tmp_path / "iso" / "aicc-j1-0" / "status.json").write_text('{"state": "exited", "code": 0}')
    try:
        runs.start("aicc-j1-0", "bank", "true", {}, accelerator="a800", ray_resource="GPU", nodes={"n1": [0]},
                   metadata={})
        assert runs.infos(["aicc-j1-0"])["aicc-j1-0"]["status"] == "PENDING"
    finally:
        runs.close()
