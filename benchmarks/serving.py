"""A real ``aicc serve`` for the benchmarks that measure it over HTTP.

Every benchmark names the executor and the store it measures (the service's default
executor is Ray, which a benchmark of the API must not start by accident), takes a free
port rather than a fixed one, and keeps the service's log for when it fails.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


def call(url: str, method: str, path: str, token: str, body: Any = None,
         headers: dict[str, str] | None = None, timeout: float = 10.0) -> tuple[int, Any]:
    """One JSON request to a live service: its status and decoded body (errors too)."""
    req = urllib.request.Request(url + path, method=method,
                                 data=json.dumps(body).encode() if body is not None else None)
    req.add_header("Authorization", f"Bearer {token}")
    req.add_header("Content-Type", "application/json")
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def free_port() -> int:
    """A loopback port nobody listens on now (the kernel's choice)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Served:
    """One ``aicc serve`` process: its URL, executor, store and log."""

    def __init__(self, workdir: Path, *, admin_token: str, center: Path | None = None,
                 executor: str = "sleep", db: str | None = None, metrics: bool = True,
                 port: int | None = None, log_level: str = "warning", args: Sequence[str] = ()) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.executor = executor
        self.db = db or f"sqlite:///{workdir / 'aicc.db'}"
        self.store = self.db.split(":", 1)[0].split("+", 1)[0]  # sqlite, postgresql
        self.log = workdir / "serve.log"
        env = {k: v for k, v in os.environ.items() if k not in ("AICC_ADMIN_TOKEN", "RAY_ADDRESS")}
        env["AICC_ADMIN_TOKEN"] = admin_token
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
        cmd = [sys.executable, "-c", "from scheduler.cli import main; main()", "serve", "--host", "127.0.0.1",
               "--port", str(self.port), "--executor", executor, "--db", self.db, "--data-dir", str(workdir),
               "--log-level", log_level, "--metrics" if metrics else "--no-metrics"]
        if center is not None:
            cmd += ["--center", str(center)]
        cmd += list(args)
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=REPO,
                                         start_new_session=True)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def wait_ready(self, timeout_s: float = 120.0) -> Served:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"aicc serve on {self.port} exited with {self.proc.returncode}:\n"
                                 f"{self.log_tail()}")
            with contextlib.suppress(OSError, urllib.error.URLError), \
                    urllib.request.urlopen(f"{self.url}/readyz", timeout=2) as r:
                if r.status == 200:
                    return self
            time.sleep(0.1)
        raise SystemExit(f"aicc serve on {self.port} not ready after {timeout_s:.0f} s:\n{self.log_tail()}")

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def stop(self, timeout_s: float = 30.0) -> None:
        """SIGTERM, as systemd and Kubernetes stop it; SIGKILL to its session if it hangs."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()

    def describe(self) -> dict[str, str]:
        """What the figures are of: for the benchmark's JSON."""
        return {"executor": self.executor, "store": self.store}

