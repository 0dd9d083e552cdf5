"""The shipped Prometheus rules: promtool accepts them, their unit tests pass and cover every
alert firing and not firing, and they follow the naming conventions."""

from __future__ import annotations

import re
import subprocess
from typing import Any

import yaml

from monitor import metrics as m
from tests.monitor.helpers import RULES, need_binary

RULE_FILES = sorted(RULES.glob("*.yaml"))
TEST_FILES = sorted((RULES / "tests").glob("*.yaml"))
#: Series from elsewhere the rules may read: Prometheus itself and the device exporters.
EXTERNAL = {"up", "DCGM_FI_DEV_GPU_UTIL", "DCGM_FI_DEV_XID_ERRORS", "npu_chip_info_utilization",
            "npu_chip_info_health_status"}


def rules() -> list[dict[str, Any]]:
    return [r for f in RULE_FILES for g in yaml.safe_load(f.read_text())["groups"] for r in g["rules"]]


def test_promtool_check_rules() -> None:
    promtool = need_binary("promtool")
    run = subprocess.run([promtool, "check", "rules", *map(str, RULE_FILES)], capture_output=True,
                         text=True, timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr


def test_promtool_unit_tests_pass() -> None:
    promtool = need_binary("promtool")
    run = subprocess.run([promtool, "test", "rules", *map(str, TEST_FILES)], capture_output=True,
                         text=True, timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.count("SUCCESS") == len(TEST_FILES)


def test_every_alert_is_tested_firing_and_not_firing() -> None:
    alerts = {r["alert"] for r in rules() if "alert" in r}
    firing: set[str] = set()
    silent: set[str] = set()
    for f in TEST_FILES:
        for case in yaml.safe_load(f.read_text())["tests"]:
            for t in case.get("alert_rule_test", []):
                (firing if t.get("exp_alerts") else silent).add(t["alertname"])
    assert alerts == firing, f"never tested firing: {alerts - firing}"
    assert alerts == silent, f"never tested silent: {alerts - silent}"


def test_alerts_follow_the_conventions() -> None:
    alerts = [r for r in rules() if "alert" in r]
    names = {a["alert"] for a in alerts}
    assert {"AICCSchedulerDown", "AICCSchedulingStalled", "AICCTenantAboveLimit",
            "AICCQuotaNearlyExhausted", "AICCCapacityLow", "AICCJobsPendingWhileCapacityFree",
            "AICCAPIHighErrorRate", "AICCAPIHighLatency", "AICCReconcileErrors",
            "AICCAcceleratorUnhealthy"} <= names
    for a in alerts:
        assert re.fullmatch(r"AICC([A-Z][a-z0-9]*|API|GPU)+", a["alert"]), a["alert"]
        assert a["labels"]["severity"] in ("critical", "warning", "info")
        assert a["annotations"]["summary"] and a["annotations"]["description"]


def test_recording_rules_are_level_metric_operations() -> None:
    for r in rules():
        if "record" in r:
            assert re.fullmatch(r"[a-z_]*:[a-zA-Z_][a-zA-Z0-9_]*:[a-z0-9_]+", r["record"]), r["record"]


def test_rules_read_only_declared_metrics() -> None:
    declared = {d.name for d in m.ALL_METRICS}
    declared |= {f"{d.name}_{s}" for d in m.ALL_METRICS if d.kind is m.Kind.HISTOGRAM
                 for s in ("bucket", "sum", "count")}
    recorded = {r["record"] for r in rules() if "record" in r}
    for r in rules():
        expr = re.sub(r'"[^"]*"', '""', r["expr"])  # label values are not names
        for name in re.findall(r"(?<![\w:])(aicc_[a-z_]+)(?![\w:])", expr):
            assert name in declared, f"{name} in {r.get('record') or r.get('alert')}"
        for name in re.findall(r"(?<![\w:])([a-z_]*:[\w]+:[\w]+)", expr):
            assert name in recorded, f"{name} in {r.get('record') or r.get('alert')}"
        for name in re.findall(r"\b((?:DCGM|npu)_\w+|up)\b(?=\s*[{\[)]|\s*$)", expr):
            assert name in EXTERNAL, name
