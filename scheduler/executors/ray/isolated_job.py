"""One isolated job, run inside its sandbox: a Ray instance of its own, then the entrypoint.

``python isolated_job.py JOB_DIR`` is what the sandbox (``sandbox.py``) runs, as the tenant's
uid when aicc is root. It starts a Ray head on the sandbox's own loopback (its network
namespace is its own, so Ray's usual ports are free and nothing outside can be reached or
reach in), with a fresh auth token, its temp dir in the sandbox's private ``/tmp`` and its
object store in the sandbox's private ``/dev/shm``; then it runs the entrypoint with
``RAY_ADDRESS`` pointing there, its output in ``JOB_DIR/job.log``. ``JOB_DIR/status.json``
says where it is (``starting``, ``running``, ``exited`` with the code, ``failed`` with why),
written whole each time (rename), for aicc to read. SIGTERM goes on to the entrypoint's
process group; when the entrypoint ends this process ends and, with it, the sandbox's PID
namespace and every process of its Ray.

Only the standard library: it runs with whatever the sandbox can read.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

GCS_PORT = 6379
RAY_TEMP = "/tmp/ray"  # the sandbox's own /tmp: short socket paths, gone with the sandbox


def write_status(job_dir: Path, **fields: Any) -> None:
    tmp = job_dir / "status.json.tmp"
    tmp.write_text(json.dumps({"at": time.time(), **fields}))
    tmp.replace(job_dir / "status.json")


def head_command(run: dict[str, Any]) -> list[str]:
    ray = str(Path(sys.executable).parent / "ray")
    return [ray, "start", "--head", "--disable-usage-stats", "--node-ip-address=127.0.0.1",
            f"--port={GCS_PORT}", "--include-dashboard=false",
            f"--num-cpus={run['num_cpus']}", f"--num-gpus={run['num_gpus']}",
            f"--resources={json.dumps(run['resources'], sort_keys=True)}",
            f"--object-store-memory={run['object_store_bytes']}", f"--temp-dir={RAY_TEMP}",
            # one job's instance: no autoscaler monitor, no log monitor (its output is in job.log)
            "--no-monitor", "--include-log-monitor=false"]


def main(job_dir: Path) -> int:
    run = json.loads((job_dir / "run.json").read_text())
    write_status(job_dir, state="starting")
    env = dict(os.environ)
    env["RAY_AUTH_MODE"] = "token"
    env["RAY_AUTH_TOKEN"] = secrets.token_hex(24)  # this instance's own; no other knows it
    home = Path(env.get("HOME") or "/tmp/home")
    home.mkdir(parents=True, exist_ok=True)
    cwd = run.get("cwd") or str(home)
    if "cwd" in run:  # its working_dir: importable by the driver and by its Ray's workers, as Ray does
        env["PYTHONPATH"] = cwd
    with open(job_dir / "ray-head.log", "ab") as out:
        head = subprocess.run(head_command(run), env=env, stdout=out, stderr=subprocess.STDOUT,
                              stdin=subprocess.DEVNULL, check=False)
    if head.returncode != 0:
        tail = (job_dir / "ray-head.log").read_text(errors="replace").splitlines()[-5:]
        write_status(job_dir, state="failed", message="its Ray instance did not start: " + " | ".join(tail))
        return 1
    env["RAY_ADDRESS"] = f"127.0.0.1:{GCS_PORT}"
    stopping: list[int] = []
    with open(job_dir / "job.log", "ab") as out:
        proc = subprocess.Popen(run["entrypoint"], shell=True, env=env, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True, cwd=cwd)

    def forward(signum: int, _frame: object) -> None:
        stopping.append(signum)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    write_status(job_dir, state="running")
    code = proc.wait()
    write_status(job_dir, state="exited", code=code, stopped=bool(stopping))
    return code


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
