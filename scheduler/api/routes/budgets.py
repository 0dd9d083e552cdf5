"""Admin: budgets, PFLOPS-hours a tenant (with its subtree) may spend per period (issue 22)."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from scheduler.api.auth import Admin, Svc
from scheduler.api.models import BudgetIn, BudgetList, BudgetOut, BudgetWhatIfIn, BudgetWhatIfOut
from scheduler.api.responses import Json, ok, problems
from scheduler.api.views import rfc3339
from scheduler.domain.budget import Budget, BudgetStatus, OnExhausted, Period
from scheduler.domain.errors import NotFound

router = APIRouter(prefix="/v1/admin", tags=["admin: budgets"])


def budget_view(s: BudgetStatus) -> dict[str, object]:
    b = s.budget
    return {"tenant": b.tenant, "pflops_hours": b.pflops_hours, "period": b.period.value, "period_s": b.period_s,
            "carryover": b.carryover, "on_exhausted": b.on_exhausted.value,
            "period_start": rfc3339(s.period_start), "period_end": rfc3339(s.period_end),
            "carried_pflops_hours": round(s.carried, 6), "available_pflops_hours": round(s.available, 6),
            "spent_pflops_hours": round(s.spent, 6), "left_pflops_hours": round(s.left, 6),
            "spent_ratio": round(s.spent_ratio, 6), "exhausted": s.exhausted}


@router.get("/budgets", responses={**ok(BudgetList), **problems(401, 403)},
            summary="Every budget and where it stands this period (spent from the ledger, now)")
def list_(_: Admin, svc: Svc) -> Response:
    found = svc.budget_statuses()
    return Json({"items": [budget_view(found[n]) for n in sorted(found)]})


@router.get("/budgets/{tenant}", responses={**ok(BudgetOut), **problems(401, 403, 404)}, summary="A budget")
def get(tenant: str, _: Admin, svc: Svc) -> Response:
    found = svc.budget_statuses()
    if tenant not in found:
        raise NotFound("budget-not-found", f"tenant {tenant!r} has no budget")
    return Json(budget_view(found[tenant]))


@router.put("/budgets/{tenant}", responses={**ok(BudgetOut), **problems(401, 403, 404, 422)},
            summary="Set a tenant's budget (for its whole subtree); audited",
            description="`period: custom` needs `period_s` (at least 3600 s); month and week take none "
                        "(422 otherwise). A budget raised or lowered applies to the whole period it is in. Once spent, "
                        "the tenant's new jobs `hold` (wait, BudgetExhausted) or run `best-effort` (only "
                        "on idle capacity, preemptible, never preempting); running jobs go on.")
def set_(tenant: str, body: BudgetIn, caller: Admin, svc: Svc) -> Response:
    budget = Budget(tenant, body.pflops_hours, Period(body.period), body.carryover,  # BudgetError: Invalid
                    OnExhausted(body.on_exhausted), body.period_s, svc.budget_anchor(tenant, body.anchor))
    return Json(budget_view(svc.set_budget(caller.name, budget)))


@router.delete("/budgets/{tenant}", responses={**ok(BudgetList), **problems(401, 403, 404)},
               summary="Remove a tenant's budget; audited")
def delete(tenant: str, caller: Admin, svc: Svc) -> Response:
    svc.delete_budget(caller.name, tenant)
    found = svc.budget_statuses(fresh=False)
    return Json({"items": [budget_view(found[n]) for n in sorted(found)]})


@router.post("/budgets/{tenant}/whatif", responses={**ok(BudgetWhatIfOut), **problems(401, 403, 404, 422)},
             summary="Had the tenant's budget been this much this period, who would have been held "
                     "(nothing is changed)")
def what_if(tenant: str, body: BudgetWhatIfIn, _: Admin, svc: Svc) -> Response:
    start, spent_at, held = svc.budget_what_if(tenant, body.pflops_hours)
    return Json({"tenant": tenant, "pflops_hours": body.pflops_hours, "period_start": rfc3339(start),
                 "spent_at": rfc3339(spent_at),
                 "would_have_held": [{"job_id": r.job_id, "tenant": r.tenant, "started_at": rfc3339(r.started_at),
                                      "devices": r.devices} for r in held]})
