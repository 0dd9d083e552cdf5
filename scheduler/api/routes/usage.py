"""Usage now (quota, in use, borrowed) and the ledger of what was consumed."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from starlette.responses import Response

from scheduler.api import views
from scheduler.api.auth import Admin, Caller, Svc
from scheduler.api.errors import BadRequest
from scheduler.api.models import LedgerOut, UsageList, UsageOut
from scheduler.api.params import TimeQ
from scheduler.api.responses import Json, ok, problems
from scheduler.domain.errors import Forbidden

router = APIRouter(tags=["usage"])

TenantQ = Annotated[str | None, Query(max_length=63, description="admin only: one tenant")]


@router.get("/v1/usage", responses={**ok(UsageOut), **problems(401, 403, 404, 422)},
            summary="Your guaranteed, limit, in-use and borrowed PFLOPS, and devices by type",
            description="With a tenant's token: its own (another `tenant` is 403). With the admin "
                        "token, `tenant` is required (422 without it).")
def usage(caller: Caller, svc: Svc, tenant: TenantQ = None) -> Response:
    name = caller.tenant
    if name is None:
        if tenant is None:
            raise BadRequest("tenant: an admin names the tenant (or uses /v1/admin/usage)")
        name = tenant
    elif tenant is not None and tenant != name:
        raise Forbidden("forbidden", "a tenant sees only its own usage")
    t = svc.tenant(name)
    return Json(views.usage(t, svc.usage()[name]))


@router.get("/v1/admin/usage", responses={**ok(UsageList), **problems(401, 403)},
            summary="Every tenant's usage")
def usage_all(_: Admin, svc: Svc) -> Response:
    u = svc.usage()
    return Json({"items": [views.usage(t, u[t.name]) for t in svc.tenants()]})


@router.get("/v1/usage/ledger", responses={**ok(LedgerOut), **problems(401, 403, 422)},
            summary="PFLOPS-hours and device-hours by tenant, accelerator type and job kind",
            description="422 when `end` is before `start`; a tenant's token sees only its own "
                        "ledger (another `tenant` is 403).")
def ledger(caller: Caller, svc: Svc,
           start: Annotated[TimeQ, Query(max_length=64, description="default: the beginning")] = None,
           end: Annotated[TimeQ, Query(max_length=64, description="default: now (or start, if later)")] = None,
           tenant: TenantQ = None) -> Response:
    if caller.tenant is not None:
        if tenant is not None and tenant != caller.tenant:
            raise Forbidden("forbidden", "a tenant sees only its own ledger")
        tenant = caller.tenant
    now = svc.clock.now()
    lo = views.parse_time(start, 0.0, "start")
    hi = views.parse_time(end, max(now, lo), "end")  # a start in the future: an empty ledger
    if hi < lo:
        raise BadRequest("end: must not be before start")
    lines = svc.ledger(lo, hi, tenant)
    items = [{"tenant": x.tenant, "accelerator": x.accelerator, "kind": x.kind, "jobs": x.jobs,
              "device_hours": round(x.device_hours, 6), "pflops_hours": round(x.pflops_hours, 6)}
             for x in lines]
    return Json({"start": views.rfc3339(lo), "end": views.rfc3339(hi), "items": items,
                 "total_device_hours": round(sum(x.device_hours for x in lines), 6),
                 "total_pflops_hours": round(sum(x.pflops_hours for x in lines), 6)})
