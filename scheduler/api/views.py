"""Domain objects to the JSON the API answers (the shapes of ``scheduler.api.models``).

Built as plain dicts and serialized with orjson: the submit path answers
thousands of times a second, and validating our own output would cost more
than the rest of the request.
"""

from __future__ import annotations

import base64
import re
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson

from scheduler.api.params import DATE_PATTERN, DATE_TIME_PATTERN, EPOCH_PATTERN
from scheduler.domain import Center, Tenant
from scheduler.domain import placement_codec as placements
from scheduler.domain.errors import Invalid, Malformed
from scheduler.domain.spec_codec import spec_to_dict
from scheduler.domain.units import GFLOPS_PER_PFLOPS, format_compute, format_memory
from scheduler.service import JobView, TokenInfo


def rfc3339(t: float | None) -> str | None:
    if t is None:
        return None
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_time(value: str | None, default: float, what: str = "time") -> float:
    """RFC 3339 date-time or date (midnight UTC), or epoch seconds, exactly as the OpenAPI
    description says (``scheduler.api.params``); outside years 1970 to 9999: those bounds."""
    if value is None:
        return default
    if _EPOCH.fullmatch(value):
        t = float(value)
    elif _DATE.fullmatch(value) or _DATE_TIME.fullmatch(value):
        try:
            dt = datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
        except ValueError:
            raise Invalid("validation", f"{what}: {value!r} is not a valid date or time") from None
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=UTC)
        try:
            t = dt.timestamp()
        except (OverflowError, ValueError):  # before year 1 or after 9999 once the offset applies
            t = _MIN_TIME if dt.year < 1970 else _MAX_TIME
    else:
        raise Invalid("validation", f"{what}: cannot read time {value[:64]!r}: expected RFC 3339, "
                           "e.g. 2026-01-31T00:00:00Z, a date 2026-01-31, or epoch seconds")
    return min(max(t, _MIN_TIME), _MAX_TIME)


_MIN_TIME, _MAX_TIME = 0.0, 253402300799.0  # 1970-01-01 .. 9999-12-31T23:59:59Z
_EPOCH = re.compile(EPOCH_PATTERN)
_DATE = re.compile(DATE_PATTERN)
_DATE_TIME = re.compile(DATE_TIME_PATTERN)


def pflops(gflops: int | float) -> float:
    return round(gflops / GFLOPS_PER_PFLOPS, 6)


def job(v: JobView) -> dict[str, Any]:
    j = v.job
    s = j.spec
    spec = spec_to_dict(s)  # every field of the spec, as stored; memory shown with its unit
    spec["resources"]["memory"] = format_memory(s.resources.memory_bytes)
    return {
        "id": j.id,
        "tenant": s.tenant,
        **spec,
        "state": j.state.value,
        "devices": s.devices,
        "submitted_at": rfc3339(j.submitted_at),
        "admitted_at": rfc3339(j.admitted_at),
        "started_at": rfc3339(j.started_at),
        "finished_at": rfc3339(j.finished_at),
        "placement": placements.to_view(j.placement),
        "borrowing": j.borrowing,
        "reason": v.reason,
        "detail": v.detail,
        "queue_position": v.position,
        "expected_start_at": None if v.eta is None else rfc3339(v.eta.start),
        "expected_start_how": None if v.eta is None else v.eta.how.value,
        "expected_start_detail": None if v.eta is None else v.eta.detail,
        "preemptions": j.preemptions,
        "node_losses": j.node_losses,
        "ran_s": round(j.ran_s, 3),
        "budget_warning": v.budget_warning,
    }


def quota(t: Tenant) -> dict[str, Any]:
    q = t.quota
    return {
        "guaranteed": format_compute(q.guaranteed),
        "guaranteed_pflops": pflops(q.guaranteed),
        "limit": format_compute(q.limit),
        "limit_pflops": pflops(q.limit),
        "lending_limit": None if q.lending_limit is None else format_compute(q.lending_limit),
        "lending_limit_pflops": None if q.lending_limit is None else pflops(q.lending_limit),
        "caps": dict(q.caps),
    }


def tenant(t: Tenant, live: Mapping[str, int], children: Sequence[str] = ()) -> dict[str, Any]:
    return {"name": t.name, "parent": t.parent, "children": list(children), "weight": t.weight,
            "grace_period_s": t.grace_period_s, "isolation": t.isolation.value, "quota": quota(t),
            "live_jobs": dict(live)}


def token(info: TokenInfo) -> dict[str, Any]:
    return {"id": info.id, "tenant": info.tenant, "name": info.name,
            "created_at": rfc3339(info.created_at), "created_by": info.created_by,
            "revoked_at": rfc3339(info.revoked_at)}


def usage(t: Tenant, u: Mapping[str, Any]) -> dict[str, Any]:
    q = t.quota
    return {
        "tenant": t.name, "parent": t.parent,
        "guaranteed": format_compute(q.guaranteed), "guaranteed_pflops": pflops(q.guaranteed),
        "limit": format_compute(q.limit), "limit_pflops": pflops(q.limit),
        "in_use": format_compute(u["in_use"]), "in_use_pflops": pflops(u["in_use"]),
        "borrowed": format_compute(u["borrowed"]), "borrowed_pflops": pflops(u["borrowed"]),
        "devices": dict(sorted(u["devices"].items())),
        "pending_jobs": u["pending"], "running_jobs": u["running"],
    }


def _capacity(devices: int, allocated: int, ready: int, gflops: int) -> dict[str, Any]:
    free = max(0, ready - allocated)
    return {"devices": devices, "pflops": pflops(devices * gflops),
            "allocated_devices": allocated, "allocated_pflops": pflops(allocated * gflops),
            "free_devices": free, "free_pflops": pflops(free * gflops),
            "unschedulable_devices": devices - ready}


def center(c: Center, allocated: Mapping[str, int], guaranteed: int,
           priority_classes: Mapping[str, int]) -> dict[str, Any]:
    """Capacity by pool and by type: total, allocated (held by jobs), free (ready and unheld)."""
    g = {n: a.gflops for n, a in c.accelerators.items()}
    pools = []
    by_type: dict[str, list[int]] = {n: [0, 0, 0] for n in c.accelerators}
    for pool in c.pools:
        nodes = [c.node(n) for n in pool.nodes]
        devices = sum(n.devices for n in nodes)
        alloc = sum(allocated.get(n.name, 0) for n in nodes)
        ready = sum(n.devices for n in nodes if n.schedulable)
        ready_alloc = sum(allocated.get(n.name, 0) for n in nodes if n.schedulable)
        entry = {"name": pool.name, "accelerator": pool.accelerator, "nodes": len(nodes),
                 "racks": len({n.rack for n in nodes}),
                 **_capacity(devices, alloc, ready, g[pool.accelerator])}
        entry["free_devices"] = ready - ready_alloc
        entry["free_pflops"] = pflops((ready - ready_alloc) * g[pool.accelerator])
        pools.append(entry)
        t = by_type[pool.accelerator]
        t[0] += devices
        t[1] += alloc
        t[2] += ready - ready_alloc
    accels = []
    for name, a in c.accelerators.items():
        devices, alloc, free = by_type[name]
        accels.append({"name": name, "tflops_fp16": a.tflops["fp16"], "memory": format_memory(a.memory_bytes),
                       "devices": devices, "pflops": pflops(devices * g[name]),
                       "allocated_devices": alloc, "allocated_pflops": pflops(alloc * g[name]),
                       "free_devices": free, "free_pflops": pflops(free * g[name]),
                       "unschedulable_devices": sum(p["unschedulable_devices"] for p in pools
                                                    if p["accelerator"] == name)})
    total = {k: sum(p[k] for p in pools) for k in
             ("devices", "allocated_devices", "free_devices", "unschedulable_devices")}
    total |= {k: round(sum(p[k] for p in pools), 6) for k in ("pflops", "allocated_pflops", "free_pflops")}
    return {"name": c.name, "total": total, "pools": pools, "accelerators": accels,
            "guaranteed_pflops": pflops(guaranteed), "priority_classes": dict(priority_classes)}


# -- continue tokens: opaque to clients, checked against the query they continue ---------


def encode_continue(after: int, query: str) -> str:
    raw = orjson.dumps({"a": after, "q": query})
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_continue(token: str | None, query: str) -> int | None:
    if not token:
        return None
    try:
        pad = "=" * (-len(token) % 4)
        data = orjson.loads(base64.urlsafe_b64decode(token + pad))
        after, q = int(data["a"]), str(data["q"])
    except Exception:
        raise Malformed("invalid-continue", "the continue token is not one this API gave") from None
    if q != query:
        raise Malformed("invalid-continue", "the continue token belongs to a query with other filters")
    return after


def now() -> float:
    return time.time()
