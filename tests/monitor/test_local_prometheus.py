"""The config ``make run`` starts Prometheus with: the aicc job and the shipped rules."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from monitor.local_prometheus import JOB, rule_files, write_config
from tests.monitor.helpers import RULES, need_binary


def test_config_scrapes_aicc_with_the_shipped_rules(tmp_path: Path) -> None:
    path = write_config(tmp_path / "prometheus.yml", "127.0.0.1:8080", scrape_interval="2s",
                        extra_jobs={"dcgm": ["127.0.0.1:9400"]})
    config = yaml.safe_load(path.read_text())
    assert config["global"] == {"scrape_interval": "2s", "evaluation_interval": "2s"}
    assert [j["job_name"] for j in config["scrape_configs"]] == [JOB, "dcgm"]
    assert config["scrape_configs"][0]["static_configs"] == [{"targets": ["127.0.0.1:8080"]}]
    assert sorted(Path(p).name for p in config["rule_files"]) == ["aicc-alerts.yaml", "aicc-recording.yaml"]
    assert rule_files() == sorted(RULES.glob("*.yaml"))
    promtool = need_binary("promtool")
    run = subprocess.run([promtool, "check", "config", str(path)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr


def test_deploy_prometheus_config_is_valid_with_the_rules(tmp_path: Path) -> None:
    text = (RULES.parents[1] / "deploy" / "prometheus" / "prometheus.yml").read_text()
    config = yaml.safe_load(text)
    assert config["scrape_configs"][0]["job_name"] == JOB
    local = tmp_path / "prometheus.yml"
    local.write_text(text.replace("/etc/prometheus/rules/*.yaml", f"{RULES}/*.yaml"))
    promtool = need_binary("promtool")
    run = subprocess.run([promtool, "check", "config", str(local)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "2 rule files found" in run.stdout


def test_grafana_file_provisioning_matches_the_api_provisioning() -> None:
    from monitor.grafana import DATASOURCE_UID, FOLDER_UID

    root = RULES.parents[1] / "deploy" / "grafana" / "provisioning"
    ds = yaml.safe_load((root / "datasources" / "aicc.yaml").read_text())["datasources"][0]
    assert ds["uid"] == DATASOURCE_UID and ds["type"] == "prometheus"
    provider = yaml.safe_load((root / "dashboards" / "aicc.yaml").read_text())["providers"][0]
    assert provider["folderUid"] == FOLDER_UID
    compose = (RULES.parents[1] / "deploy" / "compose.yaml").read_text()
    assert f"../monitor/dashboards:{provider['options']['path']}:ro" in compose


def test_maybe_start_says_where_to_look_or_why_not(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import monitor.local_prometheus as lp

    monkeypatch.setattr(lp, "prometheus_binary", lambda: None)
    proc, line = lp.maybe_start("127.0.0.1:8080", 19999, tmp_path)
    assert proc is None and "apt-get install prometheus" in line
