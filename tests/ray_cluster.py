"""A real multi-node Ray cluster on loopback for tests: every port explicit, auth disabled.

Shared by the executor tests' session cluster and the node-kill scenario, which
runs in a process of its own.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def ray_test_env() -> None:
    """This process's environment for a loopback Ray with auth disabled."""
    os.environ["RAY_AUTH_MODE"] = "disabled"
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"  # 127.0.0.1 stays 127.0.0.1
    constants = sys.modules.get("ray._private.ray_constants")
    if constants is not None:  # Ray read it on import (an earlier test imported Ray): say it again
        constants.ENABLE_RAY_CLUSTER = False  # type: ignore[attr-defined]
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    os.environ.setdefault("RAY_agent_register_timeout_ms", "180000")
    # Job entrypoints say ``python``: this interpreter, with Ray and numpy.
    os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])


def free_block(preferred: int, size: int = 100, tries: int = 5, step: int = 1000) -> int:
    """The first block of ``size`` loopback ports, from ``preferred`` and then every ``step``
    above it, that are all free. A Ray left running by a killed test run keeps its block (until
    ``ray stop``); the next run moves on, saying so, instead of failing to start."""
    for base in range(preferred, preferred + tries * step, step):
        if all(_free(port) for port in range(base, base + size)):
            if base != preferred:
                warnings.warn(f"ports {preferred}-{preferred + size - 1} are in use (a Ray left by a killed "
                              f"test run? `ray stop` ends it): using {base}-{base + size - 1}", stacklevel=2)
            return base
    raise RuntimeError(f"no free block of {size} ports from {preferred} in {tries} tries")


def _free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def node_ports(base: int) -> dict[str, int]:
    return {"node_manager_port": base + 3, "object_manager_port": base + 2, "metrics_export_port": base + 4,
            "dashboard_agent_listen_port": base + 5, "metrics_agent_port": base + 6,
            "runtime_env_agent_port": base + 7, "min_worker_port": base + 10, "max_worker_port": base + 19}


def start_cluster(head_base: int, workers: Sequence[tuple[str, str, int]], *, devices: int = 4,
                  temp_dir: str | None = None) -> tuple[Any, dict[str, Any], int]:
    """A head (2 CPUs, no devices) and one node per (aicc name, rack, port base) with ``devices``
    logical GPUs and aicc's labels. Returns the cluster, its nodes by name, and the attempts it took.
    Its files go to ``temp_dir``, by default ``aicc-ray-<head port>`` in the temp root (not
    /tmp/ray, which other Rays on the machine share)."""
    from ray.cluster_utils import Cluster

    from scheduler.executors.ray.head import system_temp_dir
    from scheduler.executors.ray.launcher import pids_mentioning

    # Cluster writes the head's address to Ray's default temp root (ray_current_cluster), which
    # only exists where some Ray ran before: make it. The nodes' own files go to a temp dir of
    # this cluster's, under the same root (a fresh TMPDIR in CI).
    (system_temp_dir() / "ray").mkdir(parents=True, exist_ok=True)
    where = {"temp_dir": temp_dir or str(system_temp_dir() / f"aicc-ray-{head_base}")}
    head_args = {"num_cpus": 2, "gcs_server_port": head_base, "include_dashboard": True,
                 "dashboard_host": "127.0.0.1", "dashboard_port": head_base + 1,
                 "ray_client_server_port": head_base + 8, "node_ip_address": "127.0.0.1",
                 "object_store_memory": 100 * 1024 * 1024, **where, **node_ports(head_base)}
    for attempt in range(1, 4):  # Ray gives a node 30 s to register: a busy machine can miss that
        cluster = Cluster(initialize_head=False)
        try:
            cluster.add_node(**head_args)
            # Ray's job supervisor finds the cluster its drivers join by this file in the head's
            # temp dir; without it, it takes any GCS it sees running on the machine (another
            # test's, another job's own Ray): a Job API driver then joins the wrong cluster.
            import ray._private.utils as ray_utils

            ray_utils.write_ray_address(cluster.gcs_address, where["temp_dir"])
            nodes = {name: cluster.add_node(num_cpus=1, num_gpus=devices, node_ip_address="127.0.0.1",
                                            labels={"aicc.io/node": name, "aicc.io/rack": rack},
                                            object_store_memory=80 * 1024 * 1024, **where, **node_ports(base))
                     for name, rack, base in workers}
            cluster.wait_for_nodes()
            return cluster, nodes, attempt
        except Exception as exc:
            cluster.shutdown()
            if attempt == 3 or "timed out during startup" not in str(exc):
                raise
            # A node that failed mid-start is not the Cluster's to shut down: its processes (a GCS
            # holding the port, which the next attempt's head would join) are ended here.
            for pid in pids_mentioning(f"{where['temp_dir']}/session_"):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
            _wait_free([head_base, head_base + 1, *(base + 3 for _, _, base in workers)], 60.0)
    raise AssertionError("unreachable")


def _wait_free(ports: Sequence[int], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not all(_free(p) for p in ports) and time.monotonic() < deadline:
        time.sleep(0.2)
