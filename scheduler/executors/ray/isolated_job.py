"""One isolated job, run inside its sandbox: a Ray instance of its own, then the entrypoint.

``python isolated_job.py JOB_DIR`` is what the sandbox (``sandbox.py``) runs, as the tenant's
uid when aicc is root. It starts a Ray head on the sandbox's own loopback (its network
namespace is its own, so Ray's usual ports are free and nothing outside can be reached or
reach in), with a fresh auth token, its temp dir in the sandbox's private ``/tmp`` and its
object store in the sandbox's private ``/dev/shm``; it runs the entrypoint with
``RAY_ADDRESS`` pointing there, its output in ``JOB_DIR/job.log``, as soon as the head's GCS
answers there: the rest of the head (its raylet and agents, seconds of a loaded machine)
comes up while the entrypoint starts, and a ``ray.init`` in it waits for the node as Ray's
client does (up to a minute). If the head fails to start, the entrypoint is ended and the
run fails. ``JOB_DIR/status.json`` says where it is (``starting``, ``running``, ``exited``
with the code, ``failed`` with why) and when each phase began (``phases``), written whole
each time (rename), for aicc to read. SIGTERM goes on to the entrypoint's process group;
when the entrypoint ends this process ends and, with it, the sandbox's PID namespace and
every process of its Ray.

Only the standard library: it runs with whatever the sandbox can read.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

GCS_PORT = 6379
#: Most seconds for the head's GCS to answer after ``ray start`` began.
HEAD_TIMEOUT_S = 120.0
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


def gcs_answers(timeout_s: float = 0.05) -> bool:
    """Whether the head's GCS accepts connections (its own network namespace: nothing else
    can listen on that port)."""
    try:
        with socket.create_connection(("127.0.0.1", GCS_PORT), timeout=timeout_s):
            return True
    except OSError:
        return False


def head_failed(job_dir: Path, code: int | None) -> None:
    tail = (job_dir / "ray-head.log").read_text(errors="replace").splitlines()[-5:]
    why = f"exit code {code}" if code is not None else f"no GCS in {HEAD_TIMEOUT_S:.0f} s"
    write_status(job_dir, state="failed", message=f"its Ray instance did not start ({why}): " + " | ".join(tail))


def start_head(job_dir: Path, run: dict[str, Any], env: dict[str, str]) -> subprocess.Popen[bytes] | None:
    """``ray start`` in the background; returns once its GCS answers (None: it failed first)."""
    with open(job_dir / "ray-head.log", "ab") as out:
        head = subprocess.Popen(head_command(run), env=env, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + HEAD_TIMEOUT_S
    while not gcs_answers():
        code = head.poll()
        if (code is not None and code != 0) or time.monotonic() > deadline:
            with contextlib.suppress(ProcessLookupError):
                head.kill()
            head_failed(job_dir, code)
            return None
        time.sleep(0.02)
    return head


def main(job_dir: Path) -> int:
    phases = {"runner": time.time()}
    run = json.loads((job_dir / "run.json").read_text())
    write_status(job_dir, state="starting", phases=phases)
    env = dict(os.environ)  # the sandbox's: already only what isolated.py allowed (base_env and the job's own)
    env["RAY_AUTH_MODE"] = "token"
    env["RAY_AUTH_TOKEN"] = secrets.token_hex(24)  # this instance's own; no other knows it
    home = Path(env.get("HOME") or "/tmp/home")
    home.mkdir(parents=True, exist_ok=True)
    cwd = run.get("cwd") or str(home)
    if "cwd" in run:  # its working_dir: importable by the driver and by its Ray's workers, as Ray does
        env["PYTHONPATH"] = cwd
    head = start_head(job_dir, run, env)
    if head is None:
        return 1
    phases["gcs"] = time.time()
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
    phases["entrypoint"] = time.time()
    write_status(job_dir, state="running", phases=phases)
    while head.poll() is None and proc.poll() is None:  # the rest of the head comes up meanwhile
        time.sleep(0.05)
    # Ray failed to come up (an exit code): the job must not go on as if its Ray were there. A
    # head killed by a signal was killed by the job itself (nothing else shares its PID
    # namespace; a stop goes to the entrypoint's group): its Ray is its own business then.
    if head.returncode is not None and head.returncode > 0 and proc.poll() is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        head_failed(job_dir, head.returncode)
        return 1
    if head.returncode == 0:
        phases["ray_ready"] = time.time()
        write_status(job_dir, state="running", phases=phases)
    code = proc.wait()
    write_status(job_dir, state="exited", code=code, stopped=bool(stopping), phases=phases)
    return code


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
