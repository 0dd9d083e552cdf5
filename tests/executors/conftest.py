"""One real multi-node Ray cluster on this machine for the whole test session.

``ray.cluster_utils.Cluster``: a head (where job drivers run, no devices) and
three worker nodes with 4 logical GPUs each and aicc labels (node name, rack),
every port fixed in 20400-20499 and bound to loopback, auth disabled. Without
Ray installed the tests are skipped loudly, except under CI=true where they fail.
"""

from __future__ import annotations

import os
import socket
import sys
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

HEAD_BASE = 20400
WORKERS = (("gpu-a", "rack-1", 20420), ("gpu-b", "rack-1", 20440), ("gpu-c", "rack-2", 20460))
DEVICES_PER_NODE = 4


@dataclass
class RayCluster:
    cluster: Any
    address: str
    dashboard_url: str
    nodes: dict[str, Any]  # aicc node name -> the Cluster's node object

    def ray_node_id(self, name: str) -> str:
        return str(self.nodes[name].node_id)


def _ports(base: int) -> dict[str, int]:
    return {"node_manager_port": base + 3, "object_manager_port": base + 2, "metrics_export_port": base + 4,
            "dashboard_agent_listen_port": base + 5, "metrics_agent_port": base + 6,
            "runtime_env_agent_port": base + 7, "min_worker_port": base + 10, "max_worker_port": base + 19}


def _require_ray() -> None:
    try:
        import ray
        import ray.cluster_utils  # noqa: F401
    except ImportError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"Ray is required under CI: {exc}")
        warnings.warn(f"SKIPPING Ray executor tests: Ray is not installed ({exc}); run make install",
                      stacklevel=1)
        pytest.skip(f"Ray not installed: {exc}")


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[RayCluster]:
    os.environ["RAY_AUTH_MODE"] = "disabled"
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"  # 127.0.0.1 stays 127.0.0.1
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    os.environ.setdefault("RAY_agent_register_timeout_ms", "180000")
    # Job entrypoints say ``python``: this interpreter, with Ray and numpy.
    os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    _require_ray()
    import ray
    from ray.cluster_utils import Cluster

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.3)
        if probe.connect_ex(("127.0.0.1", HEAD_BASE)) == 0:
            pytest.fail(f"port {HEAD_BASE} is in use: another session running these tests? "
                        "(they use 20400-20499 and 20700-20799)")
    temp_dir = f"/tmp/aicc-ray-{HEAD_BASE}"  # not /tmp/ray, which other Rays on the machine share
    head_args = {"num_cpus": 2, "temp_dir": temp_dir, "gcs_server_port": HEAD_BASE, "include_dashboard": True,
                 "dashboard_host": "127.0.0.1", "dashboard_port": HEAD_BASE + 1, "ray_client_server_port": HEAD_BASE + 8,
                 "node_ip_address": "127.0.0.1", "object_store_memory": 100 * 1024 * 1024, **_ports(HEAD_BASE)}
    for attempt in range(3):  # Ray gives a node 30 s to register: a busy machine can miss that
        cluster = Cluster(initialize_head=False)
        try:
            cluster.add_node(**head_args)
            nodes = {}
            for name, rack, base in WORKERS:
                nodes[name] = cluster.add_node(num_cpus=1, num_gpus=DEVICES_PER_NODE, node_ip_address="127.0.0.1",
                                               temp_dir=temp_dir,
                                               labels={"aicc.io/node": name, "aicc.io/rack": rack},
                                               object_store_memory=80 * 1024 * 1024, **_ports(base))
            cluster.wait_for_nodes()
            break
        except Exception as exc:
            cluster.shutdown()
            if attempt == 2 or "timed out during startup" not in str(exc):
                raise
    ray.init(address=cluster.address, namespace="aicc", logging_level="WARNING", log_to_driver=False)
    try:
        yield RayCluster(cluster, cluster.address, f"http://127.0.0.1:{HEAD_BASE + 1}", nodes)
    finally:
        ray.shutdown()
        cluster.shutdown()
