"""deploy/compose.yaml: a valid Compose file whose mounts, addresses and shared
Prometheus/Grafana provisioning fit together (docker itself cannot pull images here)."""

from __future__ import annotations

import fnmatch
import shlex
import shutil
import subprocess
from pathlib import Path, PurePosixPath

import pytest
import yaml

from tests.deploy.chart import ROOT, unavailable
from tests.deploy.compose import (
    DEPLOY,
    MissingVariable,
    bind_sources,
    env_example,
    interpolate,
    parse,
    raw,
    required_variables,
)

ENV = {k: v or f"test-{k.lower()}" for k, v in env_example().items()}


def test_it_is_a_valid_compose_file_with_the_five_services() -> None:
    compose = parse(raw(), ENV)
    compose.validate()
    assert sorted(compose.services) == ["aicc", "grafana", "postgres", "prometheus", "ray-head"]
    compose.to_spec()  # and the Compose Specification's own model accepts it


def test_mistakes_are_caught_by_the_same_parser() -> None:
    doc = raw()
    doc["services"]["aicc"]["helthcheck"] = {}
    with pytest.raises(ValueError, match="helthcheck"):
        parse(doc, ENV)
    doc = raw()
    doc["services"]["aicc"]["depends_on"]["postgres"]["condition"] = "service_helthy"
    with pytest.raises(ValueError, match="service_helthy"):
        parse(doc, ENV)


def test_every_secret_must_be_given_and_is_listed_in_env_example() -> None:
    assert required_variables() == {"AICC_ADMIN_TOKEN", "POSTGRES_PASSWORD", "RAY_AUTH_TOKEN",
                                     "GRAFANA_ADMIN_PASSWORD"}
    assert required_variables() <= set(env_example())
    for name in required_variables():
        with pytest.raises(MissingVariable, match=name):
            interpolate(raw(), {k: v for k, v in ENV.items() if k != name})


def test_mounts_exist_named_volumes_are_declared_and_ports_stay_on_loopback() -> None:
    doc = raw()
    for service, host, _ in bind_sources(doc, ENV):
        assert host.exists(), f"{service}: {host} does not exist"
    for name, svc in doc["services"].items():
        for vol in svc.get("volumes", []):
            source = vol.split(":")[0]
            if not source.startswith((".", "/", "$")):  # a named volume
                assert source in doc["volumes"], f"{name}: volume {source} is not declared"
        for port in interpolate(svc.get("ports", []), ENV):
            assert port.startswith("127.0.0.1:"), f"{name} publishes {port} beyond loopback"


def test_aicc_is_wired_to_postgres_ray_and_its_center() -> None:
    doc = interpolate(raw(), ENV)
    aicc = doc["services"]["aicc"]
    assert aicc["entrypoint"] == ["/bin/sh", "-c"]
    (script,) = aicc["command"]
    assert subprocess.run(["sh", "-n", "-c", script], timeout=10).returncode == 0
    start, serve = script.split(" && ")
    assert shlex.split(start)[:3] == ["ray", "start", "--address=$RAY_ADDRESS"]  # the shell expands it
    args = shlex.split(serve)
    assert args[:3] == ["exec", "aicc", "serve"]
    assert args[args.index("--db") + 1] == "$AICC_DATABASE_URL"
    assert args[args.index("--executor") + 1] == "$AICC_EXECUTOR"
    env = aicc["environment"]
    assert env["AICC_DATABASE_URL"] == f"postgresql+psycopg://aicc:{ENV['POSTGRES_PASSWORD']}@postgres:5432/aicc"
    assert env["AICC_EXECUTOR"] == "sleep"
    assert aicc["environment"]["RAY_ADDRESS"] == "ray-head:6379"
    assert aicc["environment"]["RAY_DASHBOARD_ADDRESS"] == "http://ray-head:8265"
    head = doc["services"]["ray-head"]
    assert "--port=6379" in head["command"]
    assert "--labels=aicc.io/node=ray-head,aicc.io/accelerator=a800,aicc.io/pool=a800" in head["command"]
    assert aicc["environment"]["RAY_AUTH_TOKEN"] == head["environment"]["RAY_AUTH_TOKEN"]
    assert aicc["environment"]["RAY_AUTH_MODE"] == head["environment"]["RAY_AUTH_MODE"] == "token"
    assert aicc["image"] == head["image"]  # the same Ray on both sides
    center = next(h for s, h, c in bind_sources(raw(), ENV) if s == "aicc" and c == "/etc/aicc/center.yaml")
    from scheduler.centerfile import load_center

    assert load_center(center).center.name == "reference-610p"
    assert aicc["read_only"] is True and "/tmp" in aicc["tmpfs"]


def _mounted(service: str, container_path: str) -> Path:
    """The host path behind a container path of a service (bind mounts only)."""
    for svc, host, target in bind_sources(raw(), ENV):
        if svc == service and PurePosixPath(container_path).is_relative_to(target):
            return host / PurePosixPath(container_path).relative_to(target)
    raise AssertionError(f"{service} mounts nothing at {container_path}")


def test_prometheus_scrapes_aicc_as_job_aicc_with_the_shipped_rules(tmp_path: Path) -> None:
    config_host = _mounted("prometheus", "/etc/prometheus/prometheus.yml")
    config = yaml.safe_load(config_host.read_text())
    jobs = {j["job_name"]: j for j in config["scrape_configs"]}
    targets = [t for sc in jobs["aicc"].get("static_configs", []) for t in sc["targets"]]
    assert "aicc:8080" in targets, f"job aicc scrapes {targets}, not the compose service aicc:8080"
    rule_files = []
    for pattern in config.get("rule_files", []):
        host_pattern = _mounted("prometheus", pattern)
        rule_files += sorted(host_pattern.parent.glob(host_pattern.name))
    shipped = sorted((ROOT / "monitor" / "rules").glob("*.yaml"))
    assert [p.resolve() for p in rule_files] == [p.resolve() for p in shipped]
    promtool = shutil.which("promtool")
    if promtool is None:
        unavailable("promtool (Debian package prometheus) checks the compose Prometheus config")
    local = dict(config, rule_files=[str(p) for p in rule_files])
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(local))
    proc = subprocess.run([promtool, "check", "config", "--syntax-only", str(tmp_path / "prometheus.yml")],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_grafana_provisions_the_prometheus_datasource_and_the_shipped_dashboards() -> None:
    provisioning = _mounted("grafana", "/etc/grafana/provisioning")
    sources = [ds for f in sorted((provisioning / "datasources").glob("*.y*ml"))
               for ds in yaml.safe_load(f.read_text()).get("datasources", [])]
    prom = [ds for ds in sources if ds.get("type") == "prometheus"]
    assert prom and prom[0]["url"].rstrip("/") == "http://prometheus:9090"
    providers = [p for f in sorted((provisioning / "dashboards").glob("*.y*ml"))
                 for p in yaml.safe_load(f.read_text()).get("providers", [])]
    paths = [p["options"]["path"] for p in providers]
    host_dirs = {_mounted("grafana", path).resolve() for path in paths}
    dashboards = (ROOT / "monitor" / "dashboards").resolve()
    assert any(dashboards == d or dashboards.is_relative_to(d) for d in host_dirs), paths
    shipped = sorted(p.name for p in dashboards.glob("*.json"))
    assert shipped and all(fnmatch.fnmatch(n, "*.json") for n in shipped)


def test_the_dockerfile_runs_as_the_uid_the_chart_expects() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    assert "USER 10001:10001" in text and 'ENTRYPOINT ["aicc"]' in text
    values = yaml.safe_load((ROOT / "helm" / "aicc" / "values.yaml").read_text())
    assert values["podSecurityContext"]["runAsUser"] == 10001
    assert 'ARG RAY_VERSION=2.60.0' in text
    assert values["ray"]["cluster"]["rayVersion"] == "2.60.0"
    assert raw()["x-aicc-image"]["build"]["args"]["RAY_VERSION"] == "2.60.0"
