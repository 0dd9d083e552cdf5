"""What a job becomes in Ray: its submission id, bundles, environment and runtime env.

Pure functions over the job record, so the mapping is tested without Ray.
The submission id (and the placement group's name) is ``aicc-<job id>-<attempt>``,
where the attempt is the job's preemption count: a retry of the same start
finds the same names and starts nothing twice; a requeued job gets new ones.
"""

from __future__ import annotations

import math
import shlex
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from scheduler.domain import JobRecord, JobSpec
from scheduler.domain import placement_codec as placements
from scheduler.executors.ray.topology import Topology
from scheduler.executors.sleep import spec_runtime

PREFIX = "aicc-"
#: runtime_env keys handed to Ray as they are; the others (sleep_s, grace_period_s) are aicc's.
RAY_RUNTIME_ENV_KEYS = frozenset({"working_dir", "py_modules", "pip", "uv", "conda", "env_vars", "excludes",
                                  "config", "py_executable", "java_jars", "image_uri", "container"})


def attempt_of(job: JobRecord) -> int:
    return job.preemptions


def submission_id(job_id: str, attempt: int) -> str:
    return f"{PREFIX}{job_id}-{attempt}"


def parse_submission_id(sid: str) -> tuple[str, int] | None:
    if not sid.startswith(PREFIX):
        return None
    job_id, _, attempt = sid[len(PREFIX):].rpartition("-")
    if not job_id or not attempt.isdigit():
        return None
    return job_id, int(attempt)


def bundles(job: JobRecord, topology: Topology) -> tuple[list[dict[str, float]], list[dict[str, str]]]:
    """One bundle per worker, on the node the scheduler chose, with exactly its devices."""
    if job.placement is None:
        raise ValueError(f"job {job.id} has no placement")
    cpus = job.spec.resources.cpus if topology.bundle_cpus else 0
    out: list[dict[str, float]] = []
    selectors: list[dict[str, str]] = []
    for w in job.placement.workers:
        res, sel = topology.binding(w.node).bundle(len(w.devices), cpus)
        out.append(res)
        selectors.append(sel)
    return out, selectors


def placement_json(job: JobRecord) -> str:
    assert job.placement is not None
    return placements.to_bundles_json(job.placement)


def job_env(job: JobRecord, *, attempt: int, pg_id: str, pg_name: str, namespace: str,
            ray_resource: str, grace_s: float) -> dict[str, str]:
    """What the job's processes see: who they are, and where each worker's devices are."""
    assert job.placement is not None
    per_node = node_devices(job)
    return {
        "AICC_JOB_ID": job.id,
        "AICC_JOB_NAME": job.spec.name,
        "AICC_JOB_KIND": job.spec.kind.value,
        "AICC_TENANT": job.spec.tenant,
        "AICC_ATTEMPT": str(attempt),
        "AICC_WORKERS": str(len(job.placement.workers)),
        "AICC_ACCELERATOR": job.placement.accelerator,
        "AICC_RAY_RESOURCE": ray_resource,
        "AICC_DEVICES_PER_WORKER": str(job.spec.resources.accelerators),
        "AICC_PLACEMENT": placement_json(job),
        "AICC_NODE_DEVICES": ";".join(f"{n}:{','.join(map(str, d))}" for n, d in per_node.items()),
        "AICC_PLACEMENT_GROUP_ID": pg_id,
        "AICC_PLACEMENT_GROUP": pg_name,
        "AICC_RAY_NAMESPACE": namespace,
        # Ray's job supervisor waits this long after SIGTERM before SIGKILL.
        "RAY_JOB_STOP_WAIT_TIME_S": str(max(1, math.ceil(grace_s))),
    }


def node_devices(job: JobRecord) -> dict[str, list[int]]:
    """Node -> the device indexes aicc placed the job on there, in placement order."""
    assert job.placement is not None
    per_node: dict[str, list[int]] = {}
    for w in job.placement.workers:
        per_node.setdefault(w.node, []).extend(w.devices)
    return per_node


def _confined(path: str, base_dir: Path) -> str:
    """A remote URI as it is; a local path resolved below ``base_dir``, or ValueError: Ray's
    client would package it from this host and hand it to the tenant's job."""
    scheme, sep, _ = path.partition("://")
    if sep and scheme.lower() != "file":
        return path
    base = base_dir.resolve()
    full = (base / path).resolve() if not sep and not path.startswith("~") else None
    if full is None or not full.is_relative_to(base):
        raise ValueError(f"runtime_env path {path!r} is outside the jobs directory {base}")
    return str(full)


def ray_runtime_env(spec: JobSpec, base_dir: Path, extra_env: Mapping[str, str]) -> dict[str, Any]:
    """The spec's runtime env for Ray; a relative working_dir is taken from ``base_dir``."""
    env: dict[str, Any] = {k: v for k, v in (spec.runtime_env or {}).items() if k in RAY_RUNTIME_ENV_KEYS}
    wd = env.get("working_dir")
    if isinstance(wd, str):
        env["working_dir"] = _confined(wd, base_dir)
    mods = env.get("py_modules")
    if isinstance(mods, list):
        env["py_modules"] = [_confined(m, base_dir) if isinstance(m, str) else m for m in mods]
    env_vars = {str(k): str(v) for k, v in (env.get("env_vars") or {}).items()}
    env_vars.update(extra_env)
    env["env_vars"] = env_vars
    return env


def needs_built_env(spec: JobSpec) -> bool:
    """Whether Ray must build the job's environment (package a working_dir, install pip
    packages, pull an image...): only Ray's Job Submission API does; env vars alone need nothing."""
    return any(k in RAY_RUNTIME_ENV_KEYS and k != "env_vars" for k in (spec.runtime_env or {}))


#: What an isolated job's runtime env may hold: its folder, what to leave out of it, its env vars.
ISOLATED_RUNTIME_ENV_KEYS = frozenset({"working_dir", "excludes", "env_vars"})
#: Names in the job's environment that point into the center's Ray cluster, which an isolated
#: job cannot reach (its gang is the resources of its own instance instead).
SHARED_CLUSTER_ENV = ("AICC_PLACEMENT_GROUP_ID", "AICC_PLACEMENT_GROUP", "AICC_RAY_NAMESPACE")


def isolated_working_dir(runtime_env: Mapping[str, Any]) -> Path | None:
    """The local folder an isolated job runs in (copied into its sandbox), from the runtime env
    ``ray_runtime_env`` resolved; ValueError for what an isolated job cannot have: it has no
    network (so no remote working_dir, pip or image) and no Ray of the center's to build one."""
    unsupported = sorted(k for k in runtime_env if k not in ISOLATED_RUNTIME_ENV_KEYS)
    if unsupported:
        raise ValueError(f"an isolated tenant's job takes working_dir, excludes and env_vars in its "
                         f"runtime_env, not {', '.join(unsupported)} (not yet)")
    wd = runtime_env.get("working_dir")
    if wd is None:
        return None
    if not isinstance(wd, str) or "://" in wd:
        raise ValueError(f"an isolated tenant's job has no network: its working_dir must be a folder on "
                         f"aicc's host, below the jobs directory (got {wd!r})")
    return Path(wd)


def entrypoint_of(job: JobRecord) -> str:
    """The spec's entrypoint; a job without one sleeps for its runtime (demo jobs)."""
    if job.spec.entrypoint.strip():
        return job.spec.entrypoint
    seconds = spec_runtime(job)
    return f"{shlex.quote(sys.executable)} -c 'import time; time.sleep({seconds:.3f})'"


def metadata(job: JobRecord, attempt: int) -> dict[str, str]:
    return {"aicc_job_id": job.id, "aicc_attempt": str(attempt), "aicc_tenant": job.spec.tenant,
            "aicc_placement": placement_json(job) if job.placement else "[]"}


def exit_reason(info: Any) -> str:
    """One line a tenant can read: the exit code and the last line Ray kept."""
    parts = []
    code = getattr(info, "driver_exit_code", None)
    if code is not None:
        parts.append(f"exit code {code}")
    error_type = getattr(info, "error_type", None)
    if error_type:
        parts.append(str(getattr(error_type, "value", error_type)).lower())
    message = (getattr(info, "message", None) or "").strip()
    if message:
        lines = [ln.strip() for ln in message.splitlines() if ln.strip()]
        last = lines[-1] if lines else ""
        if last and last not in parts:
            parts.append(last[:300])
    return ": ".join(parts) or "failed"
