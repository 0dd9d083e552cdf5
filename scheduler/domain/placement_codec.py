"""A placement as plain data, one codec for every place it leaves the process: the store's
column and job events, the API's views, and the executor's job metadata and environment.

Two shapes: ``to_dict`` (``{"accelerator", "workers": [{"node", "devices"}]}``, stored;
the API adds the distinct ``nodes``) and ``to_bundles_json`` (the workers as Ray bundles,
``[{"bundle", "node", "devices"}]``, the ``AICC_PLACEMENT`` a job reads).
"""

from __future__ import annotations

import json
from typing import Any

from scheduler.domain.job import Placement, WorkerPlacement


def to_dict(p: Placement | None) -> dict[str, Any] | None:
    if p is None:
        return None
    return {"accelerator": p.accelerator,
            "workers": [{"node": w.node, "devices": list(w.devices)} for w in p.workers]}


def from_dict(d: dict[str, Any] | None) -> Placement | None:
    if d is None:
        return None
    return Placement(d["accelerator"], _workers(d["workers"]))


def to_view(p: Placement | None) -> dict[str, Any] | None:
    """What the API shows: the stored shape and the distinct nodes, in worker order."""
    d = to_dict(p)
    if d is None or p is None:
        return None
    return {"accelerator": p.accelerator, "nodes": list(p.nodes), "workers": d["workers"]}


def to_bundles_json(p: Placement) -> str:
    return json.dumps([{"bundle": i, "node": w.node, "devices": list(w.devices)}
                       for i, w in enumerate(p.workers)], separators=(",", ":"))


def from_bundles_json(raw: str, accelerator: str) -> Placement | None:
    """Back from ``to_bundles_json``; None for text that is not one (metadata of another tool)."""
    try:
        return Placement(accelerator, _workers(json.loads(raw)))
    except (ValueError, KeyError, TypeError):
        return None


def _workers(rows: list[dict[str, Any]]) -> tuple[WorkerPlacement, ...]:
    return tuple(WorkerPlacement(w["node"], tuple(w["devices"])) for w in rows)
