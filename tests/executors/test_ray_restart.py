"""Restarting ``aicc serve --executor ray`` at once: what systemd, a container restart or
Ctrl-C and up-arrow do. A stop lets the embedded head's ports go before the process exits; a
start that finds its own previous head still going away (the service was killed -9, and the head
follows it) waits for it, says so, and comes up."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml

from scheduler.executors.ray import HeadError, RayPorts
from scheduler.executors.ray.head import EmbeddedHead, system_temp_dir
from scheduler.executors.ray.launcher import pids_mentioning
from tests.centers import CENTER
from tests.ray_cluster import free_block

pytestmark = pytest.mark.slow


def _start(tmp: Path, port: int, ray_base: int) -> tuple[subprocess.Popen[bytes], Path]:
    center = tmp / "center.yaml"
    center.write_text(yaml.safe_dump(CENTER))
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env.update(RAY_AUTH_MODE="disabled", AICC_RAY_PORT_BASE=str(ray_base), AICC_ADMIN_TOKEN="restart-admin")
    log = tmp / f"serve-{time.monotonic_ns()}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-c", "from scheduler.cli import main; main()", "serve", "--port", str(port),
             "--data-dir", str(tmp / "data"), "--center", str(center), "--executor", "ray",
             "--log-level", "warning"], env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 240  # the head alone can take a minute on a busy 2-core machine
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise AssertionError(f"aicc serve exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2):
                    return proc, log
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.2)
        raise AssertionError(f"aicc serve did not become ready:\n{log.read_text()[-3000:]}")
    except BaseException:  # a test timeout too: leave no service (and its Ray head) behind
        proc.kill()
        proc.wait()
        raise


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_stopped_or_killed_and_started_again_at_once_comes_up(tmp_path: Path) -> None:
    try:
        import ray  # noqa: F401
    except ImportError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"Ray is required under CI: {exc}")
        pytest.skip(f"Ray not installed: {exc}")
    port, ray_base = _free_port(), free_block(20900)
    head_files = f"{system_temp_dir() / f'aicc-ray-{ray_base}'}/session_"
    proc, _ = _start(tmp_path, port, ray_base)
    try:
        # SIGTERM, as systemd and Kubernetes stop it; start again at once
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
        assert pids_mentioning(head_files) == []  # its head is gone, ports and all
        proc, _ = _start(tmp_path, port, ray_base)
        # kill -9: the head follows the service (parent-death signal) but takes a while to go
        proc.kill()
        proc.wait(10)
        proc, _ = _start(tmp_path, port, ray_base)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
    assert pids_mentioning(head_files) == []


HOLDER = """
import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen()
print("listening", flush=True); time.sleep(float(sys.argv[2]))
"""


def _hold(port: int, seconds: float, *args: str) -> subprocess.Popen[str]:
    """A process listening on ``port`` for ``seconds``; ``args`` end up in its command line."""
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(port), str(seconds), *args],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline() == "listening\n"
    return proc


def test_a_start_waits_for_its_own_previous_head_but_not_for_a_stranger(
        caplog: pytest.LogCaptureFixture) -> None:
    ports = RayPorts(free_block(21100))
    temp_dir = Path(tempfile.mkdtemp(prefix="aicc-ray-"))  # short: Ray's socket paths live in it
    head = EmbeddedHead(ports=ports, temp_dir=temp_dir, num_cpus=1)
    stranger = _hold(ports.gcs, 60)
    try:
        with pytest.raises(HeadError, match=f"port {ports.gcs} on 127.0.0.1 is in use"):
            head.start()
    finally:
        stranger.kill()
        stranger.wait()
    # A previous head of this temp dir, still exiting: its processes name the session dir.
    previous = _hold(ports.gcs, 3, f"{temp_dir}/session_previous")
    try:
        with caplog.at_level("WARNING"):
            head.start()
        assert previous.poll() is not None
        assert "waiting for this service's previous Ray head" in caplog.text
        assert head.running
    finally:
        head.stop()
        previous.kill()
        shutil.rmtree(temp_dir, ignore_errors=True)
    assert pids_mentioning(f"{temp_dir}/session_") == []
