"""One real multi-node Ray cluster on this machine for the whole test session.

``ray.cluster_utils.Cluster``: a head (where job drivers run, no devices) and
three worker nodes with 4 logical GPUs each and aicc labels (node name, rack),
every port fixed in 20400-20499 and bound to loopback, auth disabled. Without
Ray installed the tests are skipped loudly, except under CI=true where they fail.
"""

from __future__ import annotations

import os
import socket
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.ray_cluster import ray_test_env, start_cluster

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
    ray_test_env()
    _require_ray()
    import ray

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.3)
        if probe.connect_ex(("127.0.0.1", HEAD_BASE)) == 0:
            pytest.fail(f"port {HEAD_BASE} is in use: another session running these tests? "
                        "(they use 20400-20499 and 20700-20799)")
    # not /tmp/ray, which other Rays on the machine share
    cluster, nodes, _ = start_cluster(HEAD_BASE, WORKERS, devices=DEVICES_PER_NODE,
                                      temp_dir=f"/tmp/aicc-ray-{HEAD_BASE}")
    ray.init(address=cluster.address, namespace="aicc", logging_level="WARNING", log_to_driver=False)
    try:
        yield RayCluster(cluster, cluster.address, f"http://127.0.0.1:{HEAD_BASE + 1}", nodes)
    finally:
        ray.shutdown()
        cluster.shutdown()
