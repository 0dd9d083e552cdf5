"""``aicc simulate``: replay a trace under several policies and compare them.

Example: ``aicc simulate --trace itp --policy all --out out/itp``
writes ``summary.json`` (keyed by policy), ``jobs.csv`` and PNG plots. The
command parses its options into ``StudyOptions`` (``scheduler.sim.prepare`` makes
the ``Study`` of them) and prints the table of what ``run_study`` returns.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from scheduler.centerfile import CenterFileError
from scheduler.cli.output import fail, table
from scheduler.cli.whatif import whatif_table
from scheduler.sim import DEFAULT_TRACES, TraceError
from scheduler.sim.prepare import StudyOptions, prepare_study
from scheduler.sim.study import WHATIF, Study, World, run_study


def register(app: typer.Typer) -> None:
    app.command("simulate", help=(
        "Replay a trace through the scheduler in simulated time and compare policies.\n\n"
        "--trace itp | openb | synthetic | PATH.csv (job_id,tenant,submit_s,duration_s,devices; "
        "aicc job export writes one from the center's own history).\n\n"
        "Example: aicc simulate --trace itp --policy all --out out/itp\n\n"
        "What if: aicc simulate --trace month.csv --policy center --quota vision=40P"))(simulate)


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
    checkpoint_every: Annotated[float, typer.Option(
        min=0, help="Jobs checkpoint every S seconds of progress and report it; a stopped job keeps only "
                    "the work up to its last checkpoint (0: it keeps all it did).")] = 0.0,
    checkpoint_on_notice: Annotated[bool, typer.Option(
        help="A preempted job checkpoints when asked, before it stops (it loses only the restart cost).")] = False,
    eta: Annotated[bool, typer.Option(help="Record the expected start the service would answer at each "
                                      "submission and score it (ETA columns; slower).")] = True,
    plots: Annotated[bool, typer.Option(help="Write PNG plots.")] = True,
    progress: Annotated[bool | None, typer.Option(help="Progress bar (default: on long runs, one "
                                                  "policy at a time).")] = None,
    workers: Annotated[int | None, typer.Option(min=1, help="Policies replayed at once, each in a "
                                                "process of its own (default: one per CPU).")] = None,
    quota: Annotated[list[str] | None, typer.Option(
        help="What if: NAME=GUARANTEED[:LIMIT] in FLOPS units, e.g. vision=40P or vision=40P:60P "
             "(repeat for more tenants; the limit stays unless given, raised to the guarantee). Each "
             "policy is replayed as is and with the change (POLICY+whatif), compared per tenant.")] = None,
    parent: Annotated[list[str] | None, typer.Option(
        help="A tenant tree: CHILD=PARENT puts a trace's tenant under a parent (made, if it is not a tenant, "
             "with its children's guarantees), e.g. --parent itp01=org-a --parent itp02=org-a (repeat). "
             "Every policy replays the tree; parents run no jobs.")] = None,
    budget: Annotated[list[str] | None, typer.Option(
        help="A budget: NAME=PFLOPS_HOURS/PERIOD (month, week, or a length: 14d, 36h), e.g. "
             "finance=30000/month (repeat). Once spent in a period, the tenant's (or subtree's) new jobs "
             "hold until the next; every policy replays with it.")] = None,
    best_effort: Annotated[bool, typer.Option(
        "--budget-best-effort", help="A spent budget lets new jobs run best-effort (idle capacity "
                                     "only) instead of holding them.")] = False,
    set_: Annotated[list[str] | None, typer.Option(
        "--set", help="What if: a knob of the policy, KNOB=VALUE, e.g. min_runtime_s=7200, reservations=8, "
                      "borrowing=false (repeat for more; with --quota, one change). Each policy is replayed "
                      "as is and with it.")] = None,
) -> None:
    """The options' signature is declarative (typer reads it; over 60 lines for that reason
    only); the body parses them into ``StudyOptions``, runs the study and prints it."""
    world = World(seed, tick, mtbf, restart_cost, checkpoint_every, checkpoint_on_notice, eta)
    options = StudyOptions(trace, center, policy, traces, tenants, jobs, load, limit, world, tuple(quota or ()),
                           tuple(parent or ()), tuple(budget or ()), best_effort, tuple(set_ or ()))
    try:
        study = prepare_study(options)
    except (TraceError, CenterFileError, ValueError) as exc:
        fail(str(exc))
    for line in (*study.trace.notes, *study.notes):
        typer.echo(line, err=True)
    summary = run_study(study, out, plots=plots, workers=workers, progress=progress,
                        say=lambda line: typer.echo(line, err=True))
    _print(study, summary, out, plots)


def _or_dash(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}"


def _print(study: Study, summary: dict[str, Any], out: Path, plots: bool) -> None:
    """The policies side by side, each what-if against its policy, and where the files are."""
    t, change = study.trace, study.change
    runs = study.runs()
    rows = []
    for key, s in ((k, summary[k]) for k in runs):
        rows.append([key, f"{s['avg_queue_s']:.0f}", f"{s['p95_queue_s']:.0f}", f"{s['avg_jct_s']:.0f}",
                     f"{s['makespan_s'] / 86400:.2f}", f"{s['allocation_ratio']:.3f}",
                     "-" if s["allocation_ratio_saturated"] is None else f"{s['allocation_ratio_saturated']:.3f}",
                     f"{s['jain_fairness']:.3f}", f"{s['guarantee_violations']:.0f}", s["preemptions"],
                     f"{s['lost_work_device_h']:.0f}", f"{s['unallocated_devices_fragmentation']:.1f}",
                     _or_dash(s.get("eta_median_rel_error")), _or_dash(s.get("eta_started_by_predicted_plus_10min")),
                     f"{s['wall_s']:.1f}"])
    typer.echo(table(["POLICY", "AVG QUEUE S", "P95 QUEUE S", "AVG JCT S", "MAKESPAN D", "ALLOC",
                      "ALLOC SAT", "JAIN", "GUAR VIOL S", "PREEMPT", "LOST DEV-H", "FRAG DEV", "ETA ERR",
                      "ETA+10M", "WALL S"], rows))
    if change:
        for name in study.policies:
            typer.echo(f"\n{name}, as is -> with {change}:\n"
                       + whatif_table(summary[name], summary[f"{name}{WHATIF}"]))
    if "avg_queue_s" in t.observed:
        typer.echo(f"as observed (the trace's own run): avg queue {t.observed['avg_queue_s']:.0f} s")
    typer.echo(f"\nwrote {out / 'summary.json'}, {out / 'jobs.csv'}" + (" and plots" if plots else ""))


