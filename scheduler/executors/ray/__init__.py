"""Run admitted jobs on Ray: one placement group per job, holding exactly the
bundles the scheduler placed, then the job's entrypoint as a Ray job inside it.

``EmbeddedHead`` starts a local Ray head for a center (its nodes declared as
logical resources); ``RayExecutor`` implements the engine's Executor port on a
head it started or on an existing cluster (``RAY_ADDRESS``);
``make_ray_executor`` picks between the two.
"""

from scheduler.executors.ray.config import RayPorts, RaySettings
from scheduler.executors.ray.executor import RayExecutor, make_ray_executor
from scheduler.executors.ray.head import EmbeddedHead, HeadError
from scheduler.executors.ray.topology import (
    NodeBinding,
    Topology,
    discover_center,
    embedded_topology,
)

__all__ = [
    "EmbeddedHead",
    "HeadError",
    "NodeBinding",
    "RayExecutor",
    "RayPorts",
    "RaySettings",
    "Topology",
    "discover_center",
    "embedded_topology",
    "make_ray_executor",
]
