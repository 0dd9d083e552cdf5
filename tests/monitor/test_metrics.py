"""The metric definitions follow the conventions, and the exposition is exactly them."""

from __future__ import annotations

import re
from dataclasses import replace

from fastapi import FastAPI
from fastapi.testclient import TestClient

from monitor import Monitor
from monitor import metrics as m
from scheduler.core import Policy
from scheduler.domain import JobKind, JobSpec, Resources, Tenant
from scheduler.engine import Engine, ManualClock
from scheduler.executors.sleep import SleepExecutor
from scheduler.store.memory import MemoryStore
from tests.monitor.helpers import samples, small_center

#: (_flop: an amount of work, floating-point operations, the base unit of a budget; _flops: a rate)
UNIT_SUFFIXES = ("_seconds", "_flops", "_flop", "_devices", "_jobs", "_total", "_info", "_weight", "_nodes",
                 "_ratio")
#: counts and flags with no unit to name (aicc_leader: 1 on the leader, as kube's leader metrics)
UNITLESS = ("aicc_nodes", "aicc_leader", "aicc_leader_epoch")


def test_definitions_follow_the_conventions() -> None:
    names = [d.name for d in m.ALL_METRICS]
    assert len(names) == len(set(names))
    for d in m.ALL_METRICS:
        assert re.fullmatch(r"aicc_[a-z0-9_]+", d.name), d.name
        assert d.name.endswith("_total") == (d.kind is m.Kind.COUNTER), d.name
        assert d.name.endswith(UNIT_SUFFIXES) or d.name in UNITLESS, d.name
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
    # vr in a tree under org: the subtree families are exposed too
    tenants = {**cfg.tenants, "org": Tenant("org", cfg.tenants["vr"].quota),
               "vr": replace(cfg.tenants["vr"], parent="org")}
    engine = Engine(cfg.center, MemoryStore(tenants), monitor.wrap_executor(SleepExecutor(clock)),
                    clock, Policy(), observers=[monitor.observer])
    monitor.attach(engine)
    engine.budget_figures = {"finance": (100.0, 30.0)}  # (the service keeps them from the ledger)
    for tenant in ("vr", "finance"):
        engine.submit(JobSpec(tenant, "x", JobKind.TRAINING, 1, Resources(4), runtime_env={"sleep_s": 50}))
    engine.step()
    clock.advance_to(10.0)
    engine.sync()
    engine.step()
    app = FastAPI()
    monitor.mount(app)
    TestClient(app).get("/metrics")
    body, content_type = monitor.exposition()
    assert content_type.startswith("text/plain")
    exposed = {name for name, _ in samples(body)}
    expected: set[str] = set()
    for d in m.ALL_METRICS:
        if d.kind is m.Kind.HISTOGRAM:
            expected |= {f"{d.name}_{s}" for s in ("bucket", "sum", "count")}
        else:
            expected.add(d.name)
    assert exposed == expected  # no _created series: Prometheus would store each as a series
    om, om_type = monitor.exposition("application/openmetrics-text; version=1.0.0")
    assert om_type.startswith("application/openmetrics-text")
    assert b"aicc_http_request_duration_seconds_count{" in om and b"_created" not in om


def test_readme_lists_every_metric() -> None:
    from tests.monitor.helpers import REPO

    readme = (REPO / "monitor" / "README.md").read_text()
    for d in m.ALL_METRICS:
        assert f"`{d.name}`" in readme, d.name
