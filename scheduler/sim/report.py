"""Reports of a replay: ``summary.json`` keyed by policy, a per-job CSV, PNG plots."""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from scheduler.sim.metrics import SATURATED_TARGET, JobResult, Recorder
from scheduler.sim.simulator import SimResult


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank-with-interpolation percentile of sorted or unsorted values (0 for none)."""
    if not values:
        return 0.0
    xs = sorted(values)
    pos = (len(xs) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def _r(x: float) -> float:
    return round(x, 3)


def summarize(result: SimResult) -> dict[str, Any]:
    rec = result.recorder
    done = [r for r in rec.results.values() if r.finish_s is not None]
    queue = [r.queue_s for r in done if r.queue_s is not None]
    jct = [r.jct_s for r in done if r.jct_s is not None]
    by_tenant: dict[str, list[float]] = {t: [] for t in rec.tenant_names}
    for r in done:
        if r.queue_s is not None:
            by_tenant[r.tenant].append(r.queue_s)
    first = min((r.submit_s for r in rec.results.values()), default=0.0)
    last = max((r.finish_s for r in done if r.finish_s is not None), default=first)
    cap_dev = {t: g / _device_gflops(rec) for t, g in
               ((n, rec.tenants[n].guaranteed_gflops) for n in rec.tenant_names)}
    return {
        "label": result.policy.label,
        "jobs": len(rec.results),
        "finished": len(done),
        "avg_queue_s": _r(sum(queue) / len(queue)) if queue else 0.0,
        "p50_queue_s": _r(percentile(queue, 50)),
        "p95_queue_s": _r(percentile(queue, 95)),
        "p99_queue_s": _r(percentile(queue, 99)),
        "avg_jct_s": _r(sum(jct) / len(jct)) if jct else 0.0,
        "p50_jct_s": _r(percentile(jct, 50)),
        "makespan_s": _r(last - first),
        "avg_queue_s_by_tenant": {t: _r(sum(v) / len(v)) if v else 0.0 for t, v in by_tenant.items()},
        "p95_queue_s_by_tenant": {t: _r(percentile(v, 95)) for t, v in by_tenant.items()},
        "allocation_ratio": _r(rec.held_area / rec.cap_area) if rec.cap_area else 0.0,
        "allocation_ratio_saturated": _r(rec.sat_held / rec.sat_time) if rec.sat_time else None,
        "saturated_time_s": _r(rec.sat_time),
        "saturated_time_below_98pct": _r(rec.sat_below / rec.sat_time) if rec.sat_time else 0.0,
        "allocation_ratio_pending_exceeds_capacity": _r(rec.strict_held / rec.strict_time) if rec.strict_time else None,
        "pending_exceeds_capacity_time_s": _r(rec.strict_time),
        "jain_fairness": _r(rec.jain_area / rec.jain_time) if rec.jain_time else 1.0,
        "guarantee_violations": _r(sum(ts.violation_s for ts in rec.tenants.values())),
        "guarantee_violation_s_by_tenant": {n: _r(rec.tenants[n].violation_s) for n in rec.tenant_names},
        "preemptions": rec.preemptions,
        # How the preemptions fall: on few jobs, often (churn), or spread thin.
        "preempted_jobs": sum(1 for r in rec.results.values() if r.preemptions),
        "max_preemptions_of_a_job": max((r.preemptions for r in rec.results.values()), default=0),
        # Work run and then lost to restarts (each loses --restart-cost s of its attempt).
        "lost_work_device_h": round(rec.lost_device_s / 3600, 1),
        **eta_figures(rec.results.values()),
        "eta_wall_s": _r(result.extra.get("eta_wall_s", 0.0)),
        "unallocated_devices_fragmentation": _r(rec.frag_area / rec.wait_time) if rec.wait_time else 0.0,
        "guaranteed_devices_by_tenant": {n: _r(v) for n, v in cap_dev.items()},
        "avg_used_devices_by_tenant": {n: _r(v) for n, v in rec.tenant_used().items()},
        "capacity_devices": rec.capacity,
        "steps": result.steps,
        "avg_step_ms": _r(1000 * rec.step_seconds / rec.steps) if rec.steps else 0.0,
        "max_step_ms": _r(1000 * rec.max_step_s),
        "wall_s": _r(result.wall_s),
        "saturation_target": SATURATED_TARGET,
        **({"budgets": {n: {k: _r(v) for k, v in b.items()} for n, b in result.budgets.items()}}
           if result.budgets else {}),
    }


#: waits shorter than this are not scored: a relative error of a minute's wait says little
ETA_MIN_WAIT_S = 600.0
ETA_SLACK_S = 600.0


def eta_figures(results: Iterable[JobResult]) -> dict[str, Any]:
    """How the expected start answered at submission compares with the first admission.

    Over the jobs asked and admitted that waited at least ``ETA_MIN_WAIT_S``: the median of
    |predicted - actual wait| / actual wait (an unknown start counts as an infinite error), the
    share that started no later than predicted + ``ETA_SLACK_S``, and the share unknown.
    """
    errors: list[float] = []
    on_time = unknown = 0
    for r in results:
        p, admit = r.predicted_start_s, r.first_admit_s
        if admit is None or (p is not None and math.isnan(p)):
            continue
        wait = admit - r.submit_s
        if wait < ETA_MIN_WAIT_S:
            continue
        if p is None:
            unknown += 1
            errors.append(math.inf)
            continue
        errors.append(abs((p - r.submit_s) - wait) / wait)
        on_time += admit <= p + ETA_SLACK_S
    n = len(errors)
    errors.sort()
    median = errors[(n - 1) // 2] if n else math.inf  # (the lower median: errors may be infinite)
    return {
        "eta_jobs_scored": n,
        "eta_median_rel_error": _r(median) if median < math.inf else None,
        "eta_started_by_predicted_plus_10min": _r(on_time / n) if n else None,
        "eta_unknown_share": _r(unknown / n) if n else None,
    }


def _device_gflops(rec: Any) -> float:
    return float(min(rec.gflops.values()))


def write_jobs_csv(path: Path, results: Mapping[str, Sequence[JobResult]]) -> None:
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["policy", "job", "tenant", "devices", "submit_s", "first_admit_s", "start_s",
                    "finish_s", "duration_s", "queue_s", "jct_s", "preemptions", "borrowed"])
        for policy, jobs in results.items():
            for r in jobs:
                w.writerow([policy, r.id, r.tenant, r.devices, _f(r.submit_s), _f(r.first_admit_s),
                            _f(r.start_s), _f(r.finish_s), _f(r.duration_s), _f(r.queue_s),
                            _f(r.jct_s), r.preemptions, int(r.borrowed)])


def _f(x: float | None) -> str:
    return "" if x is None else f"{x:.3f}"


def write_summary(path: Path, summary: Mapping[str, Any]) -> None:
    path.write_text(json.dumps(summary, indent=2) + "\n")


def write_plots(out: Path, results: Mapping[str, SimResult]) -> list[Path]:
    """Allocation over time by tenant against capacity; queueing delay per tenant; guaranteed vs used."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = [_plot_allocation(plt, out / f"allocation_{name}.png", name, res.recorder)
             for name, res in results.items() if res.recorder.samples]
    if results:
        paths.append(_plot_queueing(plt, out / "queueing_by_tenant.png", results))
        paths.append(_plot_guaranteed_vs_used(plt, out / "guaranteed_vs_used.png", results))
    return paths


def _save(plt: Any, fig: Any, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _plot_allocation(plt: Any, path: Path, name: str, rec: Recorder) -> Path:
    """Devices held by tenant over time, stacked, against capacity and pending demand."""
    t0 = rec.samples[0].at
    xs = [(s.at - t0) / 86400 for s in rec.samples]
    fig, ax = plt.subplots(figsize=(11, 4.5))
    stacks = list(zip(*(s.held for s in rec.samples), strict=True))
    ax.stackplot(xs, stacks, labels=rec.tenant_names, step="post")
    ax.step(xs, [s.capacity for s in rec.samples], where="post", color="black", lw=1, label="capacity")
    ax.step(xs, [min(s.pending, 2 * s.capacity) for s in rec.samples], where="post", color="red",
            lw=0.6, alpha=0.6, label="pending demand (clipped)")
    ax.set_xlabel("days")
    ax.set_ylabel("devices")
    ax.set_title(f"{name}: devices held by tenant")
    ax.legend(loc="upper left", fontsize=7, ncol=2)
    return _save(plt, fig, path)


def _plot_queueing(plt: Any, path: Path, results: Mapping[str, SimResult]) -> Path:
    """The queueing delay distribution per tenant, one box plot per policy."""
    names = list(results)
    tenants = results[names[0]].recorder.tenant_names
    fig, axes = plt.subplots(1, len(names), figsize=(4 * len(names), 4.5), sharey=True, squeeze=False)
    for ax, name in zip(axes[0], names, strict=True):
        rec = results[name].recorder
        data = [[max(1.0, r.queue_s) for r in rec.results.values()
                 if r.tenant == t and r.queue_s is not None] or [1.0] for t in tenants]
        ax.boxplot(data, whis=(5, 95), showfliers=False)
        ax.set_xticks(range(1, len(tenants) + 1), tenants, rotation=60, fontsize=7)
        ax.set_yscale("log")
        ax.set_title(name)
    axes[0][0].set_ylabel("queueing delay (s, log; whiskers p5-p95)")
    return _save(plt, fig, path)


def _plot_guaranteed_vs_used(plt: Any, path: Path, results: Mapping[str, SimResult]) -> Path:
    """Per tenant, its guarantee beside the devices it held on average under each policy."""
    names = list(results)
    base = results[names[0]].recorder
    tenants = base.tenant_names
    fig, ax = plt.subplots(figsize=(11, 4.5))
    width = 0.8 / (len(names) + 1)
    gpd = _device_gflops(base)
    xs0 = list(range(len(tenants)))
    ax.bar([x - 0.4 + width / 2 for x in xs0],
           [base.tenants[t].guaranteed_gflops / gpd for t in tenants], width, label="guaranteed",
           color="lightgray", edgecolor="black")
    for k, name in enumerate(names):
        used = results[name].recorder.tenant_used()
        ax.bar([x - 0.4 + width * (k + 1.5) for x in xs0], [used[t] for t in tenants], width,
               label=f"used: {name}")
    ax.set_xticks(xs0, tenants, rotation=30, fontsize=8)
    ax.set_ylabel("devices (time average)")
    ax.set_title("guaranteed vs used, per tenant")
    ax.legend(fontsize=8)
    return _save(plt, fig, path)
