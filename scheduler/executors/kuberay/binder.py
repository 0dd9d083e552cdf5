"""aicc as the Kubernetes scheduler of its clusters' pods: each pending pod with
``schedulerName: aicc`` is bound (``pods/{name}/binding``) to the node its group was placed
on, one pod per group. No other scheduler binds them (kube-scheduler takes only pods
naming it), so where they run is exactly where aicc placed the job.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from scheduler.executors.kuberay.manifests import SCHEDULER_NAME
from scheduler.kube.client import call

#: The label ``manifests.py`` puts on each pod template: its group (head, n0, n1, ...).
GROUP = "aicc.io/group"


def live(pods: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The pods not being deleted."""
    return [p for p in pods if not p["metadata"].get("deletionTimestamp")]


def binding(pod: str, node: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": pod},
            "target": {"apiVersion": "v1", "kind": "Node", "name": node}}


def to_bind(pods: Iterable[Mapping[str, Any]], groups: Mapping[str, str],
            done: Iterable[str] = ()) -> list[tuple[Mapping[str, Any], str]]:
    """(pod, node) for each pending pod of ours whose group has no pod bound yet, nor had
    (``done``): one pod a group, once. A pod the operator makes to replace one that went is
    never bound: that attempt is lost, and the job is requeued onto a fresh cluster."""
    pods = live(pods)
    bound = {p["metadata"]["labels"].get(GROUP) for p in pods if p["spec"].get("nodeName")} | set(done)
    out = []
    for p in sorted(pods, key=lambda p: p["metadata"]["name"]):
        group = p["metadata"]["labels"].get(GROUP)
        if p["spec"].get("nodeName") or p["spec"].get("schedulerName") != SCHEDULER_NAME:
            continue
        if group in groups and group not in bound:
            out.append((p, groups[group]))
            bound.add(group)
    return out


def bind(api: Any, pod: Mapping[str, Any], node: str) -> None:
    meta = pod["metadata"]
    call(api, "POST", f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}/binding",
         binding(meta["name"], node))
