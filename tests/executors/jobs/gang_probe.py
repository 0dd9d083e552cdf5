"""A test job: one task per gang worker on its bundle; prints where each ran, then sleeps.

Prints ``AICC-PROBE <json>`` with, per worker, the Ray node it ran on and the
devices aicc gave it. Sleeps ``--seconds`` (SIGTERM: prints and exits).
"""

import argparse
import json
import os
import signal
import sys
import time

import ray
from ray.util.placement_group import PlacementGroup
from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy


def where(index):
    return {"index": index, "ray_node": ray.get_runtime_context().get_node_id(),
            "tenant": os.environ.get("AICC_TENANT")}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=0.0)
    ap.add_argument("--exit", type=int, default=0)
    args = ap.parse_args()
    placement = json.loads(os.environ["AICC_PLACEMENT"])
    ray.init(logging_level="WARNING")
    # After ray.init: Ray installs its own SIGTERM handler in a driver.
    signal.signal(signal.SIGTERM, lambda *_: (print("AICC-PROBE got SIGTERM", flush=True), sys.exit(143)))
    pg = PlacementGroup(ray.PlacementGroupID(bytes.fromhex(os.environ["AICC_PLACEMENT_GROUP_ID"])))
    per = int(os.environ["AICC_DEVICES_PER_WORKER"])
    task = ray.remote(where)
    refs = [task.options(num_cpus=0, num_gpus=per, scheduling_strategy=PlacementGroupSchedulingStrategy(
        pg, placement_group_bundle_index=i)).remote(i) for i in range(len(placement))]
    rows = ray.get(refs)
    print("AICC-PROBE " + json.dumps({"workers": rows, "placement": placement,
                                      "node_devices": os.environ["AICC_NODE_DEVICES"]}), flush=True)
    deadline = time.time() + args.seconds
    while time.time() < deadline:
        time.sleep(0.1)
    sys.exit(args.exit)


if __name__ == "__main__":
    main()
