"""``aicc demo``: the decision core on the shipped center, in simulated time.

Loads the center, shows it, submits a burst of jobs from the six tenants,
then steps the engine (sleep executor, manual clock): what started where, who
borrowed, what was preempted to give a guarantee back, and why the rest wait.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Annotated

import typer

from scheduler.centerfile import CenterConfig, CenterFileError, load_center
from scheduler.cli.output import fail, table
from scheduler.core import Decision
from scheduler.domain import JobKind, JobSpec, JobState, Resources, format_compute
from scheduler.engine import Engine, ManualClock
from scheduler.engine.estimates import estimator_for
from scheduler.executors.sleep import SleepExecutor
from scheduler.store.memory import MemoryStore

CenterOption = Annotated[Path | None, typer.Option("--center", help="Center file (YAML); default: the shipped 610P center.")]


def register(app: typer.Typer) -> None:
    app.command("demo", help="Schedule a burst of demo jobs on the center in simulated time.\n\n"
                "Example: aicc demo --jobs 60 --seed 7")(demo)


def center_summary(cfg: CenterConfig) -> str:
    c = cfg.center
    rows = []
    for pool in c.pools:
        accel = c.accelerators[pool.accelerator]
        nodes = [c.node(n) for n in pool.nodes]
        devices = sum(n.devices for n in nodes)
        racks = len({n.rack for n in nodes})
        rows.append([pool.name, accel.name, accel.vendor_resource, len(nodes), racks, devices,
                     format_compute(devices * accel.gflops)])
    rows.append(["total", "", "", len(c.nodes), len(c.racks), sum(c.devices_by_type().values()),
                 format_compute(c.capacity_gflops())])
    return table(["POOL", "ACCELERATOR", "RESOURCE", "NODES", "RACKS", "DEVICES", "FP16 DENSE"], rows)


def tenant_summary(cfg: CenterConfig, used: dict[str, int] | None = None) -> str:
    rows = []
    for name in sorted(cfg.tenants):
        t = cfg.tenants[name]
        q = t.quota
        row = [name, t.weight, format_compute(q.guaranteed), format_compute(q.limit)]
        if used is not None:
            u = used.get(name, 0)
            row += [format_compute(u), format_compute(max(0, u - q.guaranteed))]
        rows.append(row)
    headers = ["TENANT", "WEIGHT", "GUARANTEED", "LIMIT"] + (["IN USE", "BORROWED"] if used is not None else [])
    return table(headers, rows)


def demo_jobs(tenants: list[str], count: int, seed: int) -> list[JobSpec]:
    rnd = random.Random(seed)
    shapes = [(1, 1), (1, 2), (1, 4), (1, 8), (2, 8), (4, 8), (8, 8), (16, 8)]
    kinds = list(JobKind)
    out = []
    for i in range(count):
        tenant = tenants[i % len(tenants)] if i < len(tenants) else rnd.choice(tenants)
        workers, per = rnd.choice(shapes)
        if tenant == "large-models" and rnd.random() < 0.5:
            workers, per = rnd.choice([(16, 8), (32, 8)])
        kind = rnd.choice(kinds)
        out.append(JobSpec(
            tenant, f"{kind.value}-{i}", kind, workers,
            Resources(per, rnd.choice([(), ("a800",), ("ascend910b",)]), 8 * per, (64 * per) << 30),
            priority=rnd.choice(["low", "normal", "normal", "high"]),
            estimated_runtime_s=rnd.choice([1800, 3600, 7200, 14400]),
        ))
    return out


def decision_report(engine: Engine, decision: Decision) -> str:
    lines = []
    if decision.admits:
        rows = []
        for a in decision.admits:
            job = engine.jobs[a.job_id]
            rows.append([a.job_id, job.spec.tenant, job.spec.name, job.spec.priority,
                         f"{job.spec.workers}x{job.spec.resources.accelerators} {a.placement.accelerator}",
                         ",".join(a.placement.nodes[:3]) + ("..." if len(a.placement.nodes) > 3 else ""),
                         "yes" if a.borrowing else ""])
        lines.append(table(["ID", "TENANT", "NAME", "PRIORITY", "DEVICES", "NODES", "BORROWING"], rows))
    for p in decision.preempts:
        lines.append(f"preempt {p.job_id} ({engine.jobs[p.job_id].spec.tenant}): {p.reason.value} for {p.for_job}")
    waiting = decision.pending
    if waiting:
        rows = [[p.job_id, engine.jobs[p.job_id].spec.tenant, engine.jobs[p.job_id].spec.name,
                 str(p.position), p.reason.value, p.detail] for p in waiting[:25]]
        lines.append(table(["ID", "TENANT", "NAME", "POS", "REASON", "DETAIL"], rows))
        if len(waiting) > 25:
            lines.append(f"... and {len(waiting) - 25} more waiting")
    return "\n".join(lines)


def demo(
    center: CenterOption = None,
    jobs: Annotated[int, typer.Option(min=1, max=100_000, help="Jobs in the burst.")] = 60,
    seed: Annotated[int, typer.Option(help="Seed of the burst.")] = 7,
) -> None:
    try:
        cfg = load_center(center)
    except CenterFileError as exc:
        fail(str(exc))
    typer.echo(f"Center {cfg.center.name}: {format_compute(cfg.center.capacity_gflops())} fp16 dense\n")
    typer.echo(center_summary(cfg) + "\n")
    typer.echo(tenant_summary(cfg) + "\n")
    clock = ManualClock(0.0)
    store = MemoryStore(cfg.tenants)
    executor = SleepExecutor(clock)
    policy = cfg.policy.with_knobs({"min_runtime_s": 600})
    engine = Engine(cfg.center, store, executor, clock, policy, estimator=estimator_for(policy))
    for spec in demo_jobs(sorted(cfg.tenants), jobs, seed):
        engine.submit(spec)
    typer.echo(f"t=0s: {jobs} jobs submitted; one scheduling step:")
    typer.echo(decision_report(engine, engine.step()) + "\n")
    # An hour later, smart-city (within its guarantee) wants a large gang back.
    clock.advance_to(3600.0)
    engine.sync()
    big = JobSpec("smart-city", "reclaim-demo", JobKind.TRAINING, 24, Resources(8, (), 64, 512 << 30),
                  priority="high", estimated_runtime_s=3600)
    engine.submit(big)
    typer.echo("t=3600s: finished jobs released; smart-city submits a 24x8 high priority gang:")
    typer.echo(decision_report(engine, engine.step()) + "\n")
    clock.advance_to(3601.0)
    engine.sync()
    typer.echo("t=3601s: preempted jobs have stopped and are requeued; next step:")
    typer.echo(decision_report(engine, engine.step()) + "\n")
    used = engine.tenant_usage_gflops()
    typer.echo(tenant_summary(cfg, dict(used)))
    states: dict[str, int] = {}
    for job in store.jobs.values():
        states[job.state.value] = states.get(job.state.value, 0) + 1
    typer.echo("\njobs by state: " + ", ".join(f"{s}={states.get(s.value, 0)}" for s in JobState))
