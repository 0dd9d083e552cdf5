"""``aicc job export`` then ``aicc simulate --quota``: the center's own history replayed under
a proposed quota, as an operator checks a change before making it."""

from __future__ import annotations

import csv
import json
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from scheduler.api.models import JobOut
from scheduler.cli.history import trace_rows
from scheduler.client import Client
from scheduler.sim.trace import load_csv_trace
from tests.cli.conftest import Cli
from tests.cli.test_jobs import spec_file
from tests.client.live import CENTER_YAML, job_spec

NewTenant = Callable[..., tuple[str, str]]


def _job(job_id: str, **kw: Any) -> JobOut:
    base: dict[str, Any] = {
        "id": job_id, "name": job_id, "tenant": "acme", "kind": "training", "state": "succeeded",
        "priority": "normal", "preemptible": True, "workers": 2, "devices": 16,
        "resources": {"accelerators": 8, "accelerator_types": ["a800"], "cpus": 16, "memory": "128Gi"},
        "max_runtime_s": None, "estimated_runtime_s": None, "entrypoint": "python train.py",
        "runtime_env": {}, "submitted_at": "2026-11-01T10:00:00.000Z", "admitted_at": None,
        "started_at": "2026-11-01T10:00:10.000Z", "finished_at": "2026-11-01T10:01:10.000Z",
        "placement": None, "borrowing": False, "reason": "Succeeded", "detail": "", "queue_position": None,
        "preemptions": 0, "node_losses": 0, "max_retries": None, "ran_s": 0.0}
    return JobOut.model_validate({**base, **kw})


def test_a_job_ran_for_what_it_ran_over_all_its_attempts() -> None:
    jobs = [_job("a", preemptions=1, started_at="2026-11-01T10:02:00.000Z",
                 finished_at="2026-11-01T10:02:20.000Z", ran_s=60.0),  # 40 s, preempted, then 20 s
            _job("b", submitted_at="2026-11-01T10:00:30.000Z", started_at="2026-11-01T10:00:30.000Z",
                 finished_at="2026-11-01T10:05:30.000Z", preemptible=False, priority="high", ran_s=300.0),
            _job("never", state="cancelled", started_at=None),  # cancelled while pending
            _job("live", state="running", finished_at=None)]
    rows, skipped = trace_rows(jobs)
    assert skipped == 1
    assert [(r["job_id"], r["submit_s"], r["duration_s"], r["queue_s"]) for r in rows] == [
        ("a", "0.000", "60.000", "80.000"), ("b", "30.000", "300.000", "0.000")]
    assert (rows[1]["priority"], rows[1]["preemptible"], rows[1]["workers"], rows[1]["devices"]) == (
        "high", "0", "2", "16")


def _wait(admin: Client, job_ids: list[str], state: str, timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while any(admin.job(j).state != state for j in job_ids):
        assert time.monotonic() < deadline, f"{job_ids} never all {state}"
        time.sleep(0.05)


def test_export_then_replay_under_a_proposed_quota(cli: Cli, admin: Client, new_tenant: NewTenant,
                                                    tmp_path: Path) -> None:
    name, token = new_tenant(guaranteed="1.248P", limit="2.496P")  # 4 a800 devices, up to 8
    ran = [cli.ok("job", "submit", "-f", spec_file(tmp_path, f"ft{i}", workers=w, devices=d, sleep_s=0.3),
                  token=token).stdout.split()[2] for i, (w, d) in enumerate([(2, 2), (1, 1)])]
    big = cli.ok("job", "submit", "-f", spec_file(tmp_path, "big", workers=2, devices=8),
                 token=token).stdout.split()[2]  # beyond its limit: it waits, and is cancelled
    _wait(admin, ran, "succeeded")
    cli.ok("job", "cancel", big, "--yes")
    history = tmp_path / "history.csv"
    res = cli.ok("job", "export", "--tenant", name, "-f", str(history))
    assert f"exported 2 jobs; 1 that never ran left out to {history}" in res.stderr
    rows = {r["job_id"]: r for r in csv.DictReader(history.open())}
    assert set(rows) == set(ran)
    first = rows[ran[0]]
    assert (first["tenant"], first["workers"], first["devices"], first["accelerator"], first["cpus"],
            first["memory"], first["submit_s"]) == (name, "2", "4", "a800", "8", "64Gi", "0.000")
    assert 0.25 <= float(first["duration_s"]) < 5  # the sleep executor ran it for 0.3 s
    shown = dict(line.split(":", 1) for line in cli.ok("job", "get", ran[0]).stdout.splitlines())
    assert shown["Ran"].strip() == f"{float(first['duration_s']):.1f} s"

    trace = load_csv_trace(history)
    job = next(j for j in trace.jobs if j.id == ran[0])
    assert (job.workers, job.per_worker, job.accelerator_types, job.cpus, job.memory_bytes) == (
        2, 2, ("a800",), 8, 64 * 2**30)
    assert trace.observed["avg_queue_s"] == pytest.approx(
        sum(float(r["queue_s"]) for r in rows.values()) / 2, abs=1e-3)

    center = tmp_path / "center.yaml"
    center.write_text(CENTER_YAML + f"  - {{name: {name}, guaranteed: 1.248P, limit: 2.496P}}\n")
    out = tmp_path / "whatif"
    res = cli.ok("simulate", "--trace", str(history), "--center", str(center), "--policy", "aicc",
                 "--quota", f"{name}=2.496P", "--out", str(out), "--no-plots")
    assert "as observed (the trace's own run): avg queue" in res.stdout
    assert "the guarantees sum to" not in res.stderr  # 3.12P (acme) + 2.496P of about 20P
    summary = json.loads((out / "summary.json").read_text())
    assert summary["aicc"]["finished"] == summary["aicc+whatif"]["finished"] == 2
    assert summary["aicc"]["guaranteed_devices_by_tenant"][name] == 4  # as is: 1.248P of 312T devices
    assert summary["aicc+whatif"]["guaranteed_devices_by_tenant"][name] == 8  # 2.496P
    assert f"aicc, as is -> with {name}=2.496P:" in res.stdout
    row = next(line.split() for line in res.stdout.splitlines() if line.startswith(name))
    assert row[1:4] == ["4", "->", "8"]
    assert summary["_trace"]["quota"] == [f"{name}=2.496P"]
    assert summary["_trace"]["observed"]["avg_queue_s"] == pytest.approx(trace.observed["avg_queue_s"])

    res = cli.ok("simulate", "--trace", str(history), "--center", str(center), "--policy", "aicc",
                 "--quota", f"{name}=18P", "--out", str(tmp_path / "oversold"), "--no-plots")
    assert f"with {name}=18P the guarantees sum to 21.12P, more than the center's 20.1P" in res.stderr

    # Bad input: one line each, and nothing replayed.
    assert "jobs of tenants the center file lacks: " + name in cli.fails(
        "simulate", "--trace", str(history), "--out", str(tmp_path / "x"))
    assert "no tenant 'nobody' here" in cli.fails(
        "simulate", "--trace", str(history), "--center", str(center), "--quota", "nobody=1P",
        "--out", str(tmp_path / "x"))
    assert "cannot read compute '40X'" in cli.fails(
        "simulate", "--trace", str(history), "--center", str(center), "--quota", f"{name}=40X",
        "--out", str(tmp_path / "x"))
    assert "guaranteed must not exceed limit" in cli.fails(
        "simulate", "--trace", str(history), "--center", str(center), "--quota", f"{name}=2P:1P",
        "--out", str(tmp_path / "x"))
    assert not (tmp_path / "x").exists()


def test_export_with_nothing_finished_says_so(cli: Cli, new_tenant: NewTenant) -> None:
    name, _ = new_tenant()
    assert cli.fails("job", "export", "--tenant", name) == (
        f"error: no finished job that ran of {name}: nothing to export")
    assert "--since: cannot read time" in cli.fails("job", "export", "--since", "yesterday-ish")


def test_the_centers_history_replayed_queues_as_it_was_observed_to(
        cli: Cli, admin: Client, server: Any, new_tenant: NewTenant, tmp_path: Path) -> None:
    """A what-if is only as good as its replay: under the quotas it ran with, the exported
    history must queue as the live service did (the same engine and core, simulated time)."""
    tenants = [new_tenant(guaranteed="4.992P", limit="9.984P") for _ in range(2)]  # 16 a800, up to 32
    since = datetime.now(UTC).isoformat()
    rng = random.Random(7)
    ids = []
    with Client(server.url, tenants[0][1]) as one, Client(server.url, tenants[1][1]) as two:
        for i in range(60):
            workers, devices = rng.choice([(1, 1), (1, 4), (1, 8), (2, 8)])
            ids.append((one, two)[i % 2].submit(job_spec(
                f"f{i}", devices=devices, workers=workers, sleep_s=round(rng.uniform(1.0, 3.0), 2))).id)
            time.sleep(rng.expovariate(1 / 0.05))
    _wait(admin, ids, "succeeded", timeout_s=120)
    history = tmp_path / "history.csv"
    cli.ok("job", "export", "--since", since, "-f", str(history))
    center = tmp_path / "center.yaml"
    center.write_text(CENTER_YAML + "".join(
        f"  - {{name: {name}, guaranteed: 4.992P, limit: 9.984P}}\n" for name, _ in tenants))
    out = tmp_path / "replay"
    cli.ok("simulate", "--trace", str(history), "--center", str(center), "--policy", "center",
           "--out", str(out), "--no-plots")
    summary = json.loads((out / "summary.json").read_text())
    observed, replayed = summary["_trace"]["observed"]["avg_queue_s"], summary["center"]["avg_queue_s"]
    assert summary["center"]["finished"] == 60
    assert observed > 2.0  # the center was overloaded: there is queueing to reproduce
    assert abs(replayed - observed) <= 0.15 * observed, (replayed, observed)
