"""The Grafana dashboards: Classic JSON as monitor.dashboard_build makes it, stable uids,
a datasource variable used by every query, tenant/accelerator variables, and queries that
read only metrics aicc declares (or its recording rules)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import yaml

from monitor import dashboard_build
from monitor import metrics as m
from tests.monitor.helpers import DASHBOARDS, RULES

UIDS = {"aicc-center-overview.json": "aicc-center-overview", "aicc-tenant.json": "aicc-tenant",
        "aicc-scheduler-health.json": "aicc-scheduler-health"}


def boards() -> dict[str, dict[str, Any]]:
    return {p.name: json.loads(p.read_text()) for p in sorted(DASHBOARDS.glob("*.json"))}


def test_files_are_what_the_builder_makes(tmp_path: Any) -> None:
    for path in dashboard_build.write(tmp_path):
        assert path.read_text() == (DASHBOARDS / path.name).read_text(), (
            f"{path.name} is stale: run python -m monitor.dashboard_build")
    assert {p.name for p in DASHBOARDS.glob("*.json")} == {p.name for p in tmp_path.glob("*.json")}


def test_stable_uids_and_titles() -> None:
    found = boards()
    assert {name: b["uid"] for name, b in found.items()} == UIDS
    assert len({b["title"] for b in found.values()}) == 3
    for b in found.values():
        assert b.get("id") is None and "aicc" in b["tags"]


@pytest.mark.parametrize("name", sorted(UIDS))
def test_every_query_uses_the_datasource_variable(name: str) -> None:
    b = boards()[name]
    variables = {v["name"]: v for v in b["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    assert "tenant" in variables
    if name != "aicc-scheduler-health.json":
        assert "accelerator" in variables
    ids = [p["id"] for p in b["panels"]]
    assert len(ids) == len(set(ids))
    for p in b["panels"]:
        assert p["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        assert p["targets"], p["title"]
        assert p["gridPos"]["x"] >= 0 and p["gridPos"]["x"] + p["gridPos"]["w"] <= 24
        for t in p["targets"]:
            assert t["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
            assert t["expr"].strip()
    for v in variables.values():
        if v["type"] == "query":
            assert v["datasource"]["uid"] == "${datasource}"


def test_queries_read_only_declared_metrics_and_recording_rules() -> None:
    declared = {d.name for d in m.ALL_METRICS}
    declared |= {f"{d.name}_{s}" for d in m.ALL_METRICS if d.kind is m.Kind.HISTOGRAM
                 for s in ("bucket", "sum", "count")}
    recorded = {r["record"] for f in RULES.glob("*.yaml")
                for g in yaml.safe_load(f.read_text())["groups"] for r in g["rules"] if "record" in r}
    for b in boards().values():
        exprs = [t["expr"] for p in b["panels"] for t in p["targets"]]
        exprs += [v["definition"] for v in b["templating"]["list"] if v["type"] == "query"]
        for expr in exprs:
            bare = re.sub(r'"[^"]*"', '""', expr)
            for name in re.findall(r"(?<![\w:])(aicc_[a-z_]+)(?![\w:])", bare):
                assert name in declared, f"{b['title']}: {name}"
            for name in re.findall(r"(?<![\w:])([a-z_]*:[\w]+:[\w]+)", bare):
                assert name in recorded, f"{b['title']}: {name}"


def test_the_issue_panels_are_there() -> None:
    titles = {b["uid"]: {p["title"] for p in b["panels"]} for b in boards().values()}
    assert {"Capacity vs allocated", "Allocated by tenant", "Allocated by accelerator type",
            "Free devices", "Queue depth by tenant", "Preemptions by reason"} <= titles["aicc-center-overview"]
    assert {"Compute: guaranteed, limit, in use, borrowed", "Jobs by state", "Wait time to admission",
            "Pending jobs by reason"} <= titles["aicc-tenant"]
    assert {"Step duration", "Submissions, admissions, completions", "API requests by route",
            "API latency p99 by route", "API server error ratio", "Reconcile repairs"} <= titles[
        "aicc-scheduler-health"]
