"""A real ``aicc serve`` in a subprocess (SQLite in a temp dir, sleep executor), for the
client and CLI tests: what a user runs, not a mock."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

ADMIN = "admin-token-for-client-tests"
PORTS = range(22000, 23000)

#: 6 a800 nodes (2 racks) and 2 ascend nodes, 8 devices each: 64 devices, about 20P.
CENTER_YAML = """\
name: test-center
accelerators:
  - {name: a800, vendor_resource: nvidia.com/gpu, ray_resource: GPU, memory: 80Gi, tflops: {fp16: 312}}
  - {name: ascend910b, vendor_resource: huawei.com/Ascend910, ray_resource: NPU, memory: 64Gi,
     tflops: {fp16: 320}}
pools:
  - {name: a800, accelerator: a800, racks: 2, nodes_per_rack: 3, devices_per_node: 8,
     cpus_per_node: 128, memory_per_node: 1Ti}
  - {name: ascend, accelerator: ascend910b, racks: 1, nodes_per_rack: 2, devices_per_node: 8,
     cpus_per_node: 192, memory_per_node: 1Ti}
priority_classes: {high: 300, normal: 200, low: 100}
tenants:
  - {name: acme, guaranteed: 3.12P, limit: 6.24P}
"""


@dataclass
class LiveServer:
    url: str
    admin: str
    log: Path


def _free_port() -> int:
    start = PORTS.start + (os.getpid() * 7) % len(PORTS)
    for i in range(len(PORTS)):
        port = PORTS.start + (start - PORTS.start + i) % len(PORTS)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in 22000-22999")


@contextlib.contextmanager
def live_server(tmp: Path) -> Iterator[LiveServer]:
    """Start ``aicc serve`` and wait for /readyz; stop it after."""
    center = tmp / "center.yaml"
    center.write_text(CENTER_YAML)
    log = tmp / "serve.log"
    for _attempt in range(3):  # a port taken between the check and the bind: try another
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        cmd = [sys.executable, "-c", "from scheduler.cli import main; main()", "serve", "--host", "127.0.0.1",
               "--port", str(port), "--db", f"sqlite:///{tmp / 'aicc.db'}", "--data-dir", str(tmp),
               "--center", str(center), "--executor", "sleep", "--log-level", "warning"]
        env = {**os.environ, "AICC_ADMIN_TOKEN": ADMIN}
        with log.open("ab") as out:
            proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
        try:
            if _wait_ready(url, proc):
                yield LiveServer(url, ADMIN, log)
                return
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    raise RuntimeError(f"aicc serve did not become ready; its log:\n{log.read_text()[-3000:]}")


def _wait_ready(url: str, proc: subprocess.Popen[bytes], timeout_s: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            if httpx.get(f"{url}/readyz", timeout=1.0).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    return False


def job_spec(name: str, *, devices: int = 1, workers: int = 1, sleep_s: float = 600,
             accelerator: str = "a800", **extra: object) -> dict[str, object]:
    return {"name": name, "kind": "finetune", "workers": workers,
            "resources": {"accelerators": devices, "accelerator_types": [accelerator], "cpus": 4,
                          "memory": "16Gi"},
            "runtime_env": {"sleep_s": sleep_s}, **extra}
