"""The kuberay executor: every admitted job a KubeRay RayCluster of its own, in its tenant's
namespace, on exactly the nodes aicc placed it on.

``start`` records the run; ``sync`` (a thread's loop, or ``poll`` itself when built with
``thread=False``) does the Kubernetes work: it creates the job's Secret (its own Ray token),
NetworkPolicy and RayCluster, binds the pods the KubeRay operator makes to their placed
nodes (``binder.py``), reads what the pods and nodes say (``watch.py``) and, when the job
ends, is stopped or is lost, deletes the cluster and its pods (with the job's grace) and
reports the event once no pod of it is left: its devices are free again. Polling list calls
(two a sync: the executor's pods, the nodes) rather than watches: simple, and enough at
the scale of running jobs.
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from scheduler.domain import Center, JobRecord
from scheduler.engine.clock import Clock
from scheduler.engine.ports import EventKind, ExecutorEvent
from scheduler.executors.kuberay import binder, manifests
from scheduler.executors.kuberay.manifests import CLUSTER_LABEL, KubeRaySettings
from scheduler.executors.kuberay.watch import assess, lost_nodes, node_ready
from scheduler.kube.client import call

log = logging.getLogger(__name__)

#: Ended runs remembered for ``known`` and an idempotent ``start``.
KEEP_ENDED = 10_000


@dataclass
class Run:
    """One attempt of a job: its cluster, where each group goes, and how far it got."""

    job: JobRecord
    namespace: str
    cluster: str
    groups: dict[str, str]
    grace_s: float
    created: bool = False
    created_at: float = 0.0
    uid: str | None = None  # its RayCluster's: the owner of its pods
    suspended: bool = False
    started: bool = False
    bound: set[str] = field(default_factory=set)
    ending: EventKind | None = None  # reported once its pods are gone
    detail: str = ""


class KubeRayExecutor:
    """The engine's Executor port on Kubernetes with KubeRay. Thread-safe."""

    def __init__(self, clock: Clock, api: Any, center: Center, settings: KubeRaySettings | None = None,
                 *, thread: bool = True, interval_s: float = 0.5) -> None:
        self.clock = clock
        self.api = api
        self.center = center
        self.settings = settings or KubeRaySettings()
        self.job_credentials: Callable[[JobRecord], dict[str, str]] | None = None
        self.interval_s = interval_s
        self._runs: dict[str, Run] = {}
        self._ended: dict[str, EventKind] = {}
        self._events: list[ExecutorEvent] = []
        self._lost_nodes: set[str] = set()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._closing = threading.Event()
        self._thread: threading.Thread | None = None
        if thread:
            self._thread = threading.Thread(target=self._loop, name="aicc-kuberay", daemon=True)
            self._thread.start()

    # -- the port ------------------------------------------------------------------------

    def start(self, job: JobRecord, grace_s: float) -> None:
        if job.placement is None:
            raise ValueError(f"job {job.id} has no placement")
        with self._lock:
            run = self._runs.get(job.id)
            if run is not None and run.ending is None:
                return
            self._ended.pop(job.id, None)
            self._runs[job.id] = Run(job, manifests.namespace_of(job.spec.tenant, self.settings),
                                     manifests.cluster_name(job.id), manifests.group_nodes(job.placement), grace_s)
        self._wake.set()

    def stop(self, job_id: str, grace_s: float) -> None:
        with self._lock:
            run = self._runs.get(job_id)
            if run is None or run.ending is not None:
                return
            run.ending, run.grace_s, run.detail = EventKind.STOPPED, grace_s, "stopped"
        self._wake.set()

    def poll(self) -> Sequence[ExecutorEvent]:
        if self._thread is None:
            self.sync()
        with self._lock:
            out, self._events = self._events, []
        return out

    def known(self) -> Mapping[str, EventKind]:
        with self._lock:
            out = dict(self._ended)
            out.update({i: EventKind.STARTED for i, r in self._runs.items() if r.started and r.ending is None})
            return out

    def adopt(self, jobs: Iterable[JobRecord]) -> None:
        """After a restart: the running jobs' clusters exist already; watch them again."""
        with self._lock:
            for job in jobs:
                if job.id in self._runs or job.placement is None or job.started_at is None:
                    continue
                run = Run(job, manifests.namespace_of(job.spec.tenant, self.settings),
                          manifests.cluster_name(job.id), manifests.group_nodes(job.placement), 0.0,
                          created=True, started=True)
                run.bound = set(run.groups)
                self._runs[job.id] = run

    def lost_nodes(self) -> Sequence[str]:
        with self._lock:
            out, self._lost_nodes = sorted(self._lost_nodes), set()
        return out

    def close(self) -> None:
        self._closing.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    # -- the Kubernetes side -------------------------------------------------------------

    def _loop(self) -> None:
        while not self._closing.is_set():
            try:
                self.sync()
            except Exception:  # the API server away a moment: try again next time
                log.exception("kuberay sync failed")
            self._wake.wait(self.interval_s)
            self._wake.clear()

    def sync(self) -> None:
        """One pass: create what is new, bind what is pending, report what changed."""
        with self._lock:
            runs = list(self._runs.values())
        if not runs:
            return
        for run in runs:
            if not run.created and run.ending is None:
                self._create(run)
        pods = call(self.api, "GET", "/api/v1/pods",
                    query={"labelSelector": f"{manifests.JOB_LABEL},aicc.io/executor=kuberay"})["items"]
        by_cluster: dict[str, list[dict[str, Any]]] = {}
        for p in pods:
            by_cluster.setdefault(p["metadata"]["labels"].get(CLUSTER_LABEL, ""), []).append(p)
        ready = node_ready(call(self.api, "GET", "/api/v1/nodes")["items"])
        for run in runs:
            self._advance(run, by_cluster.get(run.cluster, []), ready)

    def _create(self, run: Run) -> None:
        from kubernetes.client.exceptions import ApiException

        placement = run.job.placement
        assert placement is not None  # start refuses a job without one
        accel = self.center.accelerators[placement.accelerator]
        extra = self.job_credentials(run.job) if self.job_credentials else {}
        if self.settings.aicc_url:
            extra["AICC_URL"] = self.settings.aicc_url
        docs = [manifests.auth_secret(run.job, run.namespace, secrets.token_urlsafe(32), extra),
                manifests.network_policy(run.job, run.namespace, self.settings),
                manifests.ray_cluster(run.job, run.namespace, accel, self.settings, run.grace_s)]
        paths = [f"/api/v1/namespaces/{run.namespace}/secrets",
                 f"/apis/networking.k8s.io/v1/namespaces/{run.namespace}/networkpolicies",
                 f"/apis/ray.io/v1/namespaces/{run.namespace}/rayclusters"]
        made: Any = None
        try:
            for doc, path in zip(docs, paths, strict=True):
                try:
                    made = call(self.api, "POST", path, doc)
                except ApiException as exc:
                    if exc.status != 409:  # AlreadyExists: a retry, or an adopted job
                        raise
                    made = None
        except ApiException as exc:
            self._end(run, EventKind.FAILED, f"cannot create its RayCluster in {run.namespace}: "
                      f"{exc.status} {exc.reason}")
            return
        run.created, run.created_at = True, self.clock.now()
        run.uid = made["metadata"]["uid"] if made else self._cluster_uid(run)

    def _cluster_uid(self, run: Run) -> str | None:
        """The uid of the job's RayCluster as it is now (None: there is none)."""
        from kubernetes.client.exceptions import ApiException

        try:
            got = call(self.api, "GET", f"/apis/ray.io/v1/namespaces/{run.namespace}/rayclusters/{run.cluster}")
        except ApiException as exc:
            if exc.status != 404:
                raise
            return None
        return str(got["metadata"]["uid"])

    def _current(self, run: Run, pods: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The pods of this attempt's RayCluster (their owner is its uid); those of an earlier
        attempt's, made by the operator after that one was deleted, are deleted (the work of
        Kubernetes' garbage collector, which may lag or, in the tests, not run)."""
        if run.uid is None:
            run.uid = self._cluster_uid(run)  # adopted after a restart
        if run.uid is None:
            return pods
        mine = [p for p in pods if any(o.get("uid") == run.uid for o in p["metadata"].get("ownerReferences") or [])]
        for p in pods:
            if p not in mine and not p["metadata"].get("deletionTimestamp"):
                _delete_quietly(self.api, f"/api/v1/namespaces/{run.namespace}/pods/{p['metadata']['name']}",
                                {"apiVersion": "v1", "kind": "DeleteOptions", "gracePeriodSeconds": 0})
        return mine

    def _advance(self, run: Run, pods: list[dict[str, Any]], ready: Mapping[str, bool]) -> None:
        every = pods  # the job's cluster's, of any attempt: all go when it ends
        if run.ending is None and run.created:
            pods = self._current(run, pods)
            newly = [] if run.started else binder.to_bind(pods, run.groups, run.bound)
            for pod, node in newly:
                binder.bind(self.api, pod, node)
                run.bound.add(pod["metadata"]["labels"][binder.GROUP])
            if newly:
                return  # the list is from before these bindings: judge on the next one
            verdict = assess(run.groups, pods, ready, started=run.started, bound=run.bound)
            if verdict.kind is EventKind.STARTED:
                run.started = True
                self._emit(run.job.id, EventKind.STARTED)
            elif verdict.kind is not None:
                if verdict.kind is EventKind.LOST:
                    with self._lock:
                        self._lost_nodes.update(lost_nodes(run.groups, ready))
                self._end(run, verdict.kind, verdict.detail)
            elif not run.started and self.clock.now() - run.created_at > self.settings.start_timeout_s:
                self._end(run, EventKind.LOST, f"its RayCluster was not running within "
                          f"{self.settings.start_timeout_s:.0f} s of being made (pods: {len(pods)})")
        if run.ending is not None:
            self._delete(run, every, ready)

    def _end(self, run: Run, kind: EventKind, detail: str) -> None:
        with self._lock:
            if run.ending is None:
                run.ending, run.detail = kind, detail

    def _delete(self, run: Run, pods: list[dict[str, Any]], ready: Mapping[str, bool]) -> None:
        """Suspend the cluster (KubeRay deletes its pods and makes no more), delete its pods
        with the job's grace (at once if their node is gone: no kubelet will confirm, as
        Kubernetes' pod GC would); once none is left, delete the cluster and its objects and
        report the ending: its devices are free."""
        ns = run.namespace
        path = f"/apis/ray.io/v1/namespaces/{ns}/rayclusters/{run.cluster}"
        if not run.suspended:
            _quietly(lambda: call(self.api, "PATCH", path, {"spec": {"suspend": True}},
                                  content_type="application/merge-patch+json"))
            run.suspended = True
        for p in pods:
            node = p["spec"].get("nodeName")
            orphan = node is not None and node not in ready
            if p["metadata"].get("deletionTimestamp") and not orphan:
                continue
            grace = 0 if orphan or node is None else max(0, round(run.grace_s))
            _delete_quietly(self.api, f"/api/v1/namespaces/{ns}/pods/{p['metadata']['name']}",
                            {"apiVersion": "v1", "kind": "DeleteOptions", "gracePeriodSeconds": grace})
        if pods:
            return
        for gone in (path, f"/apis/networking.k8s.io/v1/namespaces/{ns}/networkpolicies/{run.cluster}",
                     f"/api/v1/namespaces/{ns}/secrets/{manifests.secret_name(run.cluster)}"):
            _delete_quietly(self.api, gone)
        # the head's Service (its owner reference's GC would do it where kube-controller-manager runs)
        for svc in call(self.api, "GET", f"/api/v1/namespaces/{ns}/services",
                        query={"labelSelector": f"{CLUSTER_LABEL}={run.cluster}"})["items"]:
            _delete_quietly(self.api, f"/api/v1/namespaces/{ns}/services/{svc['metadata']['name']}")
        assert run.ending is not None
        with self._lock:
            if self._runs.get(run.job.id) is run:
                del self._runs[run.job.id]
                self._ended[run.job.id] = run.ending
                while len(self._ended) > KEEP_ENDED:
                    self._ended.pop(next(iter(self._ended)))
                self._events.append(ExecutorEvent(run.job.id, run.ending, self.clock.now(), run.detail))

    def _emit(self, job_id: str, kind: EventKind, detail: str = "") -> None:
        with self._lock:
            self._events.append(ExecutorEvent(job_id, kind, self.clock.now(), detail))


def _quietly(request: Callable[[], Any]) -> None:
    """A request whose object may be gone already (404): then it is done."""
    from kubernetes.client.exceptions import ApiException

    try:
        request()
    except ApiException as exc:
        if exc.status != 404:
            raise


def _delete_quietly(api: Any, path: str, body: Any = None) -> None:
    _quietly(lambda: call(api, "DELETE", path, body))
