"""The Kubernetes objects of one job: its RayCluster, its NetworkPolicy and its Ray auth Secret.

Pure functions of the job, its placement and the settings, so that what aicc asks of the
cluster is unit-testable without one. The RayCluster has a head group and one worker group
per placed node (``n0``, ``n1``, ...: the placement's distinct nodes in order), one replica
each, holding that node's devices; every pod carries ``schedulerName: aicc`` so that no
other scheduler touches it, and a nodeSelector on the node's hostname (what it must land
on, said in the object; ``binder.py`` binds it there). The head runs on the first node,
holds no devices and takes no Ray tasks (``num-cpus 0``); a second container in the head
pod, ``aicc-driver`` (``driver.py``), submits the job's entrypoint to its own cluster and
exits as the job ends (0: succeeded, 1: failed): that exit is how aicc learns the outcome
(``watch.py``). Pods never restart (``restartPolicy: Never``): a driver run
twice would run the job twice, and a worker that died is a lost node to aicc.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from scheduler.domain import AcceleratorType, JobRecord, Placement
from scheduler.domain import placement_codec as placements
from scheduler.executors.kuberay import driver as driver_program

SCHEDULER_NAME = "aicc"
DRIVER = "aicc-driver"
HEAD_GROUP = "head"
#: Labels on every object (and pod) of a job's cluster, to find them again.
MANAGED = {"app.kubernetes.io/managed-by": "aicc", "aicc.io/executor": "kuberay"}
JOB_LABEL = "aicc.io/job"
TENANT_LABEL = "aicc.io/tenant"
#: KubeRay labels every pod of a cluster with its name, and each with its group.
CLUSTER_LABEL = "ray.io/cluster"
GROUP_LABEL = "ray.io/group"
TOKEN_KEY = "RAY_AUTH_TOKEN"
DASHBOARD_PORT = 8265  # the head's; driver.py talks to it on 127.0.0.1


@dataclass(frozen=True)
class KubeRaySettings:
    """How aicc's per-job clusters look; ``aicc serve --executor kuberay`` reads them from
    ``AICC_KUBERAY_*`` (``from_env``)."""

    image: str = "rayproject/ray:2.60.0-py311"
    ray_version: str = "2.60.0"
    #: a tenant's namespace: the prefix and its name, as ``aicc kube sync-quotas`` makes them
    namespace_prefix: str = "aicc-"
    #: where aicc runs, and its pods' labels: the one place a job's pods may reach besides
    #: their own cluster (and DNS)
    aicc_namespace: str = "aicc-system"
    aicc_pod_labels: Mapping[str, str] = field(
        default_factory=lambda: {"app.kubernetes.io/name": "aicc", "app.kubernetes.io/component": "scheduler"})
    aicc_port: int = 8080
    #: the job's AICC_URL (to report checkpoints): aicc's Service as pods reach it; empty:
    #: the service's own idea (its advertise URL)
    aicc_url: str = ""
    #: a cluster not running this long after it was made (image pulls, a quota, a missing
    #: operator) is given up: the job is requeued as lost, as Kueue's waitForPodsReady does
    start_timeout_s: float = 900.0
    head_cpu: str = "1"
    head_memory: str = "4Gi"

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> KubeRaySettings:
        base = cls()
        labels = env.get("AICC_KUBERAY_AICC_LABELS")
        return cls(image=env.get("AICC_KUBERAY_IMAGE", base.image),
                   ray_version=env.get("AICC_KUBERAY_RAY_VERSION", base.ray_version),
                   namespace_prefix=env.get("AICC_KUBERAY_NAMESPACE_PREFIX", base.namespace_prefix),
                   aicc_namespace=env.get("AICC_KUBERAY_AICC_NAMESPACE", base.aicc_namespace),
                   aicc_pod_labels=json.loads(labels) if labels else base.aicc_pod_labels,
                   aicc_port=int(env.get("AICC_KUBERAY_AICC_PORT", base.aicc_port)),
                   aicc_url=env.get("AICC_KUBERAY_AICC_URL", base.aicc_url),
                   start_timeout_s=float(env.get("AICC_KUBERAY_START_TIMEOUT_S", base.start_timeout_s)))


def cluster_name(job_id: str) -> str:
    """A DNS label from the job id, short enough for KubeRay's suffixes (``-head-svc``,
    ``-n12-worker-abcde``) to keep pod and service names within 63 characters."""
    slug = re.sub(r"[^a-z0-9-]+", "-", job_id.lower()).strip("-")[:36].strip("-")
    return f"aicc-{slug or 'job'}"


def namespace_of(tenant: str, settings: KubeRaySettings) -> str:
    return f"{settings.namespace_prefix}{tenant}"


def secret_name(cluster: str) -> str:
    return f"{cluster}-ray-auth"


def node_devices(placement: Placement) -> list[tuple[str, int]]:
    """(node, devices on it) per distinct placed node, in placement order."""
    out: dict[str, int] = {}
    for w in placement.workers:
        out[w.node] = out.get(w.node, 0) + len(w.devices)
    return list(out.items())


def group_nodes(placement: Placement) -> dict[str, str]:
    """Group name -> the node its one pod must run on: the head on the first placed node."""
    nodes = [n for n, _ in node_devices(placement)]
    return {HEAD_GROUP: nodes[0], **{f"n{i}": n for i, n in enumerate(nodes)}}


def _labels(job: JobRecord, cluster: str) -> dict[str, str]:
    return {**MANAGED, JOB_LABEL: cluster, TENANT_LABEL: job.spec.tenant}


def _meta(job: JobRecord, cluster: str, name: str, namespace: str) -> dict[str, Any]:
    return {"name": name, "namespace": namespace, "labels": _labels(job, cluster),
            "annotations": {"aicc.io/job-id": job.id}}


def auth_secret(job: JobRecord, namespace: str, token: str,
                extra: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The cluster's own Ray token (and the job's own credential, ``extra``): the only
    secrets its pods get, as environment variables."""
    cluster = cluster_name(job.id)
    return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": _meta(job, cluster, secret_name(cluster), namespace),
            "stringData": {TOKEN_KEY: token, **dict(extra or {})}}


def network_policy(job: JobRecord, namespace: str, settings: KubeRaySettings) -> dict[str, Any]:
    """The cluster's pods talk to each other, to aicc's API and to DNS; nothing else reaches
    them or is reached (enforced by a CNI that implements NetworkPolicy)."""
    cluster = cluster_name(job.id)
    own = {"podSelector": {"matchLabels": {CLUSTER_LABEL: cluster}}}
    aicc = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": settings.aicc_namespace}},
            "podSelector": {"matchLabels": dict(settings.aicc_pod_labels)}}
    dns = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
           "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": _meta(job, cluster, cluster, namespace),
            "spec": {"podSelector": {"matchLabels": {CLUSTER_LABEL: cluster}},
                     "policyTypes": ["Ingress", "Egress"],
                     "ingress": [{"from": [own]}],
                     "egress": [{"to": [own]},
                                {"to": [aicc], "ports": [{"protocol": "TCP", "port": settings.aicc_port}]},
                                {"to": [dns], "ports": [{"protocol": "UDP", "port": 53},
                                                        {"protocol": "TCP", "port": 53}]}]}}


def _container(name: str, image: str, cluster: str, **rest: Any) -> dict[str, Any]:
    """A container with the cluster's Secret as its environment: its Ray token, and the
    job's own credential (Ray runs the entrypoint and its tasks in the head's and the
    workers' environment, so they carry it, never a command line)."""
    return {"name": name, "image": image, "env": [{"name": "RAY_AUTH_MODE", "value": "token"}],
            "envFrom": [{"secretRef": {"name": secret_name(cluster)}}], **rest}


def job_facts(job: JobRecord) -> dict[str, str]:
    """The ``AICC_*`` facts a job reads (as the Ray executor gives them), with its own env vars."""
    env = {str(k): str(v) for k, v in dict((job.spec.runtime_env or {}).get("env_vars") or {}).items()}
    if job.placement is not None:
        env.update({"AICC_JOB_ID": job.id, "AICC_JOB_NAME": job.spec.name, "AICC_TENANT": job.spec.tenant,
                    "AICC_ACCELERATOR": job.placement.accelerator, "AICC_WORKERS": str(job.spec.workers),
                    "AICC_DEVICES_PER_WORKER": str(job.spec.resources.accelerators),
                    "AICC_PLACEMENT": placements.to_bundles_json(job.placement)})
    return env


def _pod(job: JobRecord, cluster: str, group: str, node: str, containers: list[dict[str, Any]],
         grace_s: float) -> dict[str, Any]:
    return {"metadata": {"labels": {**_labels(job, cluster), "aicc.io/group": group}},
            "spec": {"schedulerName": SCHEDULER_NAME, "restartPolicy": "Never", "nodeSelector": {"kubernetes.io/hostname": node},
                     "terminationGracePeriodSeconds": max(0, round(grace_s)),
                     "automountServiceAccountToken": False, "enableServiceLinks": False,
                     "containers": containers}}


def ray_cluster(job: JobRecord, namespace: str, accel: AcceleratorType, settings: KubeRaySettings,
                grace_s: float) -> dict[str, Any]:
    """The job's RayCluster: a head pod and one worker pod per placed node."""
    if job.placement is None:
        raise ValueError(f"job {job.id} has no placement")
    cluster = cluster_name(job.id)
    nodes = group_nodes(job.placement)
    head = _container("ray-head", settings.image, cluster,
                      ports=[{"containerPort": 6379, "name": "gcs"},
                             {"containerPort": DASHBOARD_PORT, "name": "dashboard"}],
                      resources={"requests": {"cpu": settings.head_cpu, "memory": settings.head_memory},
                                 "limits": {"memory": settings.head_memory}})
    driver = _container(DRIVER, settings.image, cluster, command=driver_program.command(),
                        resources={"requests": {"cpu": "100m", "memory": "512Mi"}, "limits": {"memory": "1Gi"}})
    driver["env"] += driver_program.environment(job.id, job.spec.entrypoint or "true", job_facts(job))
    groups = []
    for i, (node, devices) in enumerate(node_devices(job.placement)):
        name = f"n{i}"
        is_gpu = accel.ray_resource == "GPU"
        params = {"num-gpus": str(devices)} if is_gpu else {
            "num-gpus": "0", "resources": json.dumps(json.dumps({accel.ray_resource: devices}))}
        worker = _container("ray-worker", settings.image, cluster,
                            resources={"requests": {accel.vendor_resource: str(devices)},
                                       "limits": {accel.vendor_resource: str(devices)}})
        groups.append({"groupName": name, "replicas": 1, "minReplicas": 1, "maxReplicas": 1,
                       "rayStartParams": params,
                       "template": _pod(job, cluster, name, node, [worker], grace_s)})
    return {"apiVersion": "ray.io/v1", "kind": "RayCluster",
            "metadata": _meta(job, cluster, cluster, namespace),
            "spec": {"rayVersion": settings.ray_version, "enableInTreeAutoscaling": False,
                     "headGroupSpec": {"rayStartParams": {"num-cpus": "0", "num-gpus": "0",
                                                          "dashboard-host": "0.0.0.0"},
                                       "template": _pod(job, cluster, HEAD_GROUP, nodes[HEAD_GROUP],
                                                        [head, driver], grace_s)},
                     "workerGroupSpecs": groups}}
