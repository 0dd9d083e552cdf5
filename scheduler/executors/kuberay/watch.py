"""What a job's pods and nodes say about it, as the executor's events: pure, from the lists.

- started: every group (head, n0, ...) has a pod bound to its placed node and Running;
- succeeded / failed: the head's ``aicc-driver`` container ended, exit 0 / not 0 (``ray job
  submit`` exits 1 when the job failed);
- lost: a placed node is gone or NotReady, or, once a pod was bound, a group has no Running
  pod on its node any more (deleted, evicted, failed), as the Ray executor reports a node
  that went away.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from scheduler.engine.ports import EventKind
from scheduler.executors.kuberay.binder import GROUP, live
from scheduler.executors.kuberay.manifests import DRIVER, HEAD_GROUP


@dataclass(frozen=True)
class Verdict:
    kind: EventKind | None
    detail: str = ""


def node_ready(nodes: Iterable[Mapping[str, Any]]) -> dict[str, bool]:
    """Node name -> whether its Ready condition is True."""
    out = {}
    for n in nodes:
        conditions = (n.get("status") or {}).get("conditions") or []
        out[n["metadata"]["name"]] = any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)
    return out


def lost_nodes(groups: Mapping[str, str], ready: Mapping[str, bool]) -> list[str]:
    """The placed nodes that are gone or not Ready."""
    return sorted({n for n in groups.values() if not ready.get(n, False)})


def driver_exit(pod: Mapping[str, Any]) -> int | None:
    for status in (pod.get("status") or {}).get("containerStatuses") or []:
        if status["name"] == DRIVER:
            ended = (status.get("state") or {}).get("terminated")
            return None if ended is None else int(ended.get("exitCode", 1))
    return None


def on_its_node(pod: Mapping[str, Any], groups: Mapping[str, str]) -> bool:
    group = pod["metadata"]["labels"].get(GROUP)
    return group in groups and pod["spec"].get("nodeName") == groups[group]


def assess(groups: Mapping[str, str], pods: Iterable[Mapping[str, Any]], ready: Mapping[str, bool],
           *, started: bool, bound: Iterable[str] = ()) -> Verdict:
    """The event this job's state calls for now (``kind`` None: nothing new). ``bound``: the
    groups whose pod aicc bound already (a group not yet bound is not lost, only pending)."""
    gone = lost_nodes(groups, ready)
    if gone:
        return Verdict(EventKind.LOST, f"node {', '.join(gone)} gone or NotReady")
    placed = [p for p in live(pods) if on_its_node(p, groups)]
    phase = {p["metadata"]["labels"][GROUP]: (p.get("status") or {}).get("phase") or "Pending" for p in placed}
    failed = sorted(g for g, ph in phase.items() if ph in ("Failed", "Succeeded"))
    if failed:
        return Verdict(EventKind.LOST, f"the pod of group {', '.join(failed)} ended")
    head = next((p for p in placed if p["metadata"]["labels"][GROUP] == HEAD_GROUP), None)
    if started and head is not None and (code := driver_exit(head)) is not None:
        if code == 0:
            return Verdict(EventKind.SUCCEEDED)
        return Verdict(EventKind.FAILED, f"the entrypoint failed (aicc-driver exited {code})")
    vanished = sorted((set(groups) if started else set(bound)) - set(phase))
    if vanished:
        return Verdict(EventKind.LOST, f"the pod of group {', '.join(vanished)} is gone")
    if not started and all(phase.get(g) == "Running" for g in groups):
        return Verdict(EventKind.STARTED)
    return Verdict(None)
