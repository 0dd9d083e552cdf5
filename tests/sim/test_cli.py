"""``aicc simulate`` as a user runs it: a trace file in, summary.json, jobs.csv and plots out."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import typer
import yaml
from typer.testing import CliRunner

from scheduler.centerfile import default_center_path
from scheduler.cli import simulate
from scheduler.core import Policy
from scheduler.sim import make_policy

KEYS = {"avg_queue_s", "avg_jct_s", "p95_queue_s_by_tenant", "allocation_ratio_saturated",
        "jain_fairness", "guarantee_violations", "preemptions", "unallocated_devices_fragmentation",
        "p50_queue_s", "p99_queue_s", "makespan_s"}


def _app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def main() -> None:
        """aicc (test harness)."""

    simulate.register(app)
    return app


def test_simulate_a_csv_trace_under_every_policy(tmp_path: Path) -> None:
    trace = tmp_path / "mine.csv"
    with trace.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["job_id", "tenant", "submit_s", "duration_s", "devices"])
        for i in range(60):
            w.writerow([f"x{i}", ("finance", "vr", "large-models")[i % 3], i * 20, 600 + 40 * (i % 7),
                        (1, 8, 32, 64)[i % 4]])
    out = tmp_path / "out"
    res = CliRunner().invoke(_app(), ["simulate", "--trace", str(trace), "--policy", "all,oracle",
                                      "--out", str(out)])
    assert res.exit_code == 0, res.output
    summary = json.loads((out / "summary.json").read_text())
    names = {"fifo", "static", "static-backfill", "drf", "aicc", "oracle"}
    for name in names:
        assert set(summary[name]) >= KEYS, name
        assert summary[name]["finished"] == 60
        assert set(summary[name]["p95_queue_s_by_tenant"]) >= {"finance", "vr", "large-models"}
    assert "separate clusters" in summary["static"]["note"]
    assert "separate clusters" in summary["static-backfill"]["note"]
    assert "ORACLE" in summary["oracle"]["label"]
    rows = list(csv.DictReader((out / "jobs.csv").open()))
    assert len(rows) == len(names) * 60 and {r["policy"] for r in rows} == names
    for png in ("allocation_aicc.png", "queueing_by_tenant.png", "guaranteed_vs_used.png"):
        assert (out / png).read_bytes()[:4] == b"\x89PNG"
    assert "AVG QUEUE S" in res.output


def test_simulate_rejects_an_unknown_policy_with_one_line(tmp_path: Path) -> None:
    res = CliRunner().invoke(_app(), ["simulate", "--trace", "synthetic", "--policy", "lottery",
                                      "--out", str(tmp_path)])
    assert res.exit_code == 1
    assert "unknown policy 'lottery'" in res.output


def test_policies_replayed_side_by_side_give_what_one_at_a_time_gives(tmp_path: Path) -> None:
    runs = {}
    for workers in ("1", "3"):
        out = tmp_path / workers
        res = CliRunner().invoke(_app(), ["simulate", "--trace", "synthetic", "--jobs", "2000", "--load", "2",
                                          "--policy", "fifo,static,aicc", "--workers", workers,
                                          "--restart-cost", "300", "--no-plots", "--out", str(out)])
        assert res.exit_code == 0, res.output
        summary = json.loads((out / "summary.json").read_text())
        for s in summary.values():
            for timing in ("wall_s", "avg_step_ms", "max_step_ms", "eta_wall_s"):
                s.pop(timing, None)
        runs[workers] = (summary, (out / "jobs.csv").read_text())
    assert list(runs["3"][0]) == ["fifo", "static", "aicc", "_trace"]
    assert runs["3"] == runs["1"]
    assert runs["1"][0]["static"]["avg_queue_s"] > runs["1"][0]["fifo"]["avg_queue_s"]  # (not all alike)
    assert runs["3"][0]["_trace"]["restart_cost_s"] == 300.0


def test_a_trace_the_center_cannot_run_is_refused_or_noted(tmp_path: Path) -> None:
    def trace(rows: list[list[object]]) -> str:
        path = tmp_path / f"t{len(rows)}.csv"
        with path.open("w", newline="") as fh:
            csv.writer(fh).writerows([["job_id", "tenant", "submit_s", "duration_s", "devices", "priority",
                                       "accelerator"], *rows])
        return str(path)

    def run(path: str) -> Any:
        return CliRunner().invoke(_app(), ["simulate", "--trace", path, "--policy", "aicc", "--no-plots",
                                           "--out", str(tmp_path / "out")])

    res = run(trace([["a", "finance", 0, 60, 8, "urgent", ""]]))
    assert res.exit_code == 1 and "jobs of priority classes the center file lacks: urgent" in res.output
    res = run(trace([["a", "finance", 0, 60, 8, "normal", "tpu-v5"], ["b", "finance", 0, 60, 8, "normal", ""]]))
    assert res.exit_code == 0, res.output
    assert "1 jobs ask only for accelerator types the center lacks (tpu-v5): they never start" in res.output
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["aicc"]["finished"] == 1


def _burst(tmp_path: Path) -> Path:
    """finance (80P guaranteed, 150P limit) sends eight 64-device gangs at once into an idle
    center: borrowing runs seven of them at once, its guarantee alone only four."""
    trace = tmp_path / "burst.csv"
    with trace.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["job_id", "tenant", "submit_s", "duration_s", "devices", "accelerator"])
        w.writerows([f"b{i}", "finance", 0, 1000, 64, "a800"] for i in range(8))
    return trace


def test_a_policy_knob_what_if_replays_each_policy_as_is_and_changed(tmp_path: Path) -> None:
    trace = _burst(tmp_path)
    out = tmp_path / "out"
    res = CliRunner().invoke(_app(), ["simulate", "--trace", str(trace), "--policy", "aicc", "--set",
                                      "borrowing=false", "--no-plots", "--out", str(out)])
    assert res.exit_code == 0, res.output
    summary = json.loads((out / "summary.json").read_text())
    as_is, changed = summary["aicc"], summary["aicc+whatif"]
    assert as_is["finished"] == changed["finished"] == 8
    assert as_is["avg_queue_s"] == 125.0  # one gang waits one run
    assert changed["avg_queue_s"] == 500.0  # four gangs wait one run
    assert "borrowing=False" in changed["label"] and summary["_trace"]["set"] == {"borrowing": False}
    assert "aicc, as is -> with borrowing=false:" in res.output

    for bad, message in [("speed=11", "speed: not a knob of the policy (knobs: quotas, borrowing"),
                         ("fast", "expected KNOB=VALUE"),
                         ("borrowing=maybe", "borrowing: expected true or false"),
                         ("min_runtime_s=-5", "min_runtime_s: must be finite and not negative"),
                         ("reservations=2.5", "reservations: expected a whole number"),
                         ("blocking=sometimes", "blocking: expected one of backfill, none, tenant, global")]:
        res = CliRunner().invoke(_app(), ["simulate", "--trace", str(trace), "--set", bad,
                                          "--out", str(tmp_path / "bad")])
        assert res.exit_code == 1 and message in res.output, (bad, res.output)
    assert not (tmp_path / "bad").exists()


def test_the_center_files_policy_is_where_every_replay_starts(tmp_path: Path) -> None:
    # The burst above, on the shipped center told not to lend: every policy that borrows
    # now holds finance to its guarantee, and --set borrowing=true is the what-if back.
    center = yaml.safe_load(default_center_path().read_text())
    center["policy"] = {"borrowing": False}
    (tmp_path / "center.yaml").write_text(yaml.safe_dump(center))
    trace = _burst(tmp_path)
    out = tmp_path / "out"
    res = CliRunner().invoke(_app(), ["simulate", "--trace", str(trace), "--center", str(tmp_path / "center.yaml"),
                                      "--policy", "center,aicc", "--set", "borrowing=true", "--no-plots",
                                      "--out", str(out)])
    assert res.exit_code == 0, res.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["center"]["avg_queue_s"] == summary["aicc"]["avg_queue_s"] == 500.0
    assert summary["center+whatif"]["avg_queue_s"] == summary["aicc+whatif"]["avg_queue_s"] == 125.0
    assert "as aicc serve runs it" in summary["center"]["label"]
    # As the service, the center's policy learns runtimes where it orders by them; baselines never do.
    ordered = Policy(shortest_first=True)
    assert make_policy("center", base=ordered).learned_estimates
    assert not make_policy("center", base=Policy()).learned_estimates
    assert not make_policy("fifo", base=ordered).policy.shortest_first
    assert not make_policy("drf", base=ordered).policy.shortest_first
