"""Run one function per gang worker, where aicc placed it.

Under aicc on Ray, the job's driver gets its placement group and placement as
environment variables (AICC_PLACEMENT_GROUP_ID, AICC_PLACEMENT, ...): each
worker becomes a Ray task pinned to its bundle, holding exactly its devices. An
isolated tenant's job runs in a Ray instance of its own (RAY_ADDRESS) that holds
its devices as ``aicc_node:<node>`` resources: each worker takes its node's share.
Run by hand (``python train_mlp.py``), the same code runs the workers in
process, so every example also works on a laptop without Ray.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Worker:
    index: int
    count: int
    node: str
    devices: tuple[int, ...]


def workers() -> list[Worker]:
    rows = json.loads(os.environ.get("AICC_PLACEMENT", "[]"))
    if not rows:
        return [Worker(0, 1, "local", ())]
    return [Worker(i, len(rows), r["node"], tuple(r["devices"])) for i, r in enumerate(rows)]


def describe() -> str:
    return (f"job {os.environ.get('AICC_JOB_ID', '-')} of tenant {os.environ.get('AICC_TENANT', '-')}, "
            f"attempt {os.environ.get('AICC_ATTEMPT', '0')}, devices {os.environ.get('AICC_NODE_DEVICES', 'none')}")


_stop_handler: list[Callable[[int, Any], None]] = []


def on_stop(handler: Callable[[], None]) -> None:
    """Call ``handler`` on SIGTERM (cancel or preemption), then exit: the grace period is short."""

    def _term(signum: int, frame: Any) -> None:
        handler()
        sys.stdout.flush()
        sys.exit(143)

    _stop_handler[:] = [_term]
    signal.signal(signal.SIGTERM, _term)


def gang_map(fn: Callable[..., Any], *args: Any) -> list[Any]:
    """``fn(worker, *args)`` on every worker of the gang, in worker order."""
    ws = workers()
    pg_id = os.environ.get("AICC_PLACEMENT_GROUP_ID")
    if not pg_id and not (os.environ.get("RAY_ADDRESS") and os.environ.get("AICC_PLACEMENT")):
        return [fn(w, *args) for w in ws]
    import ray

    if not ray.is_initialized():
        ray.init(logging_level="WARNING", log_to_driver=True)
        if _stop_handler:  # ray.init puts its own SIGTERM handler in a driver: ours again
            signal.signal(signal.SIGTERM, _stop_handler[0])
    remote = ray.remote(fn)
    return list(ray.get([remote.options(**_pinned(w, pg_id)).remote(w, *args) for w in ws]))


def _pinned(w: Worker, pg_id: str | None) -> dict[str, Any]:
    """Where worker ``w`` runs, holding its devices: its bundle of the job's placement group on
    the center's cluster, or (an isolated job, in a Ray instance of its own) its node's share."""
    per_worker = int(os.environ.get("AICC_DEVICES_PER_WORKER", "0"))
    resource = os.environ.get("AICC_RAY_RESOURCE", "GPU")
    options: dict[str, Any] = {"num_cpus": 0}
    if pg_id:
        import ray
        from ray.util.placement_group import PlacementGroup
        from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

        pg = PlacementGroup(ray.PlacementGroupID(bytes.fromhex(pg_id)))
        options["scheduling_strategy"] = PlacementGroupSchedulingStrategy(
            placement_group=pg, placement_group_bundle_index=w.index)
    resources = {} if pg_id else {f"aicc_node:{w.node}": len(w.devices)}
    if per_worker:
        if resource == "GPU":
            options["num_gpus"] = per_worker
        else:
            resources[resource] = per_worker
    if resources:
        options["resources"] = {k: v for k, v in resources.items() if v}
    return options
