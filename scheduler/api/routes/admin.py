"""Admin: nodes (cordon, uncordon, drain), jobs across tenants, the audit log, what-if."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Query
from starlette.responses import Response

from scheduler.api import views
from scheduler.api.auth import Admin, Svc
from scheduler.api.models import (
    AuditList,
    DrainIn,
    DrainOut,
    JobList,
    JobOut,
    NodeList,
    NodeOut,
    WhatIfIn,
    WhatIfOut,
)
from scheduler.api.params import AuditLimitQ, ContinueQ, KindQ, LimitQ, NodeStateQ, StateQ
from scheduler.api.responses import Json, ok, problems
from scheduler.api.routes.jobs import list_jobs
from scheduler.domain import NodeState
from scheduler.domain.units import format_memory
from scheduler.service import QuotaChange

router = APIRouter(prefix="/v1/admin", tags=["admin"])


# -- nodes -------------------------------------------------------------------------------

def _node(svc: Svc, name: str, allocated: dict[str, int]) -> dict[str, object]:
    n = svc.node(name)
    used = allocated.get(n.name, 0)
    return {"name": n.name, "pool": n.pool, "rack": n.rack, "accelerator": n.accelerator,
            "state": n.state.value, "devices": n.devices, "allocated": used,
            "free": n.devices - used if n.schedulable else 0, "cpus": n.cpus,
            "memory": format_memory(n.memory_bytes)}


@router.get("/nodes", responses={**ok(NodeList), **problems(401, 403)}, summary="Nodes and their state")
def nodes(_: Admin, svc: Svc,
          state: NodeStateQ = None,
          pool: Annotated[str | None, Query(max_length=63)] = None) -> Response:
    allocated = svc.node_allocations()
    items = [_node(svc, n.name, allocated) for n in svc.center().nodes
             if (state is None or n.state.value == state) and (pool is None or n.pool == pool)]
    return Json({"items": items})


@router.get("/nodes/{name}", responses={**ok(NodeOut), **problems(401, 403, 404)}, summary="A node")
def node(name: str, _: Admin, svc: Svc) -> Response:
    return Json(_node(svc, name, svc.node_allocations()))  # 404 node-not-found from svc.node


@router.post("/nodes/{name}/cordon", responses={**ok(NodeOut), **problems(401, 403, 404)},
             summary="Take nothing new on the node; what runs there keeps running")
def cordon(name: str, caller: Admin, svc: Svc) -> Response:
    svc.set_node_state(caller.name, name, NodeState.CORDONED)
    return Json(_node(svc, name, svc.node_allocations()))


@router.post("/nodes/{name}/uncordon", responses={**ok(NodeOut), **problems(401, 403, 404)},
             summary="Make the node schedulable again")
def uncordon(name: str, caller: Admin, svc: Svc) -> Response:
    svc.set_node_state(caller.name, name, NodeState.READY)
    return Json(_node(svc, name, svc.node_allocations()))


@router.post("/nodes/{name}/drain", responses={**ok(DrainOut), **problems(401, 403, 404, 422)},
             summary="Cordon, and with preempt=true stop (requeue) what runs there")
def drain(name: str, caller: Admin, svc: Svc, body: Annotated[DrainIn | None, Body()] = None) -> Response:
    stopped, left = svc.drain(caller.name, name, preempt=body.preempt if body else False)
    return Json({"node": name, "state": svc.node(name).state.value,
                 "preempted": stopped, "still_running": left})


# -- jobs across tenants -----------------------------------------------------------------

@router.get("/jobs", responses={**ok(JobList), **problems(400, 401, 403, 422)},
            summary="Jobs of every tenant (or one), in submission order")
def jobs(_: Admin, svc: Svc, tenant: Annotated[str | None, Query(max_length=63)] = None,
         state: StateQ = None, kind: KindQ = None, limit: LimitQ = 100,
         continue_: ContinueQ = None) -> Response:
    return list_jobs(svc, tenant, state, kind, limit, continue_)


@router.post("/jobs/{job_id}/cancel", responses={**ok(JobOut), **problems(401, 403, 404)},
             summary="Cancel any tenant's job")
def cancel(job_id: str, caller: Admin, svc: Svc) -> Response:
    return Json(views.job(svc.cancel(caller.name, job_id)))


# -- audit -------------------------------------------------------------------------------

@router.get("/audit", responses={**ok(AuditList), **problems(400, 401, 403)},
            summary="Admin actions, oldest first")
def audit(_: Admin, svc: Svc, limit: AuditLimitQ = 100,
          actor: Annotated[str | None, Query(max_length=128)] = None,
          target: Annotated[str | None, Query(max_length=253)] = None,
          continue_: ContinueQ = None) -> Response:
    query = f"audit|{actor or ''}|{target or ''}"
    after = views.decode_continue(continue_, query)
    rows = svc.audit_log(after_id=after, limit=limit + 1, actor=actor, target=target)
    page = rows[:limit]
    token = views.encode_continue(page[-1]["id"], query) if len(rows) > limit and page else None
    items = [{**r, "at": views.rfc3339(r["at"])} for r in page]
    return Json({"items": items, "continue": token})


# -- what-if -----------------------------------------------------------------------------

@router.post("/whatif", responses={**ok(WhatIfOut), **problems(401, 403, 404, 422)},
             summary="Which running jobs would be preempted and which pending would start, "
                     "were these quotas set now (nothing is changed)",
             description="404 for an unknown tenant; 422 invalid-quota when a change breaks a rule "
                         "between fields (`limit` >= `guaranteed`, `lending_limit` <= `guaranteed`, "
                         "caps of known accelerator types).")
def whatif(body: WhatIfIn, _: Admin, svc: Svc) -> Response:
    changes = [QuotaChange(c.tenant, c.guaranteed, c.limit, c.lending_limit, c.caps, c.weight,
                           clear_lending_limit="lending_limit" in c.model_fields_set
                           and c.lending_limit is None) for c in body.changes]
    result = svc.what_if(changes)
    prop, cur = result.proposed, result.current

    def known(job_id: str) -> tuple[str, str, int]:
        j = svc.live_job(job_id)
        return (j.spec.tenant, j.spec.name, j.spec.devices) if j else ("", "", 0)

    preempt = []
    for p in prop.preempts:
        t, n, d = known(p.job_id)
        preempt.append({"job_id": p.job_id, "tenant": t, "name": n, "devices": d,
                        "reason": p.reason.value, "for_job": p.for_job})
    start = []
    for a in prop.admits:
        t, n, _d = known(a.job_id)
        start.append({"job_id": a.job_id, "tenant": t, "name": n, "devices": a.placement.devices,
                      "accelerator": a.placement.accelerator, "borrowing": a.borrowing})
    cur_p = {p.job_id for p in cur.preempts}
    cur_a = {a.job_id for a in cur.admits}
    new_p = {p.job_id for p in prop.preempts}
    new_a = {a.job_id for a in prop.admits}
    return Json({"would_preempt": preempt, "would_start": start,
                 "preempt_because_of_change": [p["job_id"] for p in preempt if p["job_id"] not in cur_p],
                 "start_because_of_change": [s["job_id"] for s in start if s["job_id"] not in cur_a],
                 "prevented_by_change": sorted((cur_p - new_p) | (cur_a - new_a),
                                               key=lambda i: (len(i), i))})
