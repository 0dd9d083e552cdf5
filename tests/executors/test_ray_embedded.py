"""The embedded head: a virtual center on one machine, its jobs, and a clean stop.

It runs in a child process (this session's own Ray is the multi-node cluster
of conftest.py, and a process talks to one Ray): a small center of two A800
nodes and one Ascend node is declared to a local head on ports 20700-20799 (or the next free block);
a gang runs and sees its devices; Ray refuses a bundle beyond a node's
devices; after stop no process of that head is left.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.ray_cluster import free_block

pytestmark = pytest.mark.slow

SCRIPT = r'''
import json, os, sys, time
from scheduler.centerfile import build_center
from scheduler.core import Policy
from scheduler.domain import JobKind, JobSpec, Resources
from scheduler.engine import Engine
from scheduler.engine.clock import SystemClock
from scheduler.store.memory import MemoryStore
from scheduler.executors.ray import RayPorts, RaySettings, make_ray_executor

cfg = build_center({"name": "mini", "accelerators": [
    {"name": "a800", "vendor_resource": "nvidia.com/gpu", "ray_resource": "GPU", "memory": "80Gi", "tflops": {"fp16": 312}},
    {"name": "ascend910b", "vendor_resource": "huawei.com/Ascend910", "ray_resource": "NPU", "memory": "64Gi", "tflops": {"fp16": 320}}],
  "pools": [{"name": "a800", "accelerator": "a800", "racks": 1, "nodes_per_rack": 2, "devices_per_node": 4, "cpus_per_node": 8, "memory_per_node": "64Gi"},
            {"name": "ascend", "accelerator": "ascend910b", "racks": 1, "nodes_per_rack": 1, "devices_per_node": 4, "cpus_per_node": 8, "memory_per_node": "64Gi"}],
  "tenants": [{"name": "vr", "guaranteed": "3P", "limit": "4P", "isolation": "shared"}]})
# What a service's environment holds that no job may see.
os.environ.update(AICC_ADMIN_TOKEN="admin-secret-9f3", DATABASE_URL="postgresql://aicc:pw@db/aicc")
ex = make_ray_executor(SystemClock(), center=cfg.center, settings=RaySettings(ports=RayPorts(int(sys.argv[1]))))
out = {"temp_dir": str(ex.head.temp_dir), "head_pid": ex.head._proc.pid}
import ray
out["resources"] = {k: v for k, v in ray.cluster_resources().items() if k in ("GPU", "NPU") or k.startswith("aicc_node:")}
engine = Engine(cfg.center, MemoryStore(cfg.tenants), ex, SystemClock(), Policy(priority_classes=cfg.priority_classes))
probe = ("python -c \"import os; print('ENV', os.environ['AICC_TENANT'], os.environ['AICC_NODE_DEVICES'], os.environ['AICC_RAY_RESOURCE']); "
         "print('LEAKED', sorted(k for k, v in os.environ.items() if k in ('AICC_ADMIN_TOKEN', 'DATABASE_URL') or 'admin-secret-9f3' in v))\"")
job = engine.submit(JobSpec("vr", "gang", JobKind.TRAINING, 2, Resources(3, ("a800", "ascend910b")), entrypoint=probe))
deadline = time.time() + 150
while time.time() < deadline and not engine.store.jobs[job.id].state.terminal:
    engine.step(); engine.sync(); time.sleep(0.1)
done = engine.store.jobs[job.id]
out["state"] = done.state.value
out["placement"] = [[w.node, list(w.devices)] for w in done.placement.workers] if done.placement else None
out["log"] = [l for l in ex.logs(job.id).splitlines() if l.startswith("ENV")]
out["leaked"] = [l for l in ex.logs(job.id).splitlines() if l.startswith("LEAKED")]
# Ray itself refuses more devices on a virtual node than it has: 5 on a node of 4 stays unplaced.
pg = ray.util.placement_group([{"GPU": 5, "aicc_node:a800-r01-n01": 5}])
out["beyond_placed"] = bool(ray.wait([pg.ready()], timeout=3)[0])
ray.util.remove_placement_group(pg)
# A job still running when the service stops goes with the head.
long = engine.submit(JobSpec("vr", "long", JobKind.BATCH, 1, Resources(1, ("a800",)), entrypoint="sleep 300"))
deadline = time.time() + 60
while time.time() < deadline and engine.store.jobs[long.id].state.value != "running":
    engine.step(); engine.sync(); time.sleep(0.1)
out["long_state"] = engine.store.jobs[long.id].state.value
ex.close()
print("RESULT " + json.dumps(out), flush=True)
'''


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _processes_with(text: str) -> list[int]:
    """Processes naming ``text`` in their command line or environment (a job's log file)."""
    pids = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit() and int(proc.name) != os.getpid():
            try:
                if any(text.encode() in (proc / f).read_bytes() for f in ("cmdline", "environ")):
                    pids.append(int(proc.name))
            except OSError:
                continue
    return pids


def test_the_embedded_head_runs_a_virtual_center_and_stops_clean() -> None:
    try:
        import ray  # noqa: F401
    except ImportError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"Ray is required under CI: {exc}")
        pytest.skip(f"Ray not installed: {exc}")
    if os.geteuid() == 0 and shutil.which("bwrap") is None:  # as root the head never runs unsandboxed
        if os.environ.get("CI") == "true":
            pytest.fail("bubblewrap (bwrap) is required under CI as root: apt-get install bubblewrap")
        pytest.skip("SKIPPING the embedded head test: aicc runs as root and bubblewrap is not installed")
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env["RAY_AUTH_MODE"] = "disabled"
    run = subprocess.run([sys.executable, "-c", SCRIPT, str(free_block(20700))], capture_output=True, text=True, timeout=280, env=env,
                         cwd=Path(__file__).resolve().parents[2])
    lines = [ln for ln in run.stdout.splitlines() if ln.startswith("RESULT ")]
    assert run.returncode == 0 and lines, run.stdout[-3000:] + run.stderr[-3000:]
    out = json.loads(lines[-1].removeprefix("RESULT "))
    assert out["resources"] == {"GPU": 8.0, "NPU": 4.0, "aicc_node:a800-r01-n01": 4.0,
                                "aicc_node:a800-r01-n02": 4.0, "aicc_node:ascend-r01-n01": 4.0}
    assert out["state"] == "succeeded"
    placement = out["placement"]
    assert sum(len(d) for _, d in placement) == 6 and len(placement) == 2
    node_devices = ";".join(f"{n}:{','.join(map(str, d))}" for n, d in _merge(placement))
    resource = "NPU" if placement[0][0].startswith("ascend") else "GPU"
    assert out["log"] == [f"ENV vr {node_devices} {resource}"]
    # The service's secrets stay out of the job's environment (the head's is an allow-list).
    assert out["leaked"] == ["LEAKED []"]
    assert out["beyond_placed"] is False
    assert out["long_state"] == "running"
    assert not _alive(out["head_pid"])
    assert _processes_with(out["temp_dir"]) == []


def _merge(placement: list[list]) -> list[tuple[str, list[int]]]:
    merged: dict[str, list[int]] = {}
    for node, devices in placement:
        merged.setdefault(node, []).extend(devices)
    return list(merged.items())
