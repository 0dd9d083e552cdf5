"""A loopback fake of the few Kubernetes API endpoints aicc uses, answering with
the real object and Status shapes (as kube-apiserver v1.30 does):

    GET   /api/v1/nodes                                  (limit/continue, labelSelector k=v)
    POST  /api/v1/namespaces                             (201, or 409 AlreadyExists)
    GET   /api/v1/namespaces/{name}
    PATCH /api/v1/namespaces/{ns}/resourcequotas/{name}  (server-side apply only:
          application/apply-patch+yaml and a fieldManager, else 415/422)
    GET   /api/v1/namespaces/{ns}/resourcequotas/{name}

Every request must carry the bearer token of the kubeconfig it writes.
"""

from __future__ import annotations

import copy
import json
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import yaml

PORTS = range(21100, 21200)
TOKEN = "fake-token-for-tests"
CREATED = "2026-11-01T08:00:00Z"


def status(code: int, reason: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                           "message": message, "reason": reason, "code": code}
    if details:
        out["details"] = details
    return out


def make_node(name: str, *, labels: dict[str, str] | None = None, allocatable: dict[str, str] | None = None,
              unschedulable: bool = False, ready: bool = True) -> dict[str, Any]:
    """A Node as the API returns it (a GPU node of a kubeadm cluster, trimmed of images)."""
    alloc = {"cpu": "127500m", "ephemeral-storage": "1797936245926", "hugepages-1Gi": "0",
             "hugepages-2Mi": "0", "memory": "2113602800Ki", "pods": "110", **(allocatable or {})}
    spec: dict[str, Any] = {"podCIDR": "10.244.1.0/24", "podCIDRs": ["10.244.1.0/24"]}
    if unschedulable:
        spec["unschedulable"] = True
        spec["taints"] = [{"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule",
                           "timeAdded": CREATED}]
    return {
        "metadata": {
            "name": name, "uid": str(uuid.uuid5(uuid.NAMESPACE_DNS, name)), "resourceVersion": "4242",
            "creationTimestamp": CREATED,
            "labels": {"kubernetes.io/arch": "amd64", "kubernetes.io/hostname": name,
                       "kubernetes.io/os": "linux", **(labels or {})},
            "annotations": {"node.alpha.kubernetes.io/ttl": "0",
                            "volumes.kubernetes.io/controller-managed-attach-detach": "true"},
        },
        "spec": spec,
        "status": {
            "capacity": {**alloc, "cpu": "128", "memory": "2113705200Ki"},
            "allocatable": alloc,
            "conditions": [
                {"type": "MemoryPressure", "status": "False", "reason": "KubeletHasSufficientMemory",
                 "message": "kubelet has sufficient memory available",
                 "lastHeartbeatTime": CREATED, "lastTransitionTime": CREATED},
                {"type": "Ready", "status": "True" if ready else "Unknown",
                 "reason": "KubeletReady" if ready else "NodeStatusUnknown",
                 "message": "kubelet is posting ready status" if ready else "Kubelet stopped posting node status.",
                 "lastHeartbeatTime": CREATED, "lastTransitionTime": CREATED},
            ],
            "addresses": [{"type": "InternalIP", "address": "192.0.2.10"}, {"type": "Hostname", "address": name}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {"machineID": "0" * 32, "systemUUID": str(uuid.uuid5(uuid.NAMESPACE_URL, name)),
                         "bootID": str(uuid.uuid4()), "kernelVersion": "5.15.0-105-generic",
                         "osImage": "Ubuntu 22.04.4 LTS", "containerRuntimeVersion": "containerd://1.7.13",
                         "kubeletVersion": "v1.30.2", "kubeProxyVersion": "v1.30.2",
                         "operatingSystem": "linux", "architecture": "amd64"},
        },
    }


@dataclass
class FakeKube:
    nodes: list[dict[str, Any]] = field(default_factory=list)
    namespaces: dict[str, dict[str, Any]] = field(default_factory=dict)
    quotas: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    #: (method, path with query, content type) of every request, in order.
    requests: list[tuple[str, str, str]] = field(default_factory=list)
    page_size_cap: int = 2  # small pages, so that clients must follow `continue`
    _server: ThreadingHTTPServer | None = None
    _rv: int = 1000

    def next_rv(self) -> str:
        self._rv += 1
        return str(self._rv)

    def start(self) -> FakeKube:
        handler = _handler(self)
        for port in PORTS:
            try:
                self._server = ThreadingHTTPServer(("127.0.0.1", port), handler)
                break
            except OSError:
                continue
        else:  # pragma: no cover
            raise RuntimeError(f"no free port in {PORTS}")
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def kubeconfig(self, path: Path) -> Path:
        path.write_text(yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config", "current-context": "fake",
            "clusters": [{"name": "fake", "cluster": {"server": self.url}}],
            "users": [{"name": "admin", "user": {"token": TOKEN}}],
            "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "admin"}}],
        }))
        return path


def _matches(labels: dict[str, str], selector: str | None) -> bool:
    if not selector:
        return True
    for term in selector.split(","):
        key, _, value = term.partition("=")
        if labels.get(key.strip()) != value.strip():
            return False
    return True


def _handler(kube: FakeKube) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _send(self, code: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _body(self) -> bytes:
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def _route(self, method: str) -> None:
            url = urlparse(self.path)
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            ctype = self.headers.get("Content-Type", "")
            kube.requests.append((method, self.path, ctype))
            body = self._body() if method in ("POST", "PATCH") else b""
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                return self._send(401, status(401, "Unauthorized", "Unauthorized"))
            parts = [p for p in url.path.split("/") if p]
            if parts[:2] != ["api", "v1"]:
                return self._send(404, status(404, "NotFound", "the server could not find the requested resource"))
            rest = parts[2:]
            if method == "GET" and rest == ["nodes"]:
                return self._list_nodes(query)
            if rest[:1] == ["namespaces"] and len(rest) == 1 and method == "POST":
                return self._create_namespace(json.loads(body))
            if rest[:1] == ["namespaces"] and len(rest) == 2 and method == "GET":
                ns = kube.namespaces.get(rest[1])
                if ns is None:
                    return self._send(404, status(404, "NotFound", f'namespaces "{rest[1]}" not found',
                                                  {"name": rest[1], "kind": "namespaces"}))
                return self._send(200, ns)
            if len(rest) == 4 and rest[0] == "namespaces" and rest[2] == "resourcequotas":
                if method == "PATCH":
                    return self._apply_quota(rest[1], rest[3], ctype, query, body)
                if method == "GET":
                    q = kube.quotas.get((rest[1], rest[3]))
                    if q is None:
                        return self._send(404, status(404, "NotFound", f'resourcequotas "{rest[3]}" not found'))
                    return self._send(200, q)
            return self._send(405, status(405, "MethodNotAllowed", "the server does not allow this method"))

        def _list_nodes(self, query: dict[str, str]) -> None:
            items = [n for n in kube.nodes if _matches(n["metadata"]["labels"], query.get("labelSelector"))]
            start = int(query.get("continue") or 0)
            size = min(int(query.get("limit") or len(items) or 1), kube.page_size_cap)
            page = items[start:start + size]
            meta: dict[str, Any] = {"resourceVersion": "5000"}
            if start + size < len(items):
                meta["continue"] = str(start + size)
                meta["remainingItemCount"] = len(items) - start - size
            self._send(200, {"kind": "NodeList", "apiVersion": "v1", "metadata": meta, "items": page})

        def _create_namespace(self, obj: dict[str, Any]) -> None:
            name = obj["metadata"]["name"]
            if name in kube.namespaces:
                return self._send(409, status(409, "AlreadyExists", f'namespaces "{name}" already exists',
                                              {"name": name, "kind": "namespaces"}))
            ns = copy.deepcopy(obj)
            ns["metadata"].update({"uid": str(uuid.uuid4()), "resourceVersion": kube.next_rv(),
                                   "creationTimestamp": CREATED})
            ns["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = name
            ns["spec"] = {"finalizers": ["kubernetes"]}
            ns["status"] = {"phase": "Active"}
            kube.namespaces[name] = ns
            self._send(201, ns)

        def _apply_quota(self, ns: str, name: str, ctype: str, query: dict[str, str], body: bytes) -> None:
            if ctype.split(";")[0].strip() != "application/apply-patch+yaml":
                return self._send(415, status(415, "UnsupportedMediaType",
                                              f"the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json (got {ctype})"))
            if not query.get("fieldManager"):
                return self._send(422, status(422, "Invalid", "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch"))
            if ns not in kube.namespaces:
                return self._send(404, status(404, "NotFound", f'namespaces "{ns}" not found'))
            obj = yaml.safe_load(body)
            if obj.get("kind") != "ResourceQuota" or obj.get("apiVersion") != "v1":
                return self._send(400, status(400, "BadRequest", "apply patch must name apiVersion v1, kind ResourceQuota"))
            if obj["metadata"]["name"] != name:
                return self._send(400, status(400, "BadRequest", "the name of the object does not match the name on the URL"))
            old = kube.quotas.get((ns, name))
            new = copy.deepcopy(obj)
            new["metadata"].update({
                "namespace": ns, "uid": (old or {}).get("metadata", {}).get("uid") or str(uuid.uuid4()),
                "resourceVersion": kube.next_rv(), "creationTimestamp": CREATED,
                "managedFields": [{"manager": query["fieldManager"], "operation": "Apply", "apiVersion": "v1",
                                   "time": CREATED, "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {}}}],
            })
            new["status"] = {"hard": dict(new["spec"]["hard"]), "used": {k: "0" for k in new["spec"]["hard"]}}
            kube.quotas[(ns, name)] = new
            self._send(201 if old is None else 200, new)

        def do_GET(self) -> None:
            self._route("GET")

        def do_POST(self) -> None:
            self._route("POST")

        def do_PATCH(self) -> None:
            self._route("PATCH")

        def do_PUT(self) -> None:
            self._route("PUT")

        def do_DELETE(self) -> None:
            self._route("DELETE")

    return Handler
