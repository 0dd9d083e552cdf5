"""A rolling upgrade of the chart with two replicas on PostgreSQL keeps a leader.

What is real and what is played, exactly:

- real: ``helm install`` then ``helm upgrade`` (a changed pod template) of the chart with
  ``replicas: 2`` on the real kube-apiserver; the server stores both revisions as
  rendered: the Deployment with ``RollingUpdate`` (maxSurge 1, maxUnavailable 0) and the
  PodDisruptionBudget. The "pods" are real ``aicc serve`` processes on a real PostgreSQL,
  run with the container's args and environment from the Deployment the server stores,
  its ``$(VAR)`` references expanded as the kubelet would (``POD_IP`` a loopback
  address of their own, the secrets' values given), and readiness read from ``/readyz``
  as the probe does.
- played by the test: the Deployment controller and the kubelet (this control plane runs
  no kube-controller-manager, and kwok runs no containers). The test does what the
  controller does for this strategy: start a new pod, wait until it is ready, stop an
  old one with SIGTERM, and again; the leader is stopped first, the harder case.

Checked all along: some replica leads (``/v1/center``), submissions sent round robin to
the ready pods (the Service) are all acknowledged, and nothing runs twice.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from benchmarks import serving
from tests.deploy.chart import CHART, Helm
from tests.k8s.control_plane import ControlPlane
from tests.pg_testing import PostgresServer

pytestmark = pytest.mark.k8s

ADMIN = "rollout-admin-token-0123456789abcdef"
REPO = Path(__file__).resolve().parents[2]


def call(url: str, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None,
         token: str = ADMIN) -> tuple[int, Any]:
    return serving.call(url, method, path, token, body, headers, timeout=5)

class Pod:
    """The scheduler container of one pod, as the kubelet would run it, on 127.0.0.<n>."""

    def __init__(self, name: str, ip: str, container: dict[str, Any], secrets: dict[str, str],
                 workdir: Path) -> None:
        self.name = name
        self.ip = ip
        values: dict[str, str] = {}
        for e in container["env"]:
            if "value" in e:
                values[e["name"]] = expand(e["value"], values)
            else:
                ref = e["valueFrom"]
                if "fieldRef" in ref:
                    values[e["name"]] = {"metadata.name": name, "status.podIP": ip}[ref["fieldRef"]["fieldPath"]]
                else:
                    values[e["name"]] = secrets[e["name"]]
        args = [expand(a, values) for a in container["args"]]
        port = args[args.index("--port") + 1]
        self.url = f"http://{ip}:{port}"
        args[args.index("--host") + 1] = ip  # pods have an address each; here, a loopback one
        args[args.index("--data-dir") + 1] = str(workdir / name)
        env = {k: v for k, v in os.environ.items() if k not in ("AICC_ADMIN_TOKEN", "RAY_ADDRESS")}
        env.update(values)
        env["PYTHONPATH"] = str(REPO)
        self.log = workdir / f"{name}.log"
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen([sys.executable, "-c", "from scheduler.cli import main; main()", *args],
                                         stdout=out, stderr=subprocess.STDOUT, env=env, cwd=REPO)

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(self.url + "/readyz", timeout=2) as r:
                return r.status == 200
        except (OSError, urllib.error.URLError):
            return False

    def wait_ready(self, timeout_s: float = 90) -> None:
        deadline = time.monotonic() + timeout_s
        while not self.ready():
            assert self.proc.poll() is None, self.log.read_text()[-3000:]
            assert time.monotonic() < deadline, f"{self.name} not ready: {self.log.read_text()[-3000:]}"
            time.sleep(0.2)

    def leadership(self) -> dict[str, Any] | None:
        if self.proc.poll() is not None:
            return None
        try:
            status, body = call(self.url, "GET", "/v1/center")
        except (OSError, urllib.error.URLError):
            return None
        return body.get("leadership") if status == 200 else None

    def terminate(self) -> None:
        """What the kubelet does: SIGTERM, then SIGKILL after the grace period (30 s)."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def expand(text: str, values: dict[str, str]) -> str:
    """$(VAR) as Kubernetes expands it in args and env values."""
    return re.sub(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", lambda m: values.get(m.group(1), m.group(0)), text)


class Watch:
    """Polls who leads, and submits a job every 0.3 s to the ready pods in turn (the Service)."""

    def __init__(self, pods: list[Pod], token: str) -> None:
        self.pods = pods
        self.token = token
        self.stop = threading.Event()
        self.leaderless_since: float | None = None
        self.longest_gap = 0.0
        self.acked: dict[str, str] = {}
        self.refused: list[str] = []
        self.threads = [threading.Thread(target=self._leaders, daemon=True),
                        threading.Thread(target=self._submit, daemon=True)]

    def start(self) -> None:
        for t in self.threads:
            t.start()

    def join(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(60)

    def _leaders(self) -> None:
        while not self.stop.is_set():
            now = time.monotonic()
            led = any((p.leadership() or {}).get("role") == "leader" for p in list(self.pods))
            if led:
                if self.leaderless_since is not None:
                    self.longest_gap = max(self.longest_gap, now - self.leaderless_since)
                self.leaderless_since = None
            elif self.leaderless_since is None:
                self.leaderless_since = now
            time.sleep(0.1)

    def _submit(self) -> None:
        i = 0
        while not self.stop.is_set():
            key = f"roll-{i}"
            body = {"name": key, "resources": {"accelerators": 1}, "runtime_env": {"sleep_s": 1}}
            deadline = time.monotonic() + 60
            attempt = 0
            while time.monotonic() < deadline:
                ready = [p for p in list(self.pods) if p.proc.poll() is None]
                pod = ready[(i + attempt) % len(ready)]
                attempt += 1
                try:
                    status, answer = call(pod.url, "POST", "/v1/jobs", body, {"Idempotency-Key": key},
                                          token=self.token)
                except (OSError, urllib.error.URLError):
                    status, answer = 0, None
                if status in (200, 201):
                    self.acked[key] = answer["id"]
                    break
                if status not in (0, 502, 503):
                    self.refused.append(f"{key}: {status} {answer}")
                    break
                time.sleep(0.2)
            else:
                self.refused.append(f"{key}: not acknowledged within 60 s")
            i += 1
            time.sleep(0.3)


@pytest.mark.timeout(600)
def test_a_rolling_upgrade_with_two_replicas_keeps_a_leader(
        kube: ControlPlane, helm_k8s: Helm, postgres_server: PostgresServer, tmp_path: Path) -> None:
    from benchmarks.serving import free_port

    ns = "ha"
    port = str(free_port())
    db = postgres_server.create_database(f"rollout_{os.getpid()}")
    values = ["--set", "replicas=2", "--set", f"database.url={db}", "--set", f"service.port={port}",
              "--set", f"adminToken.value={ADMIN}"]
    install = helm_k8s.run("install", "aicc", str(CHART), "--namespace", ns, "--create-namespace", *values)
    assert install.returncode == 0, install.stdout + install.stderr
    pdb = kube.request("GET", f"/apis/policy/v1/namespaces/{ns}/poddisruptionbudgets/aicc")
    assert pdb["spec"]["minAvailable"] == 1

    def stored() -> dict[str, Any]:
        dep: dict[str, Any] = kube.request("GET", f"/apis/apps/v1/namespaces/{ns}/deployments/aicc")
        assert dep["spec"]["replicas"] == 2
        assert dep["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}
        return dep["spec"]["template"]["spec"]["containers"][0]  # type: ignore[no-any-return]

    secrets = {"AICC_ADMIN_TOKEN": ADMIN, "AICC_DATABASE_URL": db}
    old = stored()
    pods = [Pod("aicc-old-a", "127.0.0.11", old, secrets, tmp_path),
            Pod("aicc-old-b", "127.0.0.12", old, secrets, tmp_path)]
    watch: Watch | None = None
    try:
        for p in pods:
            p.wait_ready()
        deadline = time.monotonic() + 30
        while not any((p.leadership() or {}).get("role") == "leader" for p in pods):
            assert time.monotonic() < deadline, "no leader"
            time.sleep(0.2)
        status, issued = call(pods[1].url, "POST", "/v1/admin/tenants/research/tokens", {"name": "roll"})
        if status == 404:  # the shipped center's tenants
            status, tenants = call(pods[1].url, "GET", "/v1/admin/tenants")
            name = tenants["items"][0]["name"]
            status, issued = call(pods[1].url, "POST", f"/v1/admin/tenants/{name}/tokens", {"name": "roll"})
        assert status == 201, issued
        time.sleep(1.5)  # the followers reload the tokens
        watch = Watch(pods, issued["token"])
        watch.start()
        time.sleep(2)

        up = helm_k8s.run("upgrade", "aicc", str(CHART), "--namespace", ns, *values, "--set", "logLevel=debug")
        assert up.returncode == 0, up.stdout + up.stderr
        new = stored()
        assert "debug" in new["args"] and new != old

        def leader_first(olds: list[Pod]) -> Pod:
            return next((p for p in olds if (p.leadership() or {}).get("role") == "leader"), olds[0])

        olds = list(pods)
        for n, ip in enumerate(("127.0.0.21", "127.0.0.22")):
            fresh = Pod(f"aicc-new-{n}", ip, new, secrets, tmp_path)  # maxSurge 1: a third pod
            pods.append(fresh)
            fresh.wait_ready()  # maxUnavailable 0: an old pod goes only once the new one is ready
            gone = leader_first(olds)
            olds.remove(gone)
            gone.terminate()
            # a clean stop (uvicorn re-raises the SIGTERM it handled), the lease handed over
            assert gone.proc.returncode in (0, -signal.SIGTERM), gone.log.read_text()[-2000:]
            pods.remove(gone)
            time.sleep(3)
        time.sleep(2)
        watch.join()
        leaders = [p.leadership() for p in pods]
        assert [led["role"] for led in leaders if led].count("leader") == 1, leaders
        assert watch.refused == [] and len(watch.acked) > 10
        assert watch.leaderless_since is None
        # a leader stopping resigns: the next takes over in about a second, not the 8 s lease
        assert watch.longest_gap < 3.0, watch.longest_gap
        print(f"\nrolling upgrade: {len(watch.acked)} submissions acknowledged, longest time without "
              f"a leader {watch.longest_gap:.2f} s")
        import psycopg

        with psycopg.connect(db.replace("postgresql+psycopg", "postgresql")) as conn:
            names = [r[0] for r in conn.execute("SELECT name FROM jobs WHERE name LIKE 'roll-%'")]
            runs = conn.execute("SELECT job_id FROM job_runs GROUP BY job_id HAVING count(*) > 1").fetchall()
        assert sorted(names) == sorted(watch.acked) and runs == []  # each once
    finally:
        if watch is not None:
            watch.stop.set()
        for p in pods:
            if p.proc.poll() is None:
                p.proc.kill()
                p.proc.wait()
