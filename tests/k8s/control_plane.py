"""A real Kubernetes control plane on loopback for the tests: etcd, kube-apiserver, kwok.

etcd keeps its data in a temporary folder with ``--unsafe-no-fsync`` (nothing here must
survive a crash). kube-apiserver serves TLS on a free port with a certificate it makes
itself, authenticates by a static token file, authorizes by RBAC, and signs service
account tokens with a throwaway key. kwok plays the kubelets: it marks the nodes
annotated ``kwok.x-k8s.io/node=fake`` Ready and runs the pods bound to them, by the
stages in ``STAGES`` (written here). No kube-controller-manager and no kube-scheduler
run: tests that need a controller's effect say so.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ADMIN_TOKEN = "aicc-test-admin-token"
#: The annotation kwok selects the nodes it manages by.
KWOK_ANNOTATION = ("kwok.x-k8s.io/node", "fake")

# kwok Stages: a managed node becomes Ready (keeping the allocatable it was created with,
# and staying NotReady when annotated so); a pod bound to one becomes Running.
STAGES = """\
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata: {name: aicc-node-ready}
spec:
  resourceRef: {apiGroup: v1, kind: Node}
  selector:
    matchExpressions:
    - key: '.metadata.annotations["aicc.io/test-not-ready"]'
      operator: DoesNotExist
    - key: '.status.conditions.[] | select( .type == "Ready" ) | .status'
      operator: NotIn
      values: ['True']
  next:
    statusTemplate: |
      {{ $now := Now }}
      conditions:
      - type: Ready
        status: "True"
        reason: KubeletReady
        message: kwok plays this node's kubelet
        lastHeartbeatTime: {{ $now | Quote }}
        lastTransitionTime: {{ $now | Quote }}
      addresses:
      - {type: InternalIP, address: {{ NodeIP | Quote }}}
      - {type: Hostname, address: {{ NodeName | Quote }}}
      allocatable:
      {{ YAML .status.allocatable 1 }}
      capacity:
      {{ YAML .status.capacity 1 }}
      phase: Running
---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata: {name: aicc-node-not-ready}
spec:
  resourceRef: {apiGroup: v1, kind: Node}
  selector:
    matchExpressions:
    - key: '.metadata.annotations["aicc.io/test-not-ready"]'
      operator: Exists
    - key: '.status.conditions.[] | select( .type == "Ready" ) | .status'
      operator: NotIn
      values: ['False']
  next:
    statusTemplate: |
      {{ $now := Now }}
      conditions:
      - type: Ready
        status: "False"
        reason: KubeletNotReady
        message: the test keeps this node NotReady
        lastHeartbeatTime: {{ $now | Quote }}
        lastTransitionTime: {{ $now | Quote }}
      allocatable:
      {{ YAML .status.allocatable 1 }}
      capacity:
      {{ YAML .status.capacity 1 }}
---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata: {name: aicc-pod-running}
spec:
  resourceRef: {apiGroup: v1, kind: Pod}
  selector:
    matchExpressions:
    - key: '.metadata.deletionTimestamp'
      operator: DoesNotExist
    - key: '.spec.nodeName'
      operator: Exists
    - key: '.status.podIP'
      operator: DoesNotExist
  next:
    statusTemplate: |
      {{ $now := Now }}
      conditions:
      - {type: Initialized, status: "True", lastTransitionTime: {{ $now | Quote }}}
      - {type: Ready, status: "True", lastTransitionTime: {{ $now | Quote }}}
      - {type: ContainersReady, status: "True", lastTransitionTime: {{ $now | Quote }}}
      containerStatuses:
      {{ range .spec.containers }}
      - name: {{ .name | Quote }}
        image: {{ .image | Quote }}
        ready: true
        restartCount: 0
        state: {running: {startedAt: {{ $now | Quote }}}}
      {{ end }}
      hostIP: {{ NodeIPWith .spec.nodeName | Quote }}
      podIP: {{ PodIPWith .spec.nodeName false .metadata.uid .metadata.name .metadata.namespace | Quote }}
      phase: Running
      startTime: {{ $now | Quote }}
---
# A pod being deleted goes at once: there is no kubelet to stop it.
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata: {name: aicc-pod-delete}
spec:
  resourceRef: {apiGroup: v1, kind: Pod}
  selector:
    matchExpressions:
    - key: '.metadata.deletionTimestamp'
      operator: Exists
  next:
    delete: true
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class ControlPlane:
    bin_dir: Path
    work: Path
    url: str = ""
    kubeconfig: Path = field(default_factory=Path)
    ca_file: Path = field(default_factory=Path)
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    # --- starting and stopping -----------------------------------------------------

    def start(self, timeout: float = 90.0) -> ControlPlane:
        self.work.mkdir(parents=True, exist_ok=True)
        logs = self.work / "logs"
        logs.mkdir(exist_ok=True)
        etcd_client, etcd_peer, api_port = free_port(), free_port(), free_port()
        self._start("etcd", [
            str(self.bin_dir / "etcd"), "--name", "aicc-test", "--data-dir", str(self.work / "etcd"),
            "--listen-client-urls", f"http://127.0.0.1:{etcd_client}",
            "--advertise-client-urls", f"http://127.0.0.1:{etcd_client}",
            "--listen-peer-urls", f"http://127.0.0.1:{etcd_peer}",
            "--initial-advertise-peer-urls", f"http://127.0.0.1:{etcd_peer}",
            "--initial-cluster", f"aicc-test=http://127.0.0.1:{etcd_peer}",
            "--unsafe-no-fsync", "--log-level", "warn",
        ])
        self._wait(lambda: self._http_ok(f"http://127.0.0.1:{etcd_client}/health"), "etcd", timeout)

        sa_key = self.work / "sa.key"
        subprocess.run(["openssl", "genrsa", "-out", str(sa_key), "2048"], check=True,
                       capture_output=True)
        subprocess.run(["openssl", "rsa", "-in", str(sa_key), "-pubout", "-out",
                        str(self.work / "sa.pub")], check=True, capture_output=True)
        (self.work / "tokens.csv").write_text(f'{ADMIN_TOKEN},admin,admin-uid,"system:masters"\n')
        certs = self.work / "certs"
        self._start("kube-apiserver", [
            str(self.bin_dir / "kube-apiserver"),
            "--etcd-servers", f"http://127.0.0.1:{etcd_client}",
            "--bind-address", "127.0.0.1", "--advertise-address", "127.0.0.1",
            "--secure-port", str(api_port), "--cert-dir", str(certs),
            "--token-auth-file", str(self.work / "tokens.csv"),
            "--authorization-mode", "RBAC",
            "--service-account-key-file", str(self.work / "sa.pub"),
            "--service-account-signing-key-file", str(sa_key),
            "--service-account-issuer", "https://kubernetes.default.svc.cluster.local",
            "--service-cluster-ip-range", "10.96.0.0/16",
            # No controller-manager creates the `default` service accounts here.
            "--disable-admission-plugins", "ServiceAccount",
            "--profiling=false", "--v", "1",
        ])
        self.url = f"https://127.0.0.1:{api_port}"
        self.ca_file = certs / "apiserver.crt"
        self._wait(lambda: self.ca_file.exists() and self._readyz(), "kube-apiserver", timeout)
        self.kubeconfig = self.write_kubeconfig(self.work / "kubeconfig", ADMIN_TOKEN)

        self.apply_yaml("apiVersion: v1\nkind: Namespace\nmetadata: {name: kwok-system}\n")
        (self.work / "stages.yaml").write_text(STAGES)
        self._start("kwok", [
            str(self.bin_dir / "kwok"), "--kubeconfig", str(self.kubeconfig),
            "--manage-all-nodes=false",
            "--manage-nodes-with-annotation-selector", "=".join(KWOK_ANNOTATION),
            "--config", str(self.work / "stages.yaml"),
            "--cidr", "10.244.0.1/16", "--node-ip", "10.1.0.1",
            "--server-address", f"127.0.0.1:{free_port()}",
        ])
        return self

    def stop(self) -> None:
        for name in ("kwok", "kube-apiserver", "etcd"):
            proc = self.procs.pop(name, None)
            if proc is None or proc.poll() is not None:
                continue
            proc.send_signal(signal.SIGTERM)
            try:  # nothing here is worth a graceful drain: a few seconds, then SIGKILL
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def _start(self, name: str, argv: list[str]) -> None:
        log = open(self.work / "logs" / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
        self.procs[name] = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, start_new_session=True)

    def _wait(self, check: Any, name: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            proc = self.procs[name]
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited ({proc.returncode}):\n{self.log_tail(name)}")
            if check():
                return
            time.sleep(0.2)
        raise RuntimeError(f"{name} not ready in {timeout:.0f} s:\n{self.log_tail(name)}")

    def log_tail(self, name: str, lines: int = 30) -> str:
        path = self.work / "logs" / f"{name}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""

    @staticmethod
    def _http_ok(url: str) -> bool:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                return bool(r.status == 200)
        except (OSError, urllib.error.URLError):
            return False

    def _readyz(self) -> bool:
        try:
            self.request("GET", "/readyz")
            return True
        except (OSError, urllib.error.URLError, ssl.SSLError):
            return False

    # --- talking to it ---------------------------------------------------------------

    def write_kubeconfig(self, path: Path, token: str, namespace: str = "default") -> Path:
        config = {
            "apiVersion": "v1", "kind": "Config", "current-context": "aicc-test",
            "clusters": [{"name": "aicc-test", "cluster": {"server": self.url,
                                                           "certificate-authority": str(self.ca_file)}}],
            "users": [{"name": "aicc-test", "user": {"token": token}}],
            "contexts": [{"name": "aicc-test", "context": {"cluster": "aicc-test", "user": "aicc-test",
                                                           "namespace": namespace}}],
        }
        path.write_text(yaml.safe_dump(config))
        return path

    def request(self, method: str, path: str, body: Any = None, *, token: str = ADMIN_TOKEN,
                content_type: str = "application/json") -> Any:
        """One API call as admin (or ``token``); JSON in and out, errors as HTTPError."""
        data = None
        if body is not None:
            data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method, headers={
            "Authorization": f"Bearer {token}", "Content-Type": content_type,
            "Accept": "application/json"})
        ctx = ssl.create_default_context(cafile=str(self.ca_file))
        with urllib.request.urlopen(req, timeout=30, context=ctx) as r:
            raw = r.read()
        return json.loads(raw) if raw[:1] in (b"{", b"[") else raw.decode()

    def apply_yaml(self, text: str) -> None:
        """Server-side apply of each document (admin), for test fixtures."""
        for doc in yaml.safe_load_all(text):
            if doc:
                self.apply(doc)

    def apply(self, doc: dict[str, Any], manager: str = "aicc-tests") -> Any:
        return self.request("PATCH", self.object_path(doc) + f"?fieldManager={manager}&force=true",
                            doc, content_type="application/apply-patch+yaml")

    def object_path(self, doc: dict[str, Any], *, collection: bool = False) -> str:
        api_version, kind = doc["apiVersion"], doc["kind"]
        resource, namespaced = self.resource_for(api_version, kind)
        base = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
        ns = doc.get("metadata", {}).get("namespace") or "default"
        prefix = f"{base}/namespaces/{ns}/{resource}" if namespaced else f"{base}/{resource}"
        return prefix if collection else f"{prefix}/{doc['metadata']['name']}"

    def resource_for(self, api_version: str, kind: str) -> tuple[str, bool]:
        """(plural resource, namespaced) from the server's discovery."""
        base = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
        for r in self.request("GET", base)["resources"]:
            if r["kind"] == kind and "/" not in r["name"]:
                return r["name"], bool(r["namespaced"])
        raise KeyError(f"the server has no {kind} in {api_version}")

    def env(self) -> dict[str, str]:
        """An environment whose KUBECONFIG is this control plane's admin one."""
        return {**os.environ, "KUBECONFIG": str(self.kubeconfig)}
