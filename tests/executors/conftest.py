"""One real multi-node Ray cluster on this machine for the whole test session.

``ray.cluster_utils.Cluster``: a head (where job drivers run, no devices) and
three worker nodes with 4 logical GPUs each and aicc labels (node name, rack),
every port in one block (20400-20499, or the next free one) and bound to loopback,
auth disabled. Without
Ray installed the tests are skipped loudly, except under CI=true where they fail.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.ray_cluster import free_block, ray_test_env, start_cluster

PORTS = 20400  # head at +0, workers at +20, +40, +60
WORKERS = (("gpu-a", "rack-1", 20), ("gpu-b", "rack-1", 40), ("gpu-c", "rack-2", 60))
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

    head = free_block(PORTS)
    workers = [(name, rack, head + offset) for name, rack, offset in WORKERS]
    cluster, nodes, _ = start_cluster(head, workers, devices=DEVICES_PER_NODE)
    ray.init(address=cluster.address, namespace="aicc", logging_level="WARNING", log_to_driver=False)
    try:
        yield RayCluster(cluster, cluster.address, f"http://127.0.0.1:{head + 1}", nodes)
    finally:
        ray.shutdown()
        cluster.shutdown()
