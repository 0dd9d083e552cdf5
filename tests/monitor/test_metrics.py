"""The metric definitions follow the conventions, and the exposition is exactly them."""

from __future__ import annotations

import re

from fastapi import FastAPI
from fastapi.testclient import TestClient

from monitor import Monitor
from monitor import metrics as m
from scheduler.core import Policy
from scheduler.domain import JobKind, JobSpec, Resources
from scheduler.engine import Engine, ManualClock, MemoryStore
from scheduler.executors.sleep import SleepExecutor
from tests.monitor.helpers import samples, small_center

UNIT_SUFFIXES = ("_seconds", "_flops", "_devices", "_jobs", "_total", "_info", "_weight", "_nodes")


def test_definitions_follow_the_conventions() -> None:
    names = [d.name for d in m.ALL_METRICS]
    assert len(names) == len(set(names))
    for d in m.ALL_METRICS:
        assert re.fullmatch(r"aicc_[a-z0-9_]+", d.name), d.name
        assert d.name.endswith("_total") == (d.kind is m.Kind.COUNTER), d.name
        assert d.name.endswith(UNIT_SUFFIXES) or d.name == "aicc_nodes", d.name
        assert set(d.labels) <= m.ALLOWED_LABELS, d.name
        assert "job" not in d.labels and "job_id" not in d.labels and "instance" not in d.labels
        assert d.help.endswith(".") and len(d.help) > 20
        if d.kind is m.Kind.HISTOGRAM:
            assert list(d.buckets) == sorted(d.buckets)
    node_labelled = [d.name for d in m.ALL_METRICS if "node" in d.labels or "device" in d.labels]
    assert node_labelled == ["aicc_device_allocated_info"]


def test_exposition_is_exactly_the_declared_families() -> None:
    cfg = small_center()
    clock = ManualClock(0.0)
    monitor = Monitor()
    engine = Engine(cfg.center, MemoryStore(cfg.tenants), monitor.wrap_executor(SleepExecutor(clock)),
                    clock, Policy(), observers=[monitor.observer])
    monitor.attach(engine)
    for tenant in ("vr", "finance"):
        engine.submit(JobSpec(tenant, "x", JobKind.TRAINING, 1, Resources(4), runtime_env={"sleep_s": 50}))
    engine.step()
    clock.advance_to(10.0)
    engine.sync()
    engine.step()
    app = FastAPI()
    monitor.mount(app)
    TestClient(app).get("/metrics")
    exposed = {name for name, _ in samples(monitor.exposition()[0])}
    expected: set[str] = set()
    for d in m.ALL_METRICS:
        if d.kind is m.Kind.HISTOGRAM:
            expected |= {f"{d.name}_{s}" for s in ("bucket", "sum", "count", "created")}
        elif d.kind is m.Kind.COUNTER and d in m.STATE_METRICS:  # read at scrape time
            expected.add(d.name)
        elif d.kind is m.Kind.COUNTER:
            expected |= {d.name, d.family + "_created"}
        else:
            expected.add(d.name)
    expected.discard("aicc_jobs_requeued_total")  # nothing was requeued
    expected.discard("aicc_jobs_requeued_created")
    assert "aicc_reconcile_errors_created" in expected
    assert exposed == expected


def test_readme_lists_every_metric() -> None:
    from tests.monitor.helpers import REPO

    readme = (REPO / "monitor" / "README.md").read_text()
    for d in m.ALL_METRICS:
        assert f"`{d.name}`" in readme, d.name
