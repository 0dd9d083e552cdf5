"""Isolated runs: each job of an isolated tenant in a sandbox and a Ray instance of its own.

The executor still holds the job's devices on the center's Ray cluster (the placement
group that pins the gang to the nodes aicc chose); the job's code runs elsewhere: in a
bubblewrap sandbox (``sandbox.py``) with its own PID and network namespaces, as its
tenant's uid when aicc is root, running ``isolated_job.py``, which starts the job's own Ray
head and, once its GCS answers, the entrypoint (RUNNING from then). The sandbox sees a read-only host with the service's data
directory, the homes, ``/tmp`` and every other job's folder hidden; it writes only its own
folder (``<root>/<submission id>``, mode 0700, owned by the tenant's uid).

A run is a child of the service (the sandbox dies with it): after a restart of aicc its
isolated runs are gone, and the engine requeues their jobs as it does for a lost node.
"""

from __future__ import annotations

import contextlib
import fnmatch
import importlib.util
import json
import logging
import os
import shutil
import signal
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scheduler.executors.ray import isolated_job
from scheduler.executors.ray.launcher import (
    JOB_ENV_NAMES,
    KEEP_LOGS_S,
    LOG_TAIL_BYTES,
    SWEEP_INTERVAL_S,
)
from scheduler.executors.ray.sandbox import Sandbox, is_root, own, tenant_uid

log = logging.getLogger(__name__)

#: Ray's object store of an isolated instance (bytes); small: the job's data goes through it.
OBJECT_STORE_BYTES = 200 * 1024 * 1024
#: In a run's folder: the file its job touches after each checkpoint (it has no network to call
#: the API with).
CHECKPOINT_FILE = "checkpoint"
#: The most a job's working_dir may hold (Ray's own limit on a packaged working_dir).
MAX_WORKING_DIR_BYTES = 500 * 2**20
#: What a device kind's visibility variable is called.
VISIBLE_DEVICES = {"GPU": "CUDA_VISIBLE_DEVICES", "NPU": "ASCEND_RT_VISIBLE_DEVICES"}


@dataclass
class IsolatedRun:
    sid: str
    tenant: str
    dir: Path
    proc: subprocess.Popen[bytes] | None
    accelerator: str
    metadata: dict[str, str]
    stop_requested: bool = False
    kill_at: float | None = None
    started_at: float = 0.0


def base_env(home: Path, tenant: str) -> dict[str, str]:
    """What every isolated process gets of the service's environment: what a process needs to
    run (by name), nothing else; its home is its own folder."""
    env = {k: v for k, v in os.environ.items() if k in JOB_ENV_NAMES or k.startswith("LC_")}
    for name in ("TMPDIR", "PYTHONPATH"):  # the service's; the sandbox has its own /tmp
        env.pop(name, None)
    env.update(HOME=str(home), USER=f"aicc-{tenant}", LOGNAME=f"aicc-{tenant}", PYTHONUNBUFFERED="1",
               RAY_USAGE_STATS_ENABLED="0", RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0",
               PATH=os.pathsep.join([str(Path(sys.executable).parent), "/usr/local/bin", "/usr/bin", "/bin"]))
    return env


def ray_without_bytecode() -> Path | None:
    """Where Ray is installed, when its modules have no compiled bytecode there (``uv pip
    install`` without ``--compile-bytecode``, or ``PYTHONDONTWRITEBYTECODE``); else None. The
    sandbox is read-only, so every Python process of every isolated Ray (five a start) would
    compile them again: seconds of CPU each. Looked at on a module that only Ray's own
    processes import (the service never does)."""
    spec = importlib.util.find_spec("ray")
    if spec is None or spec.origin is None:
        return None
    agent = Path(spec.origin).parent / "dashboard" / "agent.py"
    if not agent.exists() or Path(importlib.util.cache_from_source(str(agent))).exists():
        return None
    return agent.parents[2]


def device_env(ray_resource: str, devices: Sequence[int]) -> dict[str, str]:
    var = VISIBLE_DEVICES.get(ray_resource)
    return {var: ",".join(map(str, devices))} if var else {}


def copy_working_dir(source: Path, target: Path, excludes: Sequence[str], uid: int | None) -> Path:
    """The job's folder, less what ``excludes`` names (names or globs, as Ray's), copied into its
    run folder (its sandbox sees nothing else of the host's writable places) and owned by its
    tenant's uid; symbolic links stay links (never followed here, as root, into what the job
    may not read). ValueError beyond ``MAX_WORKING_DIR_BYTES``."""
    patterns = [e for e in excludes if isinstance(e, str)]
    size = 0
    for folder, dirs, files in os.walk(source):  # symbolic links to folders are not entered
        dirs[:] = [d for d in dirs if not _excluded(d, patterns)]
        for name in files:
            st = os.lstat(os.path.join(folder, name))
            size += st.st_size if stat.S_ISREG(st.st_mode) and not _excluded(name, patterns) else 0
    if size > MAX_WORKING_DIR_BYTES:
        raise ValueError(f"working_dir {source} holds {size >> 20} MiB, more than the "
                         f"{MAX_WORKING_DIR_BYTES >> 20} MiB a job's folder may")
    shutil.copytree(source, target, symlinks=True, ignore=shutil.ignore_patterns(*patterns))
    if uid is not None:
        for p in (target, *target.rglob("*")):
            os.lchown(p, uid, uid)
    return target


def _excluded(name: str, patterns: Sequence[str]) -> bool:
    return any(fnmatch.fnmatch(name, p) for p in patterns)


class IsolatedRuns:
    """The isolated runs of one executor: start, status, stop, logs. Thread-safe."""

    def __init__(self, root: Path, *, hidden: Sequence[Path] = (), num_cpus: int = 1) -> None:
        self.root = root
        self.hidden = tuple(hidden)
        self.num_cpus = num_cpus
        self.root.mkdir(parents=True, exist_ok=True)
        self.root.chmod(0o711)  # each tenant may enter its own folder, never list the others
        self._runs: dict[str, IsolatedRun] = {}
        self._uids: dict[int, str] = {}
        self._lock = threading.Lock()
        self._swept = -float("inf")
        uncompiled = ray_without_bytecode()
        if uncompiled is not None:
            log.warning("Ray's modules are not compiled to bytecode: each isolated job's Ray takes seconds "
                        "longer to start (python -m compileall -q %s, or uv pip install --compile-bytecode)",
                        uncompiled)

    def sweep(self) -> int:
        """Delete the folders of runs not running whose files were not written for ``KEEP_LOGS_S``
        (as the launcher does with its logs); how many."""
        with self._lock:
            live = {sid for sid, r in self._runs.items() if r.proc is not None and r.proc.poll() is None}
        cutoff = time.time() - KEEP_LOGS_S
        deleted = 0
        for folder in self.root.iterdir():
            with contextlib.suppress(OSError):
                newest = max((p.stat().st_mtime for p in folder.iterdir()), default=folder.stat().st_mtime)
                if folder.name not in live and newest < cutoff:
                    shutil.rmtree(folder)
                    deleted += 1
        return deleted

    def uid_of(self, tenant: str) -> int | None:
        """The tenant's uid when aicc is root (None otherwise); ValueError if another tenant has it."""
        if not is_root():
            return None
        uid = tenant_uid(tenant)
        with self._lock:
            owner = self._uids.setdefault(uid, tenant)
        if owner != tenant:
            raise ValueError(f"tenants {owner} and {tenant} hash to one uid ({uid}); rename one or set "
                             f"AICC_TENANT_UID_BASE")
        return uid

    def start(self, sid: str, tenant: str, entrypoint: str, env: Mapping[str, str], *,
              accelerator: str, ray_resource: str, nodes: Mapping[str, Sequence[int]],
              metadata: Mapping[str, str], working_dir: Path | None = None,
              excludes: Sequence[str] = ()) -> None:
        """Start run ``sid`` (nothing if it exists); its devices are ``nodes`` (node -> indexes);
        ``working_dir`` (less ``excludes``) is copied into its folder and is where it runs."""
        with self._lock:
            if sid in self._runs:
                return
        if time.monotonic() - self._swept > SWEEP_INTERVAL_S:
            self._swept = time.monotonic()
            self.sweep()
        uid = self.uid_of(tenant)
        job_dir = self.root / sid
        own(job_dir, uid)
        home = job_dir / "home"
        devices = [d for devs in nodes.values() for d in devs]
        resources = {f"aicc_node:{n}": float(len(d)) for n, d in nodes.items()}
        num_gpus = len(devices) if ray_resource == "GPU" else 0
        if ray_resource not in ("GPU", "CPU", ""):
            resources[ray_resource] = float(len(devices))
        run = {"entrypoint": entrypoint, "num_cpus": self.num_cpus, "num_gpus": num_gpus,
               "resources": resources, "object_store_bytes": OBJECT_STORE_BYTES}
        if working_dir is not None:
            run["cwd"] = str(copy_working_dir(working_dir, job_dir / "work", excludes, uid))
        spec = job_dir / "run.json"
        spec.write_text(json.dumps(run))
        # a folder of this sid from before a restart of aicc: its status is not this run's
        (job_dir / "status.json").unlink(missing_ok=True)
        # One node: its devices are the instance's (CUDA_VISIBLE_DEVICES=1,3). A gang over several
        # nodes of one host is the embedded center's virtual nodes: their indexes name no real
        # device (and Ray refuses more GPUs than visible ones), so each worker holds its node's
        # share of the instance's devices (``aicc_node:<node>``), unnamed.
        visible = device_env(ray_resource, next(iter(nodes.values()))) if len(nodes) == 1 else {}
        # No network in the sandbox: a checkpoint is reported by touching this file (``checkpoints``).
        child_env = {**base_env(home, tenant), **visible, **env,
                     "AICC_CHECKPOINT_FILE": str(job_dir / CHECKPOINT_FILE)}
        sandbox = Sandbox(uid=uid, writable=(job_dir,), hidden=(*self.hidden, self.root), new_net=True)
        # -I -S: the runner needs the standard library only; Ray's CLI is found by path
        cmd = sandbox.wrap([sys.executable, "-I", "-S", str(Path(isolated_job.__file__).resolve()), str(job_dir)])
        record = IsolatedRun(sid, tenant, job_dir, None, accelerator, dict(metadata), started_at=time.time())
        with self._lock:
            self._runs[sid] = record
        if uid is not None:
            for p in (spec,):
                os.chown(p, uid, uid)
        with open(job_dir / "sandbox.log", "ab") as out:
            record.proc = subprocess.Popen(cmd, env=child_env, stdout=out, stderr=subprocess.STDOUT,
                                           stdin=subprocess.DEVNULL, start_new_session=True)

    def _status(self, run: IsolatedRun) -> dict[str, Any]:
        try:
            st = json.loads((run.dir / "status.json").read_text())
        except (OSError, ValueError):
            st = {"state": "starting"}
        code = run.proc.poll() if run.proc is not None else 1
        if code is not None and run.kill_at is not None:
            run.kill_at = None
        if run.proc is not None and code is None and run.kill_at is not None and time.monotonic() >= run.kill_at:
            self._signal(run, signal.SIGKILL)
        state = st.get("state")
        if code is None:
            status = "RUNNING" if state in ("running", "exited") else "PENDING"
            return {"status": status, "driver_exit_code": None, "message": ""}
        if run.stop_requested:
            return {"status": "STOPPED", "driver_exit_code": st.get("code"), "message": ""}
        if state == "exited" and st.get("code") == 0:
            return {"status": "SUCCEEDED", "driver_exit_code": 0, "message": ""}
        message = st.get("message") or (f"exit code {st.get('code')}" if state == "exited" else
                                        f"its sandbox ended ({code}): {_tail(run.dir / 'sandbox.log')}")
        return {"status": "FAILED", "driver_exit_code": st.get("code", code), "message": message}

    def infos(self, sids: Sequence[str]) -> dict[str, dict[str, Any]]:
        with self._lock:
            runs = [self._runs[s] for s in sids if s in self._runs]
        return {r.sid: {**self._status(r), "metadata": r.metadata, "accelerator": r.accelerator} for r in runs}

    def checkpoints(self) -> dict[str, float]:
        """When each live run last reported a checkpoint: the time its job last touched
        ``$AICC_CHECKPOINT_FILE`` (the file itself, never what a link in its place points to)."""
        with self._lock:
            runs = [r for r in self._runs.values() if r.proc is not None and r.proc.poll() is None]
        out = {}
        for r in runs:
            with contextlib.suppress(OSError):
                out[r.sid] = os.lstat(r.dir / CHECKPOINT_FILE).st_mtime
        return out

    def stop(self, sid: str, grace_s: float) -> None:
        """SIGTERM to the entrypoint now (through the runner), the whole sandbox SIGKILLed after ``grace_s``."""
        with self._lock:
            run = self._runs.get(sid)
        if run is None or run.proc is None or run.proc.poll() is not None:
            return
        run.stop_requested = True
        if grace_s <= 0:
            self._signal(run, signal.SIGKILL)
            return
        run.kill_at = time.monotonic() + grace_s
        # SIGTERM to the runner alone (it passes it on to the entrypoint): bwrap would die of it,
        # and with it, at once, everything in its sandbox.
        for pid in runner_pids(run.dir):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGTERM)

    def kill(self, sid: str) -> None:
        self.stop(sid, 0.0)

    @staticmethod
    def _signal(run: IsolatedRun, sig: int) -> None:
        assert run.proc is not None
        # The sandbox's process group: bwrap, and inside it the runner (which passes SIGTERM on to
        # the entrypoint's group). SIGKILL to bwrap ends its PID namespace, so every process in it.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(run.proc.pid, sig)

    def logs(self, sid: str) -> str | None:
        with self._lock:
            run = self._runs.get(sid)
        if run is None:
            return None
        path = run.dir / "job.log"
        try:
            with open(path, "rb") as f:
                f.seek(max(0, path.stat().st_size - LOG_TAIL_BYTES))
                return f.read().decode(errors="replace")
        except FileNotFoundError:
            return ""

    def close(self) -> None:
        with self._lock:
            runs = list(self._runs.values())
        for run in runs:
            if run.proc is not None and run.proc.poll() is None:
                self._signal(run, signal.SIGKILL)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    run.proc.wait(5)


def runner_pids(job_dir: Path) -> list[int]:
    """Host pids of the runner of ``job_dir`` (not the bwrap processes whose command line names it too)."""
    runner = str(Path(isolated_job.__file__).resolve()).encode()
    out = []
    proc = Path("/proc")
    for entry in proc.iterdir() if proc.is_dir() else ():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                args = (entry / "cmdline").read_bytes().split(b"\0")
                if runner in args and str(job_dir).encode() in args and not args[0].endswith(b"bwrap"):
                    out.append(int(entry.name))
    return out


def _tail(path: Path, lines: int = 3) -> str:
    try:
        return " | ".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
