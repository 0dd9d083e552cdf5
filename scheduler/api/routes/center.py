"""The center's capacity, and the health probes."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from scheduler.api import views
from scheduler.api.auth import Caller, Svc
from scheduler.api.models import CenterOut, Health
from scheduler.api.responses import Json, ok, problems

router = APIRouter(tags=["center"])


@router.get("/v1/center", responses={**ok(CenterOut), **problems(401)},
            summary="Capacity by pool and accelerator type, in PFLOPS and devices: total, allocated, free")
def center(_: Caller, svc: Svc) -> Response:
    allocated = svc.node_allocations()
    guaranteed = sum(t.quota.guaranteed for t in svc.tenants())
    return Json(views.center(svc.center(), allocated, guaranteed, svc.policy.priority_classes))


@router.get("/healthz", responses=ok(Health), tags=["health"], summary="The process answers")
def healthz() -> Response:
    return Json({"status": "ok"})


@router.get("/readyz", responses={**ok(Health), **problems(503)}, tags=["health"],
            summary="The store is loaded, reconciled, and the scheduling loop runs")
def readyz(svc: Svc) -> Response:
    why = svc.readiness()
    if why is not None:
        return Json({"status": "starting" if why == "starting" else "unavailable", "detail": why},
                    status_code=503)
    return Json({"status": "ok"})
