"""A study: one trace replayed under several policies (and a proposed change, a what-if),
side by side, each replay in a process of its own; written as ``summary.json`` (keyed
by policy), ``jobs.csv`` and PNG plots. ``aicc simulate`` parses its options into a
``Study`` and prints what ``run_study`` returns.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Mapping
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, NamedTuple

from scheduler.centerfile import load_center
from scheduler.domain import Quota, Tenant
from scheduler.domain.budget import Budget
from scheduler.sim.metrics import Recorder
from scheduler.sim.policies import STATIC_NOTES, PolicySpec, make_policy
from scheduler.sim.progress import progress_bar, show_progress
from scheduler.sim.simulator import Failures, SimResult, Simulation
from scheduler.sim.trace import Trace, TraceError

#: the suffix of a what-if's replays in the summary: POLICY+whatif
WHATIF = "+whatif"


def _rescale(tenants: dict[str, Tenant], old_capacity: int, new_capacity: int) -> dict[str, Tenant]:
    f = new_capacity / old_capacity if old_capacity else 1.0
    return {n: replace(t, quota=Quota(round(t.quota.guaranteed * f), min(new_capacity, round(t.quota.limit * f))))
            for n, t in tenants.items()}


def _names(names: list[str]) -> str:
    return ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")


def check_against_center(t: Trace) -> list[str]:
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
    checkpoint_every: float = 0.0  # jobs checkpoint every so many seconds (0: they keep all they did)
    checkpoint_on_notice: bool = False  # a preempted job checkpoints when asked, before it stops
    eta: bool = True  # record the expected start at each submission
    #: budgets (``--budget``): a spent one holds its tenant's new jobs, as the live service does
    budgets: tuple[Budget, ...] = ()


def replay(run: Run, world: World, progress: bool | Callable[[int], None] | None) -> SimResult:
    """One replay (module level: a worker process runs it)."""
    sim = Simulation(run.trace, run.spec(), seed=world.seed, tick_s=world.tick,
                     failures=Failures(world.mtbf) if world.mtbf else None,
                     restart_cost_s=world.restart_cost, progress=progress, budgets=world.budgets,
                     checkpoint_every_s=world.checkpoint_every, checkpoint_on_notice=world.checkpoint_on_notice,
                     eta=world.eta)
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
                        done: Callable[[str, SimResult], None], say: Callable[[str], None]) -> None:
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
                    say(message)
    if bar is not None:
        bar.close()


@dataclass
class Study:
    """What to replay: the trace under each named policy, and, with a ``proposed`` trace
    or ``knobs``, each policy again with the change (POLICY+whatif)."""

    trace: Trace
    policies: list[str]
    world: World = field(default_factory=World)
    proposed: Trace | None = None
    knobs: Mapping[str, Any] = field(default_factory=dict)
    change: str = ""  # the change in words, for the summary's notes
    notes: list[str] = field(default_factory=list)
    quota: list[str] = field(default_factory=list)  # as given, for the summary
    #: FGD's experiment on openb: every task arrives, none leaves; aicc's placement vs best-fit
    fill_comparison: bool = False

    def runs(self) -> dict[str, Run]:
        runs = {name: Run(self.trace, name) for name in self.policies}
        if self.change:
            proposed = self.proposed or self.trace
            runs.update({f"{name}{WHATIF}": Run(proposed, name, self.knobs) for name in self.policies})
        return runs


def run_study(study: Study, out: Path, *, plots: bool = True, workers: int | None = None,
              progress: bool | None = None, say: Callable[[str], None] = print) -> dict[str, Any]:
    """Replay every run of the study and write its files under ``out``; returns the summary,
    keyed by run (and ``_trace``). ``say`` is told what is going on."""
    from scheduler.sim.report import summarize, write_jobs_csv, write_plots, write_summary

    t, runs = study.trace, study.runs()
    out.mkdir(parents=True, exist_ok=True)
    results: dict[str, SimResult] = {}
    summary: dict[str, Any] = {}

    def done(key: str, res: SimResult) -> None:
        results[key] = res
        summary[key] = summarize(res)
        ordered = {k: summary[k] for k in runs if k in summary}
        write_summary(out / "summary.json", ordered)  # partial results survive an interrupt

    parallel = min(len(runs), workers or os.cpu_count() or 1)
    if parallel > 1:
        say(f"replaying {len(t.jobs)} jobs under {', '.join(runs)}, {parallel} at a time ...")
        replay_side_by_side(runs, parallel, study.world, show_progress(len(t.jobs), progress), done, say)
    else:
        for key, run in runs.items():
            say(f"replaying {len(t.jobs)} jobs under {key} ...")
            done(key, replay(run, study.world, progress))
    summary = {k: summary[k] for k in runs}
    results = {k: results[k] for k in runs}  # (side by side, they came back as they finished)
    for key, run in runs.items():
        if run.policy in STATIC_NOTES:
            summary[key]["note"] = STATIC_NOTES[run.policy]
    if study.fill_comparison:
        from scheduler.sim.openb import fill_comparison
        summary["_openb_fill"] = fill_comparison(t, [n for n in study.policies if n != "oracle"])
    world = study.world
    summary["_trace"] = {"name": t.name, "jobs": len(t.jobs), "notes": list(t.notes) + study.notes,
                         "tick_s": world.tick, "seed": world.seed, "restart_cost_s": world.restart_cost,
                         "checkpoint_every_s": world.checkpoint_every,
                         "checkpoint_on_notice": world.checkpoint_on_notice,
                         "quota": list(study.quota), "set": dict(study.knobs),
                         "observed": dict(t.observed)}
    write_summary(out / "summary.json", summary)
    write_jobs_csv(out / "jobs.csv", {k: list(r.recorder.results.values()) for k, r in results.items()})
    if plots:
        write_plots(out, results)
    return summary
