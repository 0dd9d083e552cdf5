"""Where Ray listens and how aicc talks to it: ports, address, auth mode."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

#: The first port of the embedded head; it uses this block of 100.
DEFAULT_PORT_BASE = 20100
#: Ray's namespace for aicc's placement groups.
NAMESPACE = "aicc"
AUTH_MODES = ("disabled", "token")
SANDBOX_MODES = ("auto", "required", "off")


@dataclass(frozen=True, slots=True)
class RayPorts:
    """Every port a Ray head opens, fixed (Ray would otherwise pick 6379 and random ones)."""

    base: int = DEFAULT_PORT_BASE

    @property
    def gcs(self) -> int:
        return self.base

    @property
    def dashboard(self) -> int:
        return self.base + 1

    @property
    def object_manager(self) -> int:
        return self.base + 2

    @property
    def node_manager(self) -> int:
        return self.base + 3

    @property
    def metrics_export(self) -> int:
        return self.base + 4

    @property
    def dashboard_agent_listen(self) -> int:
        return self.base + 5

    @property
    def dashboard_agent_grpc(self) -> int:
        return self.base + 6

    @property
    def runtime_env_agent(self) -> int:
        return self.base + 7

    @property
    def client_server(self) -> int:
        return self.base + 8

    @property
    def min_worker(self) -> int:
        return self.base + 20

    @property
    def max_worker(self) -> int:
        return self.base + 99


@dataclass(frozen=True, slots=True)
class RaySettings:
    """How to reach Ray. No ``address``: start an embedded head on ``ports``."""

    address: str | None = None  # GCS address of an existing cluster, e.g. 10.0.0.5:6379
    dashboard_url: str | None = None  # its Job Submission API; default: the address's host, port 8265
    auth_mode: str = "disabled"
    auth_token: str | None = None
    ports: RayPorts = RayPorts()
    #: start jobs that need no runtime env built in aicc's launcher actor (milliseconds) rather
    #: than as Ray Job Submission API jobs (a new Ray worker each, about 2 s); see launcher.py
    launcher: bool = True
    #: the embedded head's sandbox: auto (bwrap where installed, a uid of its own when root),
    #: required (refuse to start without bwrap), off (trials: jobs can read the service's files)
    sandbox: str = "auto"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> RaySettings:
        """``RAY_ADDRESS``, ``RAY_DASHBOARD_ADDRESS``/``RAY_API_SERVER_ADDRESS``, ``RAY_AUTH_MODE``,
        ``RAY_AUTH_TOKEN``, ``AICC_RAY_PORT_BASE``, ``AICC_RAY_LAUNCHER`` (0 sends every job
        through the Job Submission API), ``AICC_JOB_SANDBOX`` (auto, required, off)."""
        env = os.environ if env is None else env
        address = env.get("RAY_ADDRESS") or None
        if address is not None and address.startswith("ray://"):
            raise ValueError("RAY_ADDRESS must be the GCS address (host:port), not a Ray Client ray:// URL")
        if address == "auto":
            raise ValueError("RAY_ADDRESS=auto is not supported: give host:port")
        mode = env.get("RAY_AUTH_MODE") or "disabled"
        if mode not in AUTH_MODES:
            raise ValueError(f"RAY_AUTH_MODE={mode!r}: choose one of {', '.join(AUTH_MODES)}")
        base = int(env.get("AICC_RAY_PORT_BASE") or DEFAULT_PORT_BASE)
        launcher = (env.get("AICC_RAY_LAUNCHER") or "1").strip().lower()
        if launcher not in ("0", "1", "true", "false"):
            raise ValueError(f"AICC_RAY_LAUNCHER={launcher!r}: use 1 or 0")
        sandbox = (env.get("AICC_JOB_SANDBOX") or "auto").strip().lower()
        if sandbox not in SANDBOX_MODES:
            raise ValueError(f"AICC_JOB_SANDBOX={sandbox!r}: choose one of {', '.join(SANDBOX_MODES)}")
        return cls(address=address, sandbox=sandbox,
                   dashboard_url=env.get("RAY_DASHBOARD_ADDRESS") or env.get("RAY_API_SERVER_ADDRESS") or None,
                   auth_mode=mode, auth_token=env.get("RAY_AUTH_TOKEN") or None, ports=RayPorts(base),
                   launcher=launcher in ("1", "true"))

    def resolved_dashboard_url(self) -> str:
        if self.dashboard_url:
            url = self.dashboard_url
            return url if "://" in url else f"http://{url}"
        if self.address is None:
            return f"http://127.0.0.1:{self.ports.dashboard}"
        host = self.address.rsplit(":", 1)[0]
        return f"http://{host}:8265"


def is_loopback(address: str) -> bool:
    host = address.rsplit(":", 1)[0].strip("[]")
    return host in ("127.0.0.1", "localhost", "::1")


def loopback_env() -> dict[str, str]:
    """Ray replaces 127.0.0.1 by the machine's outward address unless told not to;
    a local head must then bind, advertise and be reached on loopback only."""
    return {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
