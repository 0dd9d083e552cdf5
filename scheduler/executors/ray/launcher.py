"""aicc's launcher: one long-lived Ray actor that starts, watches and stops job entrypoints.

Ray's Job Submission API starts a new Python worker (a ``JobSupervisor``
actor) for every job: ``import ray`` alone is about 0.9 CPU-second, so a
2-core head starts about one job a second, 2 s after it was asked. The
launcher is one supervisor for many jobs: a detached, named actor on the head
node (where Ray runs job drivers too) that runs each entrypoint as a shell
command in a session of its own, with the job's environment and its output in
a log file. It keeps the Job API's contract: a run is named by its submission
id and starting it twice starts it once; stop is SIGTERM to the whole process
group, the grace period, then SIGKILL; runs outlive the aicc service (the
actor is detached) and are re-attached after a restart. The log of a run that
ended is kept ``KEEP_LOGS_S`` (a week) after its last line, then deleted: a
long-lived cluster runs millions of jobs.

A job whose runtime env Ray must build (working_dir, pip, conda, a container)
still goes through the Job Submission API, which builds it.

Only the standard library here: the module is pickled by value into the
cluster, which need not have aicc installed.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ACTOR_NAME = "aicc-launcher"
#: How long an ended run's record is kept (its log file stays): enough for the executor to see it end.
KEEP_ENDED_S = 3600.0
#: A log is served from its end: at most this much of it.
LOG_TAIL_BYTES = 4 << 20
#: How long the log of a run that ended is kept after it was last written, and how often to look.
KEEP_LOGS_S = 7 * 86400.0
SWEEP_INTERVAL_S = 600.0
REAP_INTERVAL_S = 0.1


_LIBC: list[Any] = []  # loaded before any fork: the child only calls into it


def _die_with_launcher() -> None:  # pragma: no cover - runs in the child before exec
    """The entrypoint's shell goes when the launcher's process goes, even on SIGKILL."""
    with contextlib.suppress(Exception):
        _LIBC[0].prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG


def _signal_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def _kill(run: _Run) -> None:
    """SIGKILL a live run's whole process group; it counts as stopped."""
    if run.proc is not None and run.ended_at is None:
        run.stop_requested = True
        _signal_group(run.proc.pid, signal.SIGKILL)


class _Run:
    """One entrypoint's process and how it ended."""

    def __init__(self, proc: subprocess.Popen[bytes] | None, log: Path, metadata: dict[str, str],
                 accelerator: str) -> None:
        self.proc = proc
        self.log = log
        self.metadata = metadata
        self.accelerator = accelerator
        self.stop_requested = False
        self.kill_at: float | None = None
        self.code: int | None = None
        self.message = ""
        self.ended_at: float | None = None

    def status(self) -> str:
        if self.ended_at is None:
            return "RUNNING"
        if self.stop_requested:
            return "STOPPED"
        return "SUCCEEDED" if self.code == 0 else "FAILED"

    def info(self) -> dict[str, Any]:
        """What the executor reads: the Job API's job record, in its field names."""
        return {"status": self.status(), "driver_exit_code": self.code, "message": self.message,
                "metadata": self.metadata, "accelerator": self.accelerator}


class Launcher:
    """The actor. Every method is quick; a thread reaps exits and enforces kill deadlines."""

    def __init__(self, log_dir: str | None = None, namespace: str = "aicc") -> None:
        # One folder per namespace: two aicc services may share a Ray cluster, each with its launcher.
        self.dir = Path(log_dir) if log_dir else _session_logs() / f"aicc-jobs-{namespace}"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.runs: dict[str, _Run] = {}
        with contextlib.suppress(OSError):
            _LIBC[:] = [ctypes.CDLL("libc.so.6", use_errno=True)]
        self.base_env = _driver_env()
        _end_orphans(self.dir)
        self._lock = threading.Lock()
        threading.Thread(target=self._reaper, name="aicc-launcher-reaper", daemon=True).start()

    def ready(self) -> str:
        return str(self.dir)

    def start(self, sid: str, entrypoint: str, env: dict[str, str], metadata: dict[str, str],
              accelerator: str = "") -> bool:
        """Run ``entrypoint`` as run ``sid``; False (and nothing started) if ``sid`` exists."""
        with self._lock:
            if sid in self.runs:
                return False
            log = self.dir / f"{sid}.log"
            run = _Run(None, log, dict(metadata), accelerator)
            self.runs[sid] = run
        # As Ray's supervisor does: the driver finds the cluster, and its tasks inherit the job's env.
        job_config = json.dumps({"runtime_env": {"env_vars": env}, "metadata": metadata})
        child_env = {**self.base_env, **env, "AICC_LOG_FILE": str(log), "RAY_JOB_CONFIG_JSON_ENV_VAR": job_config}
        try:
            with open(log, "ab") as out:
                run.proc = subprocess.Popen(entrypoint, shell=True, env=child_env, stdout=out,
                                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                            start_new_session=True,
                                            preexec_fn=_die_with_launcher if _LIBC else None)
        except OSError as exc:
            with self._lock:
                run.code, run.message, run.ended_at = 127, f"could not start: {exc}", time.time()
        return True

    def status(self, sids: list[str] | None = None) -> dict[str, dict[str, Any]]:
        """The record of each run in ``sids`` that exists; of every run when None."""
        with self._lock:
            self._prune()
            wanted = list(self.runs) if sids is None else sids
            return {sid: self.runs[sid].info() for sid in wanted if sid in self.runs}

    def stop(self, sid: str, grace_s: float) -> bool:
        """SIGTERM to the run's process group now, SIGKILL after ``grace_s``."""
        with self._lock:
            run = self.runs.get(sid)
            if run is None or run.ended_at is not None or run.stop_requested:
                return False
            run.stop_requested = True
            run.kill_at = time.monotonic() + max(0.0, grace_s)
            if run.proc is not None:
                _signal_group(run.proc.pid, signal.SIGTERM)
            return True

    def kill(self, sid: str) -> None:
        with self._lock:
            run = self.runs.get(sid)
            if run is not None:
                _kill(run)

    def logs(self, sid: str) -> str | None:
        """The run's output (its last ``LOG_TAIL_BYTES``); None if this launcher never ran it."""
        path = self.dir / f"{sid}.log"
        try:
            with open(path, "rb") as f:
                f.seek(max(0, path.stat().st_size - LOG_TAIL_BYTES))
                return f.read().decode(errors="replace")
        except FileNotFoundError:
            return None

    def shutdown(self) -> None:
        """End every run now."""
        with self._lock:
            for run in self.runs.values():
                _kill(run)

    # -- the reaper -------------------------------------------------------------------

    def _reaper(self) -> None:
        swept = -float("inf")
        while True:
            time.sleep(REAP_INTERVAL_S)
            with self._lock:
                now = time.monotonic()
                for run in self.runs.values():
                    if run.ended_at is None and run.proc is not None:
                        self._reap(run, now)
            if now - swept >= SWEEP_INTERVAL_S:
                swept = now
                self.sweep_logs()

    def sweep_logs(self) -> int:
        """Delete the logs not written for ``KEEP_LOGS_S`` of runs not running; how many."""
        with self._lock:
            live = {f"{sid}.log" for sid, run in self.runs.items() if run.ended_at is None}
        cutoff = time.time() - KEEP_LOGS_S
        deleted = 0
        for path in self.dir.glob("*.log"):
            with contextlib.suppress(OSError):  # (gone meanwhile)
                if path.name not in live and path.stat().st_mtime < cutoff:
                    path.unlink()
                    deleted += 1
        return deleted

    def _reap(self, run: _Run, now: float) -> None:
        assert run.proc is not None
        code = run.proc.poll()
        if code is None:
            if run.kill_at is not None and now >= run.kill_at:
                _signal_group(run.proc.pid, signal.SIGKILL)
            return
        _signal_group(run.proc.pid, signal.SIGKILL)  # what the entrypoint left behind in its group
        run.code = code
        if code != 0 and not run.stop_requested:
            run.message = f"exit code {code}\n{_last_lines(run.log)}"
        run.ended_at = time.time()

    def _prune(self) -> None:
        cutoff = time.time() - KEEP_ENDED_S
        for sid in [s for s, r in self.runs.items() if r.ended_at is not None and r.ended_at < cutoff]:
            del self.runs[sid]


def _end_orphans(log_dir: Path) -> None:
    """Kill what a launcher before this one (on this node, same logs folder) left running.

    Its runs' shells died with it, but not their children: every process of a run
    carries ``AICC_LOG_FILE`` in its environment, so they are found by that.
    """
    for pid in pids_mentioning(f"AICC_LOG_FILE={log_dir}/", ("environ",)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


def pids_mentioning(text: str, files: tuple[str, ...] = ("cmdline", "environ")) -> list[int]:
    """Other processes whose ``/proc/<pid>/<file>`` (command line, environment) contains ``text``;
    none where there is no /proc."""
    needle = text.encode()
    out: list[int] = []
    proc = Path("/proc")
    for entry in proc.iterdir() if proc.is_dir() else ():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            with contextlib.suppress(OSError):
                if any(needle in (entry / f).read_bytes() for f in files):
                    out.append(int(entry.name))
    return out


def _last_lines(path: Path, lines: int = 20) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(max(0, path.stat().st_size - 8192))
            return "\n".join(f.read().decode(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


#: Variables of the service's environment (or of the worker the launcher runs in) that jobs get,
#: by name or prefix: what a process needs to run, locale, Ray's own settings; nothing else.
JOB_ENV_NAMES = frozenset({"PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "TZ", "TMPDIR", "TERM",
                           "PYTHONPATH", "VIRTUAL_ENV", "LD_LIBRARY_PATH"})
JOB_ENV_PREFIXES = ("LC_", "RAY_")
#: Which devices a process may use, as Ray set it for the worker: passed on as it is.
DEVICE_ENV_NAMES = frozenset({"CUDA_VISIBLE_DEVICES", "ASCEND_RT_VISIBLE_DEVICES", "ROCR_VISIBLE_DEVICES",
                              "HIP_VISIBLE_DEVICES", "NEURON_RT_VISIBLE_CORES", "TPU_VISIBLE_CHIPS"})
#: Ray's variables that make a process the worker it is (or carry another cluster's token): never passed.
NOT_PASSED = frozenset({"RAY_ADDRESS", "RAY_AUTH_TOKEN", "RAY_RAYLET_PID", "RAY_NODE_ID", "RAY_CLIENT_MODE"})


def passed_to_jobs(name: str) -> bool:
    """Whether a job gets the variable ``name`` of the environment it was started from."""
    if name in NOT_PASSED or name.startswith("RAY_JOB_"):
        return False
    return name in JOB_ENV_NAMES or name in DEVICE_ENV_NAMES or name.startswith(JOB_ENV_PREFIXES)


def _driver_env() -> dict[str, str]:
    """A job's base environment: this worker's, filtered by ``passed_to_jobs`` (never the rest
    of it: whatever the service or the node held), plus the cluster's address and token."""
    env = {k: v for k, v in os.environ.items() if passed_to_jobs(k)}
    if os.environ.get("RAY_AUTH_TOKEN"):  # a shared tenant's job is in this cluster: it joins it
        env["RAY_AUTH_TOKEN"] = os.environ["RAY_AUTH_TOKEN"]
    env["PYTHONUNBUFFERED"] = "1"
    ray = sys.modules.get("ray")  # in a Ray worker; never started here
    if ray is not None and ray.is_initialized():
        env["RAY_ADDRESS"] = ray.get_runtime_context().gcs_address
    return env


def _session_logs() -> Path:
    """The Ray session's logs folder on this node; a temp folder outside Ray."""
    node = getattr(getattr(sys.modules.get("ray"), "_private", None), "worker", None)
    node = getattr(node, "_global_node", None)
    if node is not None:
        return Path(node.get_logs_dir_path())
    return Path(tempfile.gettempdir()) / "aicc-launcher"


def launcher_handle(ray: Any, namespace: str) -> Any:
    """The cluster's launcher: found by name, or created on the head node (detached, no CPU)."""
    from ray import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # type: ignore[no-untyped-call]
    actor = ray.remote(Launcher).options(
        name=ACTOR_NAME, namespace=namespace, lifetime="detached", get_if_exists=True, num_cpus=0,
        resources={"node:__internal_head__": 0.001}, max_concurrency=1, max_restarts=0)
    handle = actor.remote(None, namespace)
    ray.get(handle.ready.remote(), timeout=180)
    return handle
