"""One source: the chart reads the rules and dashboards of monitor/ through
symbolic links, and the 610P values are generated from the shipped center."""

from __future__ import annotations

import subprocess
import sys

import yaml

from tests.deploy.chart import CHART, ROOT


def test_the_chart_links_to_the_monitor_rules_and_dashboards() -> None:
    for name in ("rules", "dashboards"):
        link = CHART / "files" / name
        assert link.is_symlink(), f"{link} must be a symbolic link into monitor/"
        assert link.resolve() == (ROOT / "monitor" / name).resolve()
    assert sorted((CHART / "files" / "rules").glob("*.yaml")), "no rule files reach the chart"


def test_center_610p_values_are_the_shipped_center() -> None:
    values = yaml.safe_load((ROOT / "deploy" / "helm" / "center-610p.yaml").read_text())
    assert values["center"]["file"] == yaml.safe_load((ROOT / "scheduler" / "data" / "center.yaml").read_text())
    proc = subprocess.run([sys.executable, str(ROOT / "helm" / "sync.py"), "--check"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
