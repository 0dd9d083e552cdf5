"""The examples on the embedded center: three tenants' jobs scheduled by aicc and run by Ray.

``python -m scheduler.cli.ray_examples`` starts a local Ray head declaring
the 610P center, submits examples/jobs/*.yaml for three tenants, steps the
engine until they end, prints where each ran and the tail of its output, and
stops the head. ``run_examples`` is what ``aicc up`` can call.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml

from scheduler.centerfile import load_center
from scheduler.domain import JobKind, JobRecord, JobSpec, Resources
from scheduler.domain.units import parse_memory
from scheduler.engine import Engine
from scheduler.engine.clock import SystemClock
from scheduler.engine.estimates import estimator_for
from scheduler.executors.ray.config import RayPorts, RaySettings
from scheduler.executors.ray.executor import make_ray_executor
from scheduler.store.memory import MemoryStore

#: Which tenant submits which example.
DEFAULT_SUBMISSIONS: Mapping[str, str] = {
    "train-mlp.yaml": "large-models",
    "finetune.yaml": "finance",
    "batch-inference.yaml": "smart-city",
}


def project_root() -> Path:
    return Path(__file__).resolve().parents[3]


def spec_from_mapping(tenant: str, d: Mapping[str, Any]) -> JobSpec:
    """A job spec in the API's JSON shape (issue 2) for ``tenant``."""
    r = d.get("resources") or {}
    memory = r.get("memory", 0)
    return JobSpec(
        tenant=tenant, name=str(d["name"]), kind=JobKind(d.get("kind", "training")),
        workers=int(d.get("workers", 1)),
        resources=Resources(int(r.get("accelerators", 0)), tuple(r.get("accelerator_types") or ()),
                            int(r.get("cpus", 0)), parse_memory(memory) if isinstance(memory, str) else int(memory)),
        priority=str(d.get("priority", "normal")), preemptible=bool(d.get("preemptible", True)),
        max_runtime_s=d.get("max_runtime_s"), estimated_runtime_s=d.get("estimated_runtime_s"),
        entrypoint=str(d.get("entrypoint", "")), runtime_env=dict(d.get("runtime_env") or {}),
    )


def load_spec(path: Path, tenant: str) -> JobSpec:
    return spec_from_mapping(tenant, yaml.safe_load(path.read_text()))


def run_examples(*, center_file: Path | None = None, spec_dir: Path | None = None,
                 submissions: Mapping[str, str] = DEFAULT_SUBMISSIONS, ports: RayPorts | None = None,
                 timeout_s: float = 600.0, out: Callable[[str], None] = print,
                 log_lines: int = 4) -> dict[str, JobRecord]:
    """Run the examples to their end on an embedded head; returns the final job records."""
    root = project_root()
    spec_dir = spec_dir or root / "examples" / "jobs"
    cfg = load_center(center_file)
    clock = SystemClock()
    out(f"starting an embedded Ray head for center {cfg.center.name} "
        f"({len(cfg.center.nodes)} nodes, declared as logical resources) ...")
    began = time.monotonic()
    executor = make_ray_executor(clock, center=cfg.center, base_dir=root,
                                 settings=RaySettings(ports=ports or RayPorts()))
    try:
        out(f"Ray is up at {executor.address} (dashboard {executor.dashboard_url}) "
            f"after {time.monotonic() - began:.1f} s")
        store = MemoryStore(cfg.tenants)
        engine = Engine(cfg.center, store, executor, clock, cfg.policy, estimator=estimator_for(cfg.policy))
        ids: list[str] = []
        for file, tenant in submissions.items():
            job = engine.submit(load_spec(spec_dir / file, tenant))
            ids.append(job.id)
            out(f"{tenant:>13} submitted {job.id} {job.spec.name} ({job.spec.kind.value}, "
                f"{job.spec.workers} x {job.spec.resources.accelerators} devices)")
        seen: dict[str, str] = {}
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            engine.step()
            engine.sync()
            for job_id in ids:
                job = store.jobs[job_id]
                if seen.get(job_id) != job.state.value:
                    seen[job_id] = job.state.value
                    where = ""
                    if job.placement is not None and job.state.value == "admitted":
                        where = " on " + ", ".join(f"{w.node}{list(w.devices)}" for w in job.placement.workers)
                    detail = f" ({job.detail})" if job.detail else ""
                    out(f"{job.spec.tenant:>13} {job_id} {job.state.value}{where}{detail}")
            if all(store.jobs[i].state.terminal for i in ids):
                break
            time.sleep(0.2)
        for job_id in ids:
            text = executor.logs(job_id).strip().splitlines()
            out(f"--- {job_id} {store.jobs[job_id].spec.name}: last lines of its output")
            for line in text[-log_lines:]:
                out(f"    {line}")
        return {i: store.jobs[i] for i in ids}
    finally:
        executor.close()
        out("Ray head stopped")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--center", type=Path, default=None, help="center file (default: the shipped 610P center)")
    ap.add_argument("--port-base", type=int, default=RayPorts().base, help="first of the head's 100 ports")
    args = ap.parse_args()
    jobs = run_examples(center_file=args.center, ports=RayPorts(args.port_base))
    failed = [j for j in jobs.values() if j.state.value != "succeeded"]
    raise SystemExit(1 if failed else 0)


if __name__ == "__main__":
    main()
