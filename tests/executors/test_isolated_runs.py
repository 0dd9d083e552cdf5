"""An isolated run on its own (no shared cluster): its Ray instance, its devices, a graceful stop.

One run of an entrypoint that traps SIGTERM: it starts once its own Ray head is up,
in a copy of its working_dir, sees only its devices (a gang over two nodes: each worker
on its node's share of its own Ray), is stopped with a grace period (it gets SIGTERM, not SIGKILL at
once), and leaves no process behind.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from scheduler.executors.ray.isolated import IsolatedRuns, runner_pids
from tests import needs

pytestmark = pytest.mark.slow

ENTRYPOINT = ("trap 'echo got-term; exit 3' TERM; echo devices=$CUDA_VISIBLE_DEVICES address=$RAY_ADDRESS; "
              "touch \"$AICC_CHECKPOINT_FILE\"; "
              # its working_dir: where it runs, importable; the excluded file and the link's target absent
              "python -c 'import helper; print(\"helper says\", helper.WORD)'; cat data.txt; "
              # its gang: one task per worker, each on its node's share of its own Ray
              "python gang.py; "
              "ls; cat leak.txt || echo no-leak; "
              "python -c 'import ray; ray.init(); print(\"gpus\", ray.cluster_resources()[\"GPU\"])'; "
              "echo ready; sleep 300 & wait")


EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
#: the examples' gang helper in an isolated job: where each worker's task ran
GANG = """import json, ray
from aicc_gang import gang_map
def where(w):
    held = ray.get_runtime_context().get_assigned_resources()
    return [w.node, sorted(k for k in held if k.startswith("aicc_node:")), held.get("GPU")]
print("gang", json.dumps(gang_map(where)))
"""
GANG_ENV = {"AICC_PLACEMENT": '[{"node": "n1", "devices": [1, 3]}, {"node": "n2", "devices": [0, 2]}]',
            "AICC_DEVICES_PER_WORKER": "2", "AICC_RAY_RESOURCE": "GPU"}


def _until(check: Callable[[], bool], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.2)
    return False


def test_an_isolated_run_starts_on_its_own_ray_and_stops_gracefully(tmp_path: Path) -> None:
    needs.bwrap("isolated runs")
    pytest.importorskip("ray")
    work = tmp_path / "jobs" / "train"
    work.mkdir(parents=True)
    (work / "helper.py").write_text("WORD = 'hello-from-working-dir'\n")
    (work / "data.txt").write_text("data-line\n")
    (work / "big.ckpt").write_text("excluded\n")
    (tmp_path / "secret").write_text("service-secret\n")
    (work / "leak.txt").symlink_to(tmp_path / "secret")  # a link out of it is copied as a link
    shutil.copy(EXAMPLES / "aicc_gang.py", work)
    (work / "gang.py").write_text(GANG)
    runs = IsolatedRuns(tmp_path / "iso")
    try:
        runs.start("aicc-t1-0", "bank", ENTRYPOINT, {"AICC_JOB_ID": "t1", **GANG_ENV}, accelerator="a800",
                   ray_resource="GPU", nodes={"n1": [1, 3], "n2": [0, 2]}, metadata={"aicc_job_id": "t1"},
                   working_dir=work, excludes=["*.ckpt"])
        assert _until(lambda: "ready" in (runs.logs("aicc-t1-0") or ""), 240), runs.logs("aicc-t1-0")
        assert runs.infos(["aicc-t1-0"])["aicc-t1-0"]["status"] == "RUNNING"
        log = runs.logs("aicc-t1-0") or ""
        # two (virtual) nodes' devices: counted by its Ray, named by no visibility variable (one
        # node's are: tests/security/test_job_isolation.py)
        assert "devices= address=127.0.0.1:6379" in log and "gpus 4.0" in log, log
        assert 'gang [["n1", ["aicc_node:n1"], 2.0], ["n2", ["aicc_node:n2"], 2.0]]' in log, log
        assert "helper says hello-from-working-dir" in log and "data-line" in log, log
        assert "big.ckpt" not in log and "service-secret" not in log and "no-leak" in log, log
        assert len(runner_pids(tmp_path / "iso" / "aicc-t1-0")) == 1
        # it has no network: a checkpoint is reported by touching a file, which the executor reads
        reported = runs.checkpoints()["aicc-t1-0"]
        assert time.time() - 300 < reported <= time.time()
        runs.stop("aicc-t1-0", grace_s=30)
        assert _until(lambda: runs.infos(["aicc-t1-0"])["aicc-t1-0"]["status"] == "STOPPED", 30)
        assert "got-term" in (runs.logs("aicc-t1-0") or "")  # SIGTERM reached it: not killed outright
        assert runner_pids(tmp_path / "iso" / "aicc-t1-0") == []
    finally:
        runs.close()
