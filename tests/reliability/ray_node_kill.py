"""The scenario of ``test_ray_node_kill``, run in a process of its own (a Ray driver connects
to one cluster per process, and the session may hold another).

A real Ray cluster on loopback (ports 23600-23699, or the next free block): a head and two worker nodes of
4 logical GPUs. A gang of 2 workers x 4 devices runs on both; a second job of the
same tenant waits behind it for lack of devices. The node under one of the gang's
workers is killed. Then: the gang is requeued (it is preemptible: the policy is
to requeue, with the reason NodeLost); its placement group is gone, so its bundle
on the surviving node is released; the tenant's usage is exactly the jobs still
holding devices; and the queue goes on: the waiting job starts on the released
devices. Prints one JSON line with what it saw; exits non-zero on a failed check.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from typing import Any

from tests.ray_cluster import free_block, ray_test_env, start_cluster

PORTS = 23600  # head at +0, workers at +20, +40
WORKERS = (("rel-a", "rack-1", 20), ("rel-b", "rack-2", 40))
SLEEP = "python -c 'import time; time.sleep(600)'"


def main() -> int:
    ray_test_env()
    import ray

    from scheduler.core import Policy
    from scheduler.domain import (
        AcceleratorType,
        Isolation,
        JobKind,
        JobSpec,
        JobState,
        NodeState,
        Quota,
        Resources,
        Tenant,
    )
    from scheduler.engine import Engine
    from scheduler.engine.clock import SystemClock
    from scheduler.executors.ray import RayExecutor
    from scheduler.store.memory import MemoryStore

    a800 = AcceleratorType("a800", "nvidia.com/gpu", "GPU", {"fp16": 312.0}, 80 << 30)
    seen: dict[str, Any] = {}
    head = free_block(PORTS)
    workers = [(name, rack, head + offset) for name, rack, offset in WORKERS]
    cluster, nodes, seen["cluster_attempts"] = start_cluster(head, workers)
    try:
        ray.init(address=cluster.address, namespace="aicc", logging_level="WARNING", log_to_driver=False)
        ex = RayExecutor(SystemClock(), address=cluster.address, dashboard_url=f"http://127.0.0.1:{head + 1}",
                         catalog={"a800": a800})
        try:
            store = MemoryStore({"owner": Tenant("owner", Quota(8 * a800.gflops, 8 * a800.gflops),
                                                  isolation=Isolation.SHARED)})
            assert ex.center is not None
            engine = Engine(ex.center, store, ex, SystemClock(), Policy(min_runtime_s=0.0))

            def run_until(done: Callable[[], bool], timeout_s: float) -> None:
                deadline = time.monotonic() + timeout_s
                while not done():
                    if time.monotonic() > deadline:
                        raise AssertionError("timed out: " + "; ".join(
                            f"{j.id} {j.state.value} {j.reason} {j.detail}" for j in engine.live_jobs()))
                    engine.step()
                    engine.sync()
                    time.sleep(0.1)

            def spec(name: str, workers: int) -> JobSpec:
                return JobSpec("owner", name, JobKind.TRAINING, workers, Resources(4, ("a800",)),
                               entrypoint=SLEEP, runtime_env={"grace_period_s": 1})

            gang = engine.submit(spec("gang", 2), job_id="gang")
            run_until(lambda: store.jobs["gang"].state is JobState.RUNNING, 120)
            nxt = engine.submit(spec("next", 1), job_id="next")
            engine.step()
            placed = store.jobs["gang"].placement
            assert placed is not None and sorted(placed.nodes) == ["rel-a", "rel-b"], placed
            assert store.jobs["next"].state is JobState.PENDING
            assert engine.usage()["owner"] == {"a800": 8}
            pg = ex._attempts["gang"].pg_hex  # the gang's placement group, to see it go
            seen["waiting_reason"] = engine.waiting("next")

            began = time.monotonic()
            cluster.remove_node(nodes["rel-a"])  # kills the node's raylet and the gang's worker there
            run_until(lambda: store.jobs["gang"].state is not JobState.RUNNING, 60)
            seen["detected_after_s"] = round(time.monotonic() - began, 1)
            lost = store.jobs["gang"]
            seen["gang_after_loss"] = {"state": lost.state.value, "reason": lost.reason, "detail": lost.detail,
                                       "preemptions": lost.preemptions}
            assert lost.state is JobState.PENDING and lost.reason == "NodeLost", lost
            assert lost.preemptions == 1 and lost.placement is None
            assert "gang" not in engine.holding
            assert engine.usage()["owner"] == {}, engine.usage()  # nothing held for the lost gang

            # The node watch (or the operator) marks it down; the queue goes on on what is left.
            engine.set_node_state("rel-a", NodeState.DOWN)
            run_until(lambda: store.jobs["next"].state is JobState.RUNNING, 120)
            on = store.jobs["next"].placement
            assert on is not None and on.nodes == ("rel-b",), on
            assert engine.usage()["owner"] == {"a800": 4}, engine.usage()
            assert engine.tenant_usage_gflops()["owner"] == 4 * a800.gflops
            assert store.jobs["gang"].state is JobState.PENDING  # 8 devices no longer exist
            table = ray.util.placement_group_table()
            seen["gang_pg_state"] = table.get(pg, {}).get("state")
            assert seen["gang_pg_state"] in ("REMOVED", None), table.get(pg)
            seen["gang_waits_with"] = engine.waiting("gang")
            engine.cancel(gang.id)
            engine.cancel(nxt.id)
            run_until(lambda: not engine.holding, 60)
            seen["ok"] = True
        finally:
            ex.close()
    finally:
        ray.shutdown()
        cluster.shutdown()
        print(json.dumps(seen, default=str), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
