"""The chart as the real `helm template` renders it: what each object says. (That the
server accepts every object is checked against a real kube-apiserver in tests/k8s.)"""

from __future__ import annotations

import base64
import json
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.chart import CHART, FULL_610P, ROOT, VALUES_DIR, Helm, by_kind, one

pytestmark = pytest.mark.k8s

EXAMPLES = {
    "defaults": (),
    "610p": FULL_610P,
    **{p.stem: (p,) for p in sorted(VALUES_DIR.glob("good-*.yaml"))},
}


@pytest.fixture(scope="module")
def rendered(helm: Helm) -> dict[str, list[dict[str, Any]]]:
    return {name: helm.manifests(files) for name, files in EXAMPLES.items()}


def container(doc: dict[str, Any], name: str) -> dict[str, Any]:
    return next(c for c in doc["spec"]["template"]["spec"]["containers"] if c["name"] == name)


@pytest.mark.parametrize("example", sorted(EXAMPLES))
def test_every_object_has_the_recommended_labels(rendered, example: str) -> None:  # type: ignore[no-untyped-def]
    for d in rendered[example]:
        labels = d["metadata"]["labels"]
        assert labels["helm.sh/chart"] == "aicc-0.1.0"
        assert labels["app.kubernetes.io/name"] == "aicc"
        assert labels["app.kubernetes.io/instance"] == "aicc"
        assert labels["app.kubernetes.io/managed-by"] == "Helm"
        assert labels["app.kubernetes.io/version"] == "0.1.0"


def test_defaults_make_a_runnable_non_root_read_only_scheduler(rendered) -> None:  # type: ignore[no-untyped-def]
    docs = rendered["defaults"]
    assert sorted(d["kind"] for d in docs) == sorted(
        ["Deployment", "Service", "Secret", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Pod"])
    dep = one(docs, "Deployment")
    pod = dep["spec"]["template"]["spec"]
    c = container(dep, "scheduler")
    assert dep["spec"]["replicas"] == 1 and dep["spec"]["strategy"]["type"] == "Recreate"
    assert c["args"][:3] == ["serve", "--host", "0.0.0.0"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    assert c["securityContext"]["allowPrivilegeEscalation"] is False
    mounts = {m["mountPath"] for m in c["volumeMounts"]}
    assert {"/tmp", "/var/lib/aicc"} <= mounts
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert c["startupProbe"]["httpGet"]["path"] == "/healthz"
    env = {e["name"]: e for e in c["env"]}
    ref = env["AICC_ADMIN_TOKEN"]["valueFrom"]["secretKeyRef"]
    secret = one(docs, "Secret")
    assert ref == {"name": secret["metadata"]["name"], "key": "token"}
    assert len(base64.b64decode(secret["data"]["token"])) == 48
    assert "--db" not in c["args"] and "--center" not in c["args"]  # SQLite, shipped center
    svc = one(docs, "Service")
    assert svc["spec"]["selector"] == dep["spec"]["selector"]["matchLabels"]
    assert svc["spec"]["ports"][0]["port"] == 8080


def test_rbac_reads_nodes_namespaces_and_quotas_and_writes_only_when_asked(rendered) -> None:  # type: ignore[no-untyped-def]
    def verbs(docs: list[dict[str, Any]]) -> dict[str, set[str]]:
        out: dict[str, set[str]] = {}
        for rule in one(docs, "ClusterRole")["rules"]:
            for r in rule["resources"]:
                out.setdefault(r, set()).update(rule["verbs"])
        return out

    assert verbs(rendered["defaults"]) == {r: {"get", "list", "watch"} for r in ("nodes", "namespaces", "resourcequotas")}
    full = verbs(rendered["610p"])
    assert full["nodes"] == {"get", "list", "watch"}
    assert {"create", "patch"} <= full["namespaces"] and {"create", "patch"} <= full["resourcequotas"]
    job = one(rendered["610p"], "Job")  # makes the namespaces and quotas after install/upgrade
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "post-install,post-upgrade"
    assert job["spec"]["template"]["spec"]["containers"][0]["args"] == [
        "kube", "sync-quotas", "--center", "/etc/aicc/center.yaml"]
    assert job["spec"]["template"]["spec"]["serviceAccountName"] == "aicc"
    assert by_kind(rendered["defaults"], "Job") == []
    binding = one(rendered["610p"], "ClusterRoleBinding")
    assert binding["subjects"][0]["name"] == one(rendered["610p"], "ServiceAccount")["metadata"]["name"]
    assert by_kind(rendered["good-external-ray"], "ClusterRole") == []


def test_the_helm_test_hook_calls_readyz_on_the_service(rendered) -> None:  # type: ignore[no-untyped-def]
    pod = one(rendered["defaults"], "Pod")
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    script = pod["spec"]["containers"][0]["command"][-1]
    assert "http://aicc.aicc.svc:8080/readyz" in script
    compile(script, "readyz", "exec")  # the probe script is valid Python


def test_the_610p_values_render_the_center_ray_cluster_and_monitoring(rendered) -> None:  # type: ignore[no-untyped-def]
    from scheduler.centerfile import build_center, load_center

    docs = rendered["610p"]
    cm = next(d for d in by_kind(docs, "ConfigMap") if d["metadata"]["name"] == "aicc-center")
    center = build_center(yaml.safe_load(cm["data"]["center.yaml"]))
    shipped = load_center()
    assert center.center == shipped.center and center.tenants == shipped.tenants
    c = container(one(docs, "Deployment"), "scheduler")
    # executor ray, attached: a zero-resource Ray node in the container, then the service
    assert c["command"] == ["/bin/sh", "-c"]
    script = c["args"][0]
    assert subprocess.run(["sh", "-n", "-c", script], timeout=10).returncode == 0
    start, serve = script.split(" && ")
    assert shlex.split(start) == ["ray", "start", "--address=$RAY_ADDRESS", "--num-cpus=0", "--num-gpus=0",
                                  "--disable-usage-stats"]
    args = shlex.split(serve)
    assert args[:3] == ["exec", "aicc", "serve"]
    assert args[args.index("--center") + 1] == "/etc/aicc/center.yaml"
    assert args[args.index("--executor") + 1] == "ray"
    assert args[args.index("--db") + 1] == "$AICC_DATABASE_URL"
    env = {e["name"]: e for e in c["env"]}
    assert env["AICC_DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {"name": "aicc-database", "key": "url"}
    assert env["AICC_ADMIN_TOKEN"]["valueFrom"]["secretKeyRef"] == {"name": "aicc-admin", "key": "token"}
    assert env["RAY_ADDRESS"]["value"] == "aicc-ray-head-svc.aicc.svc:6379"
    assert env["RAY_DASHBOARD_ADDRESS"]["value"] == "http://aicc-ray-head-svc.aicc.svc:8265"
    # The admin token and the database URL come from existing Secrets; the Ray token is made.
    assert [s["metadata"]["name"] for s in by_kind(docs, "Secret")] == ["aicc-ray-auth"]
    assert env["RAY_AUTH_MODE"]["value"] == "token"
    ray_token = env["RAY_AUTH_TOKEN"]["valueFrom"]["secretKeyRef"]
    assert ray_token == {"name": "aicc-ray-auth", "key": "token"}

    ray = one(docs, "RayCluster")
    groups = {g["groupName"]: g for g in ray["spec"]["workerGroupSpecs"]}
    gpu, npu = groups["a800"], groups["ascend910b"]
    gpu_limits = gpu["template"]["spec"]["containers"][0]["resources"]["limits"]
    npu_limits = npu["template"]["spec"]["containers"][0]["resources"]["limits"]
    assert gpu_limits["nvidia.com/gpu"] == "8" and gpu["rayStartParams"]["num-gpus"] == "8"
    assert npu_limits["huawei.com/Ascend910"] == "8" and "nvidia.com/gpu" not in npu_limits
    assert yaml.safe_load(yaml.safe_load(npu["rayStartParams"]["resources"])) == {"NPU": 8}
    assert (gpu["replicas"], npu["replicas"]) == (128, 114)  # the 610P center's node counts
    assert ray["spec"]["headGroupSpec"]["rayStartParams"]["num-cpus"] == "0"
    templates = [ray["spec"]["headGroupSpec"]["template"], gpu["template"], npu["template"]]
    for tpl in templates:  # every Ray container shares aicc's token
        ray_env = {e["name"]: e for e in tpl["spec"]["containers"][0]["env"]}
        assert ray_env["RAY_AUTH_MODE"]["value"] == "token"
        assert ray_env["RAY_AUTH_TOKEN"]["valueFrom"]["secretKeyRef"] == ray_token
    worker_env = {e["name"]: e for e in gpu["template"]["spec"]["containers"][0]["env"]}
    assert worker_env["AICC_NODE_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "spec.nodeName"
    # the Ray node labels the executor builds the center from (top-level: KubeRay >= 1.5), the
    # node name in RAY_OVERRIDE_LABELS, expanded by Kubernetes from the earlier AICC_NODE_NAME
    assert gpu["labels"] == {"aicc.io/accelerator": "a800", "aicc.io/pool": "a800"}
    assert npu["labels"]["aicc.io/accelerator"] == "ascend910b"
    assert "labels" not in gpu["rayStartParams"] and "labels" not in npu["rayStartParams"]
    names = [e["name"] for e in gpu["template"]["spec"]["containers"][0]["env"]]
    assert names.index("AICC_NODE_NAME") < names.index("RAY_OVERRIDE_LABELS")
    override = json.loads(worker_env["RAY_OVERRIDE_LABELS"]["value"])
    assert override == {"aicc.io/node": "$(AICC_NODE_NAME)"}
    center_types = set(center.center.accelerators)
    for g in (gpu, npu):
        assert g["labels"]["aicc.io/accelerator"] in center_types

    sm = one(docs, "ServiceMonitor")
    assert sm["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert sm["spec"]["endpoints"][0]["path"] == "/metrics"
    assert sm["spec"]["jobLabel"] == "app.kubernetes.io/part-of"
    assert one(docs, "Service")["metadata"]["labels"]["app.kubernetes.io/part-of"] == "aicc"  # job="aicc"
    pr = one(docs, "PrometheusRule")
    assert pr["metadata"]["labels"]["release"] == "kube-prometheus-stack"


def test_the_prometheus_rule_holds_exactly_the_shipped_rules(rendered) -> None:  # type: ignore[no-untyped-def]
    shipped = []
    for f in sorted((ROOT / "monitor" / "rules").glob("*.yaml")):
        shipped += yaml.safe_load(f.read_text())["groups"]
    assert shipped, "monitor/rules has no rule groups"
    assert one(rendered["610p"], "PrometheusRule")["spec"]["groups"] == shipped


def test_promtool_accepts_the_rendered_rules(rendered, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    promtool = shutil.which("promtool")
    if promtool is None:
        from tests.k8s.env import unavailable

        unavailable("promtool (Debian package prometheus) checks the PrometheusRule's expressions")
    spec = one(rendered["610p"], "PrometheusRule")["spec"]
    rules = tmp_path / "rules.yaml"
    rules.write_text(yaml.safe_dump(spec))
    proc = subprocess.run([str(promtool), "check", "rules", str(rules)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_dashboards_become_sidecar_config_maps(rendered) -> None:  # type: ignore[no-untyped-def]
    shipped = sorted((ROOT / "monitor" / "dashboards").glob("*.json"))
    maps = [d for d in by_kind(rendered["610p"], "ConfigMap") if "-dashboard-" in d["metadata"]["name"]]
    assert len(maps) == len(shipped)
    for cm in maps:
        assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
        assert cm["metadata"]["annotations"] == {"grafana_folder": "aicc"}
    got = {k: v for cm in maps for k, v in cm["data"].items()}
    assert got == {p.name: p.read_text().rstrip("\n") for p in shipped}


def test_bundled_postgresql_is_wired_by_a_generated_password(rendered) -> None:  # type: ignore[no-untyped-def]
    docs = rendered["good-bundled-postgresql"]
    sts = one(docs, "StatefulSet")
    pg = container(sts, "postgresql")
    assert pg["securityContext"]["readOnlyRootFilesystem"] is True
    assert sts["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] is True
    c = container(one(docs, "Deployment"), "scheduler")
    assert c["args"][c["args"].index("--db") + 1] == "$(AICC_DATABASE_URL)"
    env = {e["name"]: e for e in c["env"]}
    assert env["AICC_DATABASE_URL"]["value"] == (
        "postgresql+psycopg://aicc:$(AICC_DATABASE_PASSWORD)@aicc-postgresql:5432/aicc")
    names = [e["name"] for e in c["env"]]
    assert names.index("AICC_DATABASE_PASSWORD") < names.index("AICC_DATABASE_URL")  # $(VAR) expands
    secrets = {s["metadata"]["name"]: s for s in by_kind(docs, "Secret")}
    assert len(base64.b64decode(secrets["aicc-postgresql"]["data"]["password"])) == 32
    assert base64.b64decode(secrets["aicc-admin-token"]["data"]["token"]) == b"change-me-please"
    # tenants given apart replace those of center.file
    from scheduler.centerfile import build_center

    cm = next(d for d in by_kind(docs, "ConfigMap") if d["metadata"]["name"] == "aicc-center")
    cfg = build_center(yaml.safe_load(cm["data"]["center.yaml"]))
    assert sorted(cfg.tenants) == ["prod", "research"]
    assert one(docs, "ServiceMonitor")["metadata"]["namespace"] == "monitoring"
    assert one(docs, "ServiceMonitor")["spec"]["namespaceSelector"] == {"matchNames": ["aicc"]}


def test_a_changed_center_rolls_the_pod(helm: Helm, tmp_path: Path) -> None:
    def checksum(files: tuple[Path, ...]) -> str:
        dep = one(helm.manifests(files), "Deployment")
        return str(dep["spec"]["template"]["metadata"]["annotations"]["checksum/center"])

    extra = tmp_path / "tenants.yaml"
    extra.write_text("tenants: [{name: solo, guaranteed: 1P, limit: 2P}]\n")
    assert checksum(FULL_610P) != checksum((*FULL_610P, extra))


def test_notes_tell_how_to_reach_it_and_warn_about_an_ephemeral_store(helm: Helm) -> None:
    notes = helm.notes()
    assert "kubectl -n aicc port-forward svc/aicc 8080:8080" in notes
    assert "get secret aicc-admin-token" in notes
    assert "LOST when the pod is replaced" in notes
    full = helm.notes(FULL_610P)
    assert "LOST" not in full and "RAY_ADDRESS=aicc-ray-head-svc.aicc.svc:6379" in full
    assert "a800 (gpu x8) ascend910b (npu x8)" in full


def test_chart_yaml_is_a_v2_application_chart() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["apiVersion"] == "v2" and chart["type"] == "application"
    assert chart["name"] == "aicc" and chart["version"] and chart["appVersion"]


def test_two_replicas_on_postgresql_elect_a_leader_and_roll(rendered) -> None:  # type: ignore[no-untyped-def]
    docs = rendered["good-ha-postgresql"]
    dep = one(docs, "Deployment")
    assert dep["spec"]["replicas"] == 2
    assert dep["spec"]["strategy"] == {"type": "RollingUpdate",
                                       "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}
    env = {e["name"]: e for e in container(dep, "scheduler")["env"]}
    assert env["AICC_HA"]["value"] == "true" and env["AICC_LEASE_TTL"]["value"] == "10"
    assert env["AICC_REPLICA_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    assert env["POD_IP"]["valueFrom"]["fieldRef"]["fieldPath"] == "status.podIP"
    assert env["AICC_ADVERTISE_URL"]["value"] == "http://$(POD_IP):8080"
    pdb = one(docs, "PodDisruptionBudget")
    assert pdb["spec"]["minAvailable"] == 1
    assert pdb["spec"]["selector"]["matchLabels"] == dep["spec"]["selector"]["matchLabels"]
    assert by_kind(docs, "PersistentVolumeClaim") == []  # replicas on several nodes share nothing
    data = next(v for v in dep["spec"]["template"]["spec"]["volumes"] if v["name"] == "data")
    assert data == {"name": "data", "emptyDir": {}}


def test_one_replica_on_postgresql_still_rolls_and_sqlite_recreates(rendered) -> None:  # type: ignore[no-untyped-def]
    bundled = one(rendered["good-bundled-postgresql"], "Deployment")
    assert bundled["spec"]["replicas"] == 1 and bundled["spec"]["strategy"]["type"] == "RollingUpdate"
    assert "AICC_HA" in {e["name"] for e in container(bundled, "scheduler")["env"]}  # the surge pod waits
    assert by_kind(rendered["good-bundled-postgresql"], "PodDisruptionBudget") == []
    for name in ("defaults", "good-minimal"):
        dep = one(rendered[name], "Deployment")
        assert dep["spec"]["strategy"]["type"] == "Recreate" and dep["spec"]["replicas"] == 1
        assert "AICC_HA" not in {e["name"] for e in container(dep, "scheduler")["env"]}
        assert by_kind(rendered[name], "PodDisruptionBudget") == []


def test_two_replicas_on_sqlite_fail_in_the_template_too(helm: Helm) -> None:
    """The schema refuses them (test_values_schema); a render that skips it fails all the same."""
    proc = helm.run(*helm.template_args(), "--set", "replicas=2", "--skip-schema-validation")
    assert proc.returncode != 0
    assert "replicas > 1 needs PostgreSQL" in proc.stderr


def test_per_job_ray_clusters_run_the_kuberay_executor_with_the_rights_to_bind_pods(rendered) -> None:  # type: ignore[no-untyped-def]
    docs = rendered["good-per-job-ray"]
    dep = one(docs, "Deployment")
    c = container(dep, "scheduler")
    assert "command" not in c  # no local Ray node: aicc talks to Kubernetes, not to a Ray cluster
    assert c["args"][c["args"].index("--executor") + 1] == "kuberay"
    env = {e["name"]: e.get("value") for e in c["env"]}
    assert env["AICC_KUBERAY_IMAGE"] == "rayproject/ray:2.60.0-py311" and env["AICC_KUBERAY_RAY_VERSION"] == "2.60.0"
    assert env["AICC_KUBERAY_AICC_NAMESPACE"] == "aicc" and env["AICC_KUBERAY_AICC_PORT"] == "8080"
    assert env["AICC_KUBERAY_AICC_URL"] == "http://aicc.aicc.svc:8080"  # where a job reports its checkpoints
    # the per-job NetworkPolicy lets the jobs reach exactly the pods the Service selects
    assert json.loads(env["AICC_KUBERAY_AICC_LABELS"]) == one(docs, "Service")["spec"]["selector"]
    rules = {(g, r): set(rule["verbs"]) for rule in one(docs, "ClusterRole")["rules"]
             for g in rule["apiGroups"] for r in rule["resources"]}
    assert rules[("", "pods/binding")] == {"create"}
    assert {"list", "delete"} <= rules[("", "pods")]
    assert rules[("ray.io", "rayclusters")] == {"get", "create", "patch", "delete"}  # patch: suspend
    assert rules[("networking.k8s.io", "networkpolicies")] == {"create", "delete"}
    assert rules[("", "secrets")] == {"create", "delete"}
    # without ray.perJob none of these rights exist
    plain = {r for rule in one(rendered["610p"], "ClusterRole")["rules"] for r in rule["resources"]}
    assert not plain & {"pods", "pods/binding", "secrets", "rayclusters", "networkpolicies"}
