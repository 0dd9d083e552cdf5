"""An embedded Ray head: started for the service, bound to loopback, stopped with it.

It runs ``ray start --head --block`` in its own session with every port fixed
and the auth mode set explicitly; the center's nodes are declared to it as
logical resources (``aicc_node:<name>`` and the accelerator's Ray resource), so
a whole center runs virtually on one machine without its devices. Stopping
ends that process and, through it, every Ray process it started, and nothing
else (never ``ray stop``, which ends every Ray on the machine).
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import json
import logging
import os
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from types import TracebackType

from scheduler.domain import Center
from scheduler.executors.ray.config import AUTH_MODES, RayPorts, loopback_env
from scheduler.executors.ray.launcher import passed_to_jobs, pids_mentioning
from scheduler.executors.ray.sandbox import RAY_UID, Sandbox, bwrap_path, is_root, own
from scheduler.executors.ray.topology import node_resource

READY_TIMEOUT_S = 180.0  # a loaded 2-core machine can take a minute
#: How long a start waits for a head of its own that is still going away (a restart).
PREVIOUS_HEAD_WAIT_S = 60.0

logger = logging.getLogger(__name__)


class HeadError(RuntimeError):
    """The embedded head could not start; the message says why and where its log is."""


def center_resources(center: Center) -> tuple[int, dict[str, float]]:
    """(GPUs, other resources) that declare ``center`` on one Ray node."""
    gpus = 0
    resources: dict[str, float] = {}
    for node in center.nodes:
        accel = center.accelerators[node.accelerator]
        if accel.ray_resource == "GPU":
            gpus += node.devices
        else:
            resources[accel.ray_resource] = resources.get(accel.ray_resource, 0.0) + node.devices
        resources[node_resource(node.name)] = float(node.devices)
    return gpus, resources


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    """The head goes when the process that started it goes, even on SIGKILL."""
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, int(signal.SIGTERM))  # PR_SET_PDEATHSIG


class EmbeddedHead:
    """A local Ray head on ``ports`` (127.0.0.1 only). Use as a context manager or start()/stop()."""

    def __init__(self, *, num_gpus: int = 0, resources: Mapping[str, float] | None = None,
                 ports: RayPorts | None = None, auth_mode: str = "disabled", auth_token: str | None = None,
                 num_cpus: int | None = None, temp_dir: str | Path | None = None,
                 labels: Mapping[str, str] | None = None, sandbox: Sandbox | None = None) -> None:
        if auth_mode not in AUTH_MODES:
            raise ValueError(f"auth_mode {auth_mode!r}: choose one of {', '.join(AUTH_MODES)}")
        self.ports = ports or RayPorts()
        self.num_gpus = num_gpus
        self.resources = dict(resources or {})
        self.auth_mode = auth_mode
        self.auth_token = auth_token or (secrets.token_hex(24) if auth_mode == "token" else None)
        self.num_cpus = num_cpus if num_cpus is not None else (os.cpu_count() or 1)
        self.temp_dir = Path(temp_dir) if temp_dir else system_temp_dir() / f"aicc-ray-{self.ports.base}"
        self.labels = dict(labels or {})
        #: Where the head (and every worker and job of it) runs: ``sandbox_for_head``'s choice.
        self.sandbox = sandbox
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: Path | None = None

    @classmethod
    def for_center(cls, center: Center, **kwargs: object) -> EmbeddedHead:
        gpus, resources = center_resources(center)
        return cls(num_gpus=gpus, resources=resources, **kwargs)  # type: ignore[arg-type]

    # -- addresses ---------------------------------------------------------------------

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.ports.gcs}"

    @property
    def dashboard_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.dashboard}"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def log_path(self) -> Path | None:
        return self._log

    def env(self) -> dict[str, str]:
        """The environment of the head (and so of every job driver and worker it starts): what
        a process needs to run and Ray's own settings, taken from the service's environment by
        name, never the rest of it (``AICC_ADMIN_TOKEN``, a database URL, cloud credentials)."""
        env = {k: v for k, v in os.environ.items() if passed_to_jobs(k)}
        env.update(loopback_env())
        env["RAY_AUTH_MODE"] = self.auth_mode
        env["RAY_USAGE_STATS_ENABLED"] = "0"
        # Ray's head drains for 30 s on SIGTERM (for Serve replicas); aicc has already stopped
        # or will re-attach what runs, and a restart must not wait for it.
        env["RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S"] = "0"
        # A loaded machine starts Ray's agents slowly; the defaults give up after 30 s.
        env.setdefault("RAY_agent_register_timeout_ms", "180000")
        env.setdefault("RAY_worker_register_timeout_seconds", "120")
        if self.auth_token:
            env["RAY_AUTH_TOKEN"] = self.auth_token
        if self.sandbox is not None:  # the sandbox hides the homes: jobs get one in the head's temp dir
            env["HOME"] = str(self.temp_dir / "home")
        # Entrypoints say ``python ...``: the interpreter (and packages) of this service.
        env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
        return env

    def command(self) -> list[str]:
        p = self.ports
        ray = shutil.which("ray", path=str(Path(sys.executable).parent)) or "ray"
        cmd = [
            ray, "start", "--head", "--block", "--disable-usage-stats",
            "--node-ip-address=127.0.0.1", f"--port={p.gcs}",
            "--include-dashboard=true", "--dashboard-host=127.0.0.1", f"--dashboard-port={p.dashboard}",
            f"--object-manager-port={p.object_manager}", f"--node-manager-port={p.node_manager}",
            f"--metrics-export-port={p.metrics_export}",
            f"--dashboard-agent-listen-port={p.dashboard_agent_listen}",
            f"--dashboard-agent-grpc-port={p.dashboard_agent_grpc}",
            f"--runtime-env-agent-port={p.runtime_env_agent}", f"--ray-client-server-port={p.client_server}",
            f"--min-worker-port={p.min_worker}", f"--max-worker-port={p.max_worker}",
            f"--num-cpus={self.num_cpus}", f"--num-gpus={self.num_gpus}",
            f"--resources={json.dumps(self.resources, sort_keys=True)}",
            f"--temp-dir={self.temp_dir}",
        ]
        if self.labels:
            cmd.append("--labels=" + ",".join(f"{k}={v}" for k, v in sorted(self.labels.items())))
        return cmd

    # -- life --------------------------------------------------------------------------

    def start(self, timeout_s: float = READY_TIMEOUT_S, attempts: int = 3) -> EmbeddedHead:
        """Start and wait until its node is alive; a start that times out (a busy machine) is retried."""
        for attempt in range(1, attempts + 1):
            try:
                return self._start_once(timeout_s)
            except HeadError as exc:
                if attempt == attempts or "timed out during startup" not in str(exc):
                    raise
                time.sleep(2.0)
        return self

    def _start_once(self, timeout_s: float) -> EmbeddedHead:
        if self.running:
            return self
        busy = self._busy_port()
        if busy is not None and self._leftovers():
            logger.warning("waiting for this service's previous Ray head (temp dir %s) to exit", self.temp_dir)
            self._wait_gone(PREVIOUS_HEAD_WAIT_S)
            busy = self._busy_port()
        if busy is not None:
            raise HeadError(f"port {busy} on 127.0.0.1 is in use: another Ray head? "
                            f"(choose another block with AICC_RAY_PORT_BASE)")
        cmd = self.command()
        if self.sandbox is not None:
            own(self.temp_dir, self.sandbox.uid)
            own(self.temp_dir / "home", self.sandbox.uid)
            cmd = replace(self.sandbox, writable=(self.temp_dir, *self.sandbox.writable)).wrap(cmd)
        else:
            self.temp_dir.mkdir(parents=True, exist_ok=True)
        self._log = self.temp_dir / "aicc-head.log"
        with open(self._log, "wb") as log:
            log.write(f"[aicc] {shlex.join(cmd)}\n".encode())
            log.flush()
            self._proc = subprocess.Popen(
                cmd, env=self.env(), stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True, preexec_fn=_die_with_parent)
        atexit.register(self.stop)
        try:
            self._wait_ready(timeout_s)
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not self.running:
                raise HeadError(f"the Ray head exited during start; see {self._log}:\n{self._tail()}")
            if self._node_alive():
                return
            time.sleep(0.5)
        raise HeadError(f"the Ray head was not ready after {timeout_s:.0f} s; see {self._log}:\n{self._tail()}")

    def _node_alive(self) -> bool:
        headers = {"Authorization": f"Bearer {self.auth_token}"} if self.auth_token else {}
        req = urllib.request.Request(f"{self.dashboard_url}/api/v0/nodes?limit=10", headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=5) as resp:
                body = json.load(resp)
        except (OSError, ValueError, urllib.error.URLError):
            return False
        nodes = (body.get("data") or {}).get("result", {}).get("result", [])
        return any(n.get("state") == "ALIVE" for n in nodes)

    def _tail(self, lines: int = 25) -> str:
        try:
            return "\n".join(self._log.read_text(errors="replace").splitlines()[-lines:]) if self._log else ""
        except OSError:
            return ""

    def stop(self, timeout_s: float = 30.0) -> None:
        """SIGTERM to the head (it ends the Ray processes it started), then SIGKILL to its session."""
        proc, self._proc = self._proc, None
        with contextlib.suppress(Exception):
            atexit.unregister(self.stop)
        if proc is None:
            return
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                if self.sandbox is not None:  # bwrap: the head inside it is in its process group
                    os.killpg(proc.pid, signal.SIGTERM)
                else:
                    proc.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout_s)
        # Anything left in the session this head was started in (its pgid is its pid) is ours.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(5)
        # Ray's workers and the launcher's jobs run in sessions of their own; any still alive
        # name this head's temp dir.
        for pid in self._leftovers():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        # A restart right after must find the ports free: wait until the processes are gone.
        self._wait_gone(timeout_s)

    def _busy_port(self) -> int | None:
        p = self.ports
        return next((port for port in (p.gcs, p.dashboard, p.node_manager) if _listening(port)), None)

    def _leftovers(self) -> list[int]:
        """Processes of a head on this temp dir: this one's, or a previous one's still exiting."""
        return pids_mentioning(f"{self.temp_dir}/session_")

    def _wait_gone(self, timeout_s: float) -> None:
        """Until no process of a head on this temp dir is left and its ports are closed."""
        deadline = time.monotonic() + timeout_s
        while (self._leftovers() or self._busy_port() is not None) and time.monotonic() < deadline:
            time.sleep(0.1)

    def __enter__(self) -> EmbeddedHead:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


def sandbox_for_head(protect: Sequence[Path] = (), mode: str = "auto") -> Sandbox | None:
    """Where the shared embedded head runs: as ``RAY_UID`` when aicc is root, in a bwrap sandbox
    without ``protect`` (the data directory, token files) and the homes whenever bwrap is here.

    ``mode``: ``auto`` (that, or a warning and no sandbox where bwrap is missing and aicc is not
    root), ``required`` (refuse to start without it), ``off`` (the head runs as the service:
    jobs can read its files; for trials only).
    """
    if mode == "off":
        return None
    if bwrap_path() is None:
        if mode == "required" or is_root():
            raise HeadError("running job code apart from the service needs bubblewrap: apt-get install "
                            "bubblewrap (or AICC_JOB_SANDBOX=off for a trial: jobs then read the service's files)")
        logger.warning("bubblewrap is not installed: jobs on the shared Ray head run as the service's user "
                       "and can read its data directory; apt-get install bubblewrap")
        return None
    return Sandbox(uid=RAY_UID if is_root() else None, hidden=tuple(protect))


def system_temp_dir() -> Path:
    """Where a local head's temp dir goes, by Ray's own rule: ``RAY_TMPDIR``, else ``TMPDIR``
    on Linux, else /tmp (macOS's long TMPDIR would overflow Ray's socket paths)."""
    if os.environ.get("RAY_TMPDIR"):
        return Path(os.environ["RAY_TMPDIR"])
    if sys.platform.startswith("linux") and os.environ.get("TMPDIR"):
        return Path(os.environ["TMPDIR"])
    return Path("/tmp")


def _listening(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.3)
        return s.connect_ex(("127.0.0.1", port)) == 0
