"""Admin: tenants, their quotas (with history) and their tokens."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Query
from starlette.responses import Response

from scheduler.api import views
from scheduler.api.auth import Admin, Svc
from scheduler.api.models import (
    QuotaHistoryList,
    QuotaIn,
    TenantCreate,
    TenantDeleted,
    TenantList,
    TenantOut,
    TenantUpdate,
    TokenCreate,
    TokenIssued,
    TokenList,
    TokenOut,
)
from scheduler.api.params import QueryBool
from scheduler.api.responses import Json, ok, problems
from scheduler.domain import Quota, Tenant
from scheduler.domain.errors import Invalid
from scheduler.domain.units import format_compute
from scheduler.service import QuotaChange

router = APIRouter(prefix="/v1/admin", tags=["admin: tenants"])


def _children(svc: Svc) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for t in svc.tenants():
        if t.parent is not None:
            out.setdefault(t.parent, []).append(t.name)
    return out


def _out(svc: Svc, t: Tenant) -> dict[str, object]:
    return views.tenant(t, svc.live_job_counts().get(t.name, {}), _children(svc).get(t.name, ()))


@router.post("/tenants", status_code=201, responses={**ok(TenantOut, 201), **problems(401, 403, 409, 422)},
             summary="Create a tenant, optionally with its quota",
             description="Rules between fields and with the center that the schema cannot state, refused with 422: "
                         "`limit` >= `guaranteed`; `lending_limit` <= `guaranteed`; a cap names one of the "
                         "center's accelerator types (invalid-quota); a `parent` exists and its children's "
                         "guarantees fit in its own (invalid-quota, naming both); and, unless "
                         "`allow_overcommit`, the top-level tenants' guarantees may not sum beyond the "
                         "center's capacity (overcommitted).")
def create(body: TenantCreate, caller: Admin, svc: Svc) -> Response:
    quota = Quota(body.guaranteed, body.limit if body.limit is not None else body.guaranteed,
                  body.lending_limit, dict(body.caps))  # QuotaError is Invalid: 422 invalid-quota
    tenant = Tenant(body.name, quota, body.weight, body.grace_period_s, body.parent, body.isolation)
    svc.create_tenant(caller.name, tenant, allow_overcommit=body.allow_overcommit)
    return Json(_out(svc, tenant), status_code=201, headers={"Location": f"/v1/admin/tenants/{tenant.name}"})


@router.get("/tenants", responses={**ok(TenantList), **problems(401, 403)}, summary="List tenants")
def list_(_: Admin, svc: Svc) -> Response:
    counts = svc.live_job_counts()
    children = _children(svc)
    return Json({"items": [views.tenant(t, counts.get(t.name, {}), children.get(t.name, ()))
                           for t in svc.tenants()]})


@router.get("/tenants/{name}", responses={**ok(TenantOut), **problems(401, 403, 404)}, summary="A tenant")
def get(name: str, _: Admin, svc: Svc) -> Response:
    return Json(_out(svc, svc.tenant(name)))


@router.patch("/tenants/{name}", responses={**ok(TenantOut), **problems(401, 403, 404, 422)},
              summary="Update a tenant's weight, grace period, parent (moving it in the tree) or isolation",
              description="An empty body is refused with 422. A move that breaks a parent's sum "
                          "(children's guarantees beyond the parent's) is refused with 422 naming both.")
def update(name: str, body: TenantUpdate, caller: Admin, svc: Svc) -> Response:
    if not body.model_fields_set:
        raise Invalid("validation", "nothing to update: give weight, grace_period_s, parent or isolation")
    clear = "grace_period_s" in body.model_fields_set and body.grace_period_s is None
    to_top = "parent" in body.model_fields_set and body.parent is None
    t = svc.update_tenant(caller.name, QuotaChange(name, weight=body.weight, grace_period_s=body.grace_period_s,
                                                   clear_grace_period=clear, parent=body.parent,
                                                   clear_parent=to_top, isolation=body.isolation),
                          allow_overcommit=True, action="tenant.update")
    return Json(_out(svc, t))


@router.delete("/tenants/{name}", responses={**ok(TenantDeleted), **problems(401, 403, 404, 409)},
               summary="Delete a tenant; refused while it has live jobs unless force=true")
def delete(name: str, caller: Admin, svc: Svc,
           force: Annotated[QueryBool, Query(description="cancel its live jobs")] = False) -> Response:
    cancelled = svc.delete_tenant(caller.name, name, force=force)
    return Json({"name": name, "cancelled_jobs": cancelled})


@router.put("/tenants/{name}/quota", responses={**ok(TenantOut), **problems(401, 403, 404, 422)},
            summary="Set a tenant's quota (numbers are PFLOPS; strings take units: 100P, 500T)",
            description="Rules between fields and with the center that the schema cannot state, refused with 422: "
                         "`limit` >= `guaranteed`; `lending_limit` <= `guaranteed`; a cap names one of the "
                         "center's accelerator types (invalid-quota); and, unless `allow_overcommit`, the "
                         "guarantees of all tenants may not sum beyond the center's capacity (overcommitted).")
def set_quota(name: str, body: QuotaIn, caller: Admin, svc: Svc) -> Response:
    change = QuotaChange(name, body.guaranteed, body.limit, body.lending_limit, body.caps, body.weight,
                         clear_lending_limit="lending_limit" in body.model_fields_set
                         and body.lending_limit is None)
    t = svc.update_tenant(caller.name, change, allow_overcommit=body.allow_overcommit)
    return Json(_out(svc, t))


@router.get("/tenants/{name}/quota", responses={**ok(TenantOut), **problems(401, 403, 404)},
            summary="A tenant's quota")
def get_quota(name: str, _: Admin, svc: Svc) -> Response:
    return Json(_out(svc, svc.tenant(name)))


@router.get("/tenants/{name}/quota/history", responses={**ok(QuotaHistoryList), **problems(401, 403, 404)},
            summary="Every quota the tenant had, newest first: who set it, when")
def quota_history(name: str, _: Admin, svc: Svc) -> Response:
    def c(v: int | None) -> str | None:
        return None if v is None else format_compute(v)

    items = [{"at": views.rfc3339(h["at"]), "actor": h["actor"], "action": h["action"],
              "weight": h["weight"], "guaranteed": c(h["guaranteed"]), "limit": c(h["limit"]),
              "lending_limit": c(h["lending_limit"]), "caps": h["caps"]}
             for h in svc.quota_history(name)]
    if not items:
        svc.tenant(name)
    return Json({"items": items})


@router.post("/tenants/{name}/tokens", status_code=201,
             responses={**ok(TokenIssued, 201), **problems(401, 403, 404, 422)},
             summary="Issue a token for the tenant; the token is shown only in this answer")
def issue_token(name: str, caller: Admin, svc: Svc,
                body: Annotated[TokenCreate | None, Body()] = None) -> Response:
    info, token = svc.issue_token(caller.name, name, (body.name if body else "") or "default")
    return Json({"token": token, **views.token(info)}, status_code=201)


@router.get("/tenants/{name}/tokens", responses={**ok(TokenList), **problems(401, 403, 404)},
            summary="The tenant's tokens (never the secrets)")
def list_tokens(name: str, _: Admin, svc: Svc) -> Response:
    svc.tenant(name)
    return Json({"items": [views.token(t) for t in svc.list_tokens(name)]})


@router.delete("/tenants/{name}/tokens/{token_id}", responses={**ok(TokenOut), **problems(401, 403, 404)},
               summary="Revoke a token")
def revoke_token(name: str, token_id: str, caller: Admin, svc: Svc) -> Response:
    return Json(views.token(svc.revoke_token(caller.name, token_id, name)))


@router.get("/tokens", responses={**ok(TokenList), **problems(401, 403)},
            summary="All tokens, admin ones included (never the secrets)")
def all_tokens(_: Admin, svc: Svc) -> Response:
    return Json({"items": [views.token(t) for t in svc.list_tokens()]})


@router.delete("/tokens/{token_id}", responses={**ok(TokenOut), **problems(401, 403, 404)},
               summary="Revoke any token by id")
def revoke_any(token_id: str, caller: Admin, svc: Svc) -> Response:
    return Json(views.token(svc.revoke_token(caller.name, token_id)))
