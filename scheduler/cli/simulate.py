"""``aicc simulate``: replay a trace under several policies and compare them.

Example: ``aicc simulate --trace itp --policy all --out out/itp``
writes ``summary.json`` (keyed by policy), ``jobs.csv`` and PNG plots.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Mapping
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any, NamedTuple

import typer

from scheduler.centerfile import CenterFileError, load_center
from scheduler.cli.output import fail, table
from scheduler.cli.whatif import WHATIF, oversold, policy_knobs, whatif_table, with_quotas
from scheduler.domain import Quota, Tenant
from scheduler.sim import DEFAULT_TRACES, Simulation, Trace, TraceError
from scheduler.sim.metrics import Recorder
from scheduler.sim.policies import STATIC_NOTES, PolicySpec, expand, make_policy
from scheduler.sim.simulator import Failures, SimResult, progress_bar, show_progress


def register(app: typer.Typer) -> None:
    app.command("simulate", help=(
        "Replay a trace through the scheduler in simulated time and compare policies.\n\n"
        "--trace itp | openb | synthetic | PATH.csv (job_id,tenant,submit_s,duration_s,devices; "
        "aicc job export writes one from the center's own history).\n\n"
        "Example: aicc simulate --trace itp --policy all --out out/itp\n\n"
        "What if: aicc simulate --trace month.csv --policy center --quota vision=40P"))(simulate)


def _rescale(tenants: dict[str, Tenant], old_capacity: int, new_capacity: int) -> dict[str, Tenant]:
    f = new_capacity / old_capacity if old_capacity else 1.0
    return {n: Tenant(n, Quota(round(t.quota.guaranteed * f), min(new_capacity, round(t.quota.limit * f))),
                      t.weight) for n, t in tenants.items()}


def _names(names: list[str]) -> str:
    return ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")


def _check_against_center(t: Trace) -> list[str]:
    """Refuse jobs of tenants or priority classes the center lacks (the engine would refuse
    them mid-replay); note those asking for accelerator types it lacks (they never start)."""
    tenants = sorted({j.tenant for j in t.jobs} - set(t.tenants))
    if tenants:
        raise TraceError(f"{t.name}: jobs of tenants the center file lacks: {_names(tenants)}")
    priorities = sorted({j.priority for j in t.jobs} - set(t.base_policy.priority_classes))
    if priorities:
        raise TraceError(f"{t.name}: jobs of priority classes the center file lacks: {_names(priorities)}")
    known = set(t.center.accelerators) if t.center is not None else set()
    lacking = [j for j in t.jobs if j.accelerator_types and known.isdisjoint(j.accelerator_types)]
    if not lacking:
        return []
    types = sorted({a for j in lacking for a in j.accelerator_types})
    return [f"{len(lacking)} jobs ask only for accelerator types the center lacks ({_names(types)}): "
            "they never start"]


def load_trace(trace: str, traces: Path, center: Path | None, jobs: int, seed: int,
               tenants: str | None, load: float) -> tuple[Trace, list[str]]:
    from scheduler.sim.helios import helios_shares, tenants_for
    from scheduler.sim.itp import load_itp
    from scheduler.sim.openb import load_openb
    from scheduler.sim.synthetic import synthetic_trace
    from scheduler.sim.trace import load_csv_trace

    notes: list[str] = []
    shares = None
    if tenants:
        if not tenants.startswith("helios-"):
            raise TraceError(f"--tenants {tenants!r}: expected helios-venus or helios-earth")
        shares = helios_shares(tenants.removeprefix("helios-"), root=traces)
    cfg = load_center(center) if center is not None or trace not in ("itp", "openb") else None
    if trace == "itp":
        t = load_itp(traces)
    elif trace == "openb":
        t = load_openb(traces, tenants_from=shares, seed=seed)
    elif trace == "synthetic":
        assert cfg is not None
        ten = tenants_for(shares, cfg.center) if shares else cfg.tenants
        return replace(synthetic_trace(cfg.center, ten, jobs, seed=seed, load=load), policy=cfg.policy), notes
    else:
        t = load_csv_trace(trace)
    if cfg is not None:
        if t.tenants and t.center is not None:
            ten = _rescale(dict(t.tenants), t.center.capacity_gflops(), cfg.center.capacity_gflops())
            notes.append(f"tenants of {t.name} rescaled to the center {cfg.center.name}")
        else:
            ten = tenants_for(shares, cfg.center) if shares else cfg.tenants
        t = replace(t, center=cfg.center, tenants=ten, priority_classes=cfg.priority_classes, policy=cfg.policy)
    elif shares and trace != "openb" and t.center is not None:
        t = replace(t, tenants=tenants_for(shares, t.center))
    return t, notes


class Run(NamedTuple):
    """One replay: a trace under a named policy, with knobs of ``Policy`` changed (a what-if)."""

    trace: Trace
    policy: str
    knobs: Mapping[str, Any] = {}

    def spec(self) -> PolicySpec:
        spec = make_policy(self.policy, self.trace.base_policy)
        if not self.knobs:
            return spec
        changed = ", ".join(f"{k}={v}" for k, v in self.knobs.items())
        return replace(spec, policy=spec.policy.with_knobs(self.knobs), label=f"{spec.label}; {changed}")


class World(NamedTuple):
    """What the replays of one command share beyond the trace: the seed, the step period,
    node failures, and the work a restart loses."""

    seed: int = 0
    tick: float = 0.0
    mtbf: float | None = None
    restart_cost: float = 0.0


def replay(run: Run, world: World, progress: bool | Callable[[int], None] | None) -> SimResult:
    """One replay (module level: a worker process runs it)."""
    sim = Simulation(run.trace, run.spec(), seed=world.seed, tick_s=world.tick,
                     failures=Failures(world.mtbf) if world.mtbf else None,
                     restart_cost_s=world.restart_cost, progress=progress)
    return sim.run()


_replayed: Any = None  # in a worker process: the jobs replayed by all workers (a shared counter)


def _count_in(counter: Any) -> None:
    global _replayed
    _replayed = counter


def _count(jobs: int) -> None:
    with _replayed.get_lock():
        _replayed.value += jobs


def replay_in_worker(run: Run, world: World) -> tuple[Recorder, float, int]:
    """``replay`` in a worker process: what the report needs, sent back (the policy is not
    sent: the caller makes the same one)."""
    res = replay(run, world, _count)
    return res.recorder, res.wall_s, res.steps


def replay_side_by_side(runs: Mapping[str, Run], parallel: int, world: World, progress: bool,
                        done: Callable[[str, SimResult], None]) -> None:
    """Each run in a process of its own (replays share nothing), ``done`` with each result as
    it comes back; the workers count the jobs they replay in one counter, drawn as one bar."""
    ctx = multiprocessing.get_context("spawn")
    replayed = ctx.Value("q", 0)
    bar = progress_bar(sum(len(run.trace.jobs) for run in runs.values())) if progress else None
    with ProcessPoolExecutor(parallel, mp_context=ctx, initializer=_count_in, initargs=(replayed,)) as pool:
        futures = {pool.submit(replay_in_worker, run, world): key for key, run in runs.items()}
        running = set(futures)
        while running:
            finished, running = wait(running, timeout=0.5, return_when=FIRST_COMPLETED)
            if bar is not None:
                bar.update(replayed.value - bar.n)
            for future in finished:
                key = futures[future]
                recorder, wall_s, steps = future.result()
                done(key, SimResult(runs[key].spec(), recorder, wall_s, steps))
                message = f"{key}: done in {wall_s:.1f} s"
                if bar is not None:
                    bar.write(message)
                else:
                    typer.echo(message, err=True)
    if bar is not None:
        bar.close()


def simulate(
    trace: Annotated[str, typer.Option(help="itp, openb, synthetic, or a CSV file.")] = "itp",
    center: Annotated[Path | None, typer.Option(help="Center file (YAML); default: the trace's own "
                                                "(itp, openb) or the shipped 610P center.")] = None,
    policy: Annotated[str, typer.Option(help="fifo, static, static-backfill, drf, aicc, oracle, center (the "
                                        "center file's policy, as aicc serve runs it), a comma list, or all "
                                        "(all but the oracle and center).")] = "all",
    out: Annotated[Path, typer.Option(help="Folder for summary.json, jobs.csv and plots.")] = Path("out/sim"),
    traces: Annotated[Path, typer.Option(help="The traces folder.")] = DEFAULT_TRACES,
    tenants: Annotated[str | None, typer.Option(help="Tenant shares from Helios: helios-venus or "
                                                "helios-earth.")] = None,
    jobs: Annotated[int, typer.Option(min=1, help="Synthetic: number of jobs.")] = 10_000,
    load: Annotated[float, typer.Option(min=0.01, help="Synthetic: offered load vs capacity.")] = 0.9,
    limit: Annotated[int | None, typer.Option(min=1, help="Replay only the first N jobs.")] = None,
    seed: Annotated[int, typer.Option(help="Seed (synthetic workload, failures).")] = 0,
    tick: Annotated[float, typer.Option(min=0, help="Step at most once per TICK seconds (0: at every event).")] = 0.0,
    mtbf: Annotated[float | None, typer.Option(help="Node failures: mean time between failures per node (s).")] = None,
    restart_cost: Annotated[float, typer.Option(
        min=0, help="Seconds of work a preempted or lost job loses each time it restarts: its start again "
                    "and the work since its last checkpoint (0: it resumes where it stopped).")] = 0.0,
    plots: Annotated[bool, typer.Option(help="Write PNG plots.")] = True,
    progress: Annotated[bool | None, typer.Option(help="Progress bar (default: on long runs, one "
                                                  "policy at a time).")] = None,
    workers: Annotated[int | None, typer.Option(min=1, help="Policies replayed at once, each in a "
                                                "process of its own (default: one per CPU).")] = None,
    quota: Annotated[list[str] | None, typer.Option(
        help="What if: NAME=GUARANTEED[:LIMIT] in FLOPS units, e.g. vision=40P or vision=40P:60P "
             "(repeat for more tenants; the limit stays unless given, raised to the guarantee). Each "
             "policy is replayed as is and with the change (POLICY+whatif), compared per tenant.")] = None,
    set_: Annotated[list[str] | None, typer.Option(
        "--set", help="What if: a knob of the policy, KNOB=VALUE, e.g. min_runtime_s=7200, reservations=8, "
                      "borrowing=false (repeat for more; with --quota, one change). Each policy is replayed "
                      "as is and with it.")] = None,
) -> None:
    from scheduler.sim.report import summarize, write_jobs_csv, write_plots, write_summary

    try:
        names = expand(policy)
        t, notes = load_trace(trace, traces, center, jobs, seed, tenants, load)
        notes += _check_against_center(t)
        knobs = policy_knobs(set_ or [])
        if limit is not None:
            t = replace(t, jobs=t.jobs[:limit], observed={})  # (what was observed is of all the jobs)
        proposed = replace(t, tenants=with_quotas(t.tenants, quota)) if quota else t
    except (TraceError, CenterFileError, ValueError) as exc:
        fail(str(exc))
    change = " ".join([*(quota or []), *(set_ or [])])
    if quota:
        notes += oversold(proposed, f"with {change}")
    for line in (*t.notes, *notes):
        typer.echo(line, err=True)
    # each policy as is, and with the change proposed (a what-if)
    runs = {name: Run(t, name) for name in names}
    if change:
        runs.update({f"{name}{WHATIF}": Run(proposed, name, knobs) for name in names})
    out.mkdir(parents=True, exist_ok=True)
    results: dict[str, SimResult] = {}
    summary: dict[str, Any] = {}

    def done(key: str, res: SimResult) -> None:
        results[key] = res
        summary[key] = summarize(res)
        ordered = {k: summary[k] for k in runs if k in summary}
        write_summary(out / "summary.json", ordered)  # partial results survive an interrupt

    world = World(seed, tick, mtbf, restart_cost)
    parallel = min(len(runs), workers or os.cpu_count() or 1)
    if parallel > 1:
        typer.echo(f"replaying {len(t.jobs)} jobs under {', '.join(runs)}, {parallel} at a time ...", err=True)
        replay_side_by_side(runs, parallel, world, show_progress(len(t.jobs), progress), done)
    else:
        for key, run in runs.items():
            typer.echo(f"replaying {len(t.jobs)} jobs under {key} ...", err=True)
            done(key, replay(run, world, progress))
    summary = {k: summary[k] for k in runs}
    results = {k: results[k] for k in runs}  # (side by side, they came back as they finished)
    for key, run in runs.items():
        if run.policy in STATIC_NOTES:
            summary[key]["note"] = STATIC_NOTES[run.policy]
    if trace == "openb":
        # FGD's experiment: every task arrives, none leaves; aicc's placement vs plain best-fit.
        from scheduler.sim.openb import fill_comparison
        summary["_openb_fill"] = fill_comparison(t, [n for n in names if n != "oracle"])
    summary["_trace"] = {"name": t.name, "jobs": len(t.jobs), "notes": list(t.notes) + notes,
                         "tick_s": tick, "seed": seed, "restart_cost_s": restart_cost,
                         "quota": list(quota or []), "set": dict(knobs),
                         "observed": dict(t.observed)}
    write_summary(out / "summary.json", summary)
    write_jobs_csv(out / "jobs.csv", {k: list(r.recorder.results.values()) for k, r in results.items()})
    if plots:
        write_plots(out, results)
    rows = []
    for key, s in ((k, summary[k]) for k in runs):
        rows.append([key, f"{s['avg_queue_s']:.0f}", f"{s['p95_queue_s']:.0f}", f"{s['avg_jct_s']:.0f}",
                     f"{s['makespan_s'] / 86400:.2f}", f"{s['allocation_ratio']:.3f}",
                     "-" if s["allocation_ratio_saturated"] is None else f"{s['allocation_ratio_saturated']:.3f}",
                     f"{s['jain_fairness']:.3f}", f"{s['guarantee_violations']:.0f}", s["preemptions"],
                     f"{s['lost_work_device_h']:.0f}", f"{s['unallocated_devices_fragmentation']:.1f}",
                     f"{s['wall_s']:.1f}"])
    typer.echo(table(["POLICY", "AVG QUEUE S", "P95 QUEUE S", "AVG JCT S", "MAKESPAN D", "ALLOC",
                      "ALLOC SAT", "JAIN", "GUAR VIOL S", "PREEMPT", "LOST DEV-H", "FRAG DEV", "WALL S"], rows))
    if change:
        for name in names:
            typer.echo(f"\n{name}, as is -> with {change}:\n"
                       + whatif_table(summary[name], summary[f"{name}{WHATIF}"]))
    if "avg_queue_s" in t.observed:
        typer.echo(f"as observed (the trace's own run): avg queue {t.observed['avg_queue_s']:.0f} s")
    typer.echo(f"\nwrote {out / 'summary.json'}, {out / 'jobs.csv'}" + (" and plots" if plots else ""))


