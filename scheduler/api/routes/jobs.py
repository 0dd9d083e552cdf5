"""Jobs: a tenant submits, lists, reads, cancels its own (another tenant's job is a 404).

The admin token may read and cancel any job here too; submitting needs a tenant token.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import ValidationError
from starlette.responses import Response
from starlette.routing import request_response

from scheduler.api import auth, views
from scheduler.api.auth import Caller, Svc, TenantCaller, principal
from scheduler.api.errors import BadRequest
from scheduler.api.models import (
    CheckpointOut,
    JobEventList,
    JobList,
    JobOut,
    JobSubmit,
    LogsOut,
    StopNoticeOut,
)
from scheduler.api.params import KINDS, STATES, ContinueQ, KindQ, LimitQ, StateQ
from scheduler.api.responses import Json, ok, problems
from scheduler.domain import JobSpec
from scheduler.domain import placement_codec as placements
from scheduler.domain.errors import Unauthorized, Unavailable
from scheduler.domain.spec_codec import spec_from_dict
from scheduler.service import Service, jobtoken

router = APIRouter(tags=["jobs"])


def spec_of(tenant: str, body: JobSubmit) -> JobSpec:
    """The body's fields are the spec's, by name (``scheduler.domain.spec_codec``)."""
    return spec_from_dict(tenant, body.model_dump())


class HandServed(APIRoute):
    """A route FastAPI describes from its endpoint's signature, as any other (so the OpenAPI
    body, header and responses come from the same models), but serves with the endpoint's
    ``serve(request)``: a hot path that skips FastAPI's dependency solving and decodes the
    body straight from bytes with pydantic-core, which cost more than the submission itself
    (``benchmarks/bench_api.py``). ``serve`` must apply the rules the signature states."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, endpoint, **kwargs)
        self.app = request_response(self.get_route_handler())  # Starlette's: no exit stacks per request

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        serve: Callable[[Request], Coroutine[Any, Any, Response]] = self.endpoint.serve  # type: ignore[attr-defined]
        return serve


IdempotencyKey = Annotated[str | None, Header(min_length=1, max_length=255, alias="Idempotency-Key",
                                              description="the same key and body return the same job; "
                                                          "another body is a 422")]


def submit(body: JobSubmit, caller: TenantCaller, idempotency_key: IdempotencyKey = None) -> Response:
    """What the route takes, for its description; ``serve_submit`` serves it."""
    raise NotImplementedError  # pragma: no cover


async def serve_submit(request: Request) -> Response:
    """The hot path, by hand (see ``HandServed``)."""
    caller = await auth.tenant(await auth.principal(request))
    svc: Service = request.app.state.service
    idempotency_key = request.headers.get("idempotency-key")
    if idempotency_key is not None and not 0 < len(idempotency_key) <= 255:
        raise BadRequest("Idempotency-Key: 1 to 255 characters")
    try:
        body = JobSubmit.model_validate_json(await request.body())
    except ValidationError as exc:
        raise RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]) from None
    assert caller.tenant is not None
    sha = hashlib.sha256(body.model_dump_json().encode()).hexdigest() if idempotency_key else None
    spec = spec_of(caller.tenant, body)
    job, future, created = svc.submit(spec, idempotency_key, sha)  # never waits for a step
    try:
        await request.app.state.commits.wait(future)
    except Exception:
        raise Unavailable("store-unavailable", "the job could not be recorded; try again") from None
    view = svc.quick_view(job)
    return Json(views.job(view), status_code=201 if created else 200,
                headers={"Location": f"/v1/jobs/{job.id}"})


submit.serve = serve_submit  # type: ignore[attr-defined]
#: Put first in the app's routes (``create_app``), not in ``router``: the hot path is matched
#: before any other route, and served as Starlette serves a plain route.
submit_route = HandServed("/v1/jobs", submit, methods=["POST"], status_code=201, tags=["jobs"],
                          responses={**ok(JobOut, 201), **ok(JobOut, 200),  # 200: replayed by its Idempotency-Key
                                     **problems(401, 403, 409, 413, 422, 503)},
                          summary="Submit a job (the tenant comes from the token)",
                          description="Refused with 403 tenant-token-required for the admin token; 409 "
                                      "duplicate-job; 422 idempotency-key-reused when the key came with "
                                      "another body.")


def _filters(values: list[str] | None, allowed: list[str], what: str) -> list[str]:
    """Comma-separated values from ``allowed`` in any case, exactly as the description's pattern
    says (``scheduler.api.params.csv_pattern``); an empty value filters nothing."""
    out: list[str] = []
    for v in values or []:
        if not v:
            continue
        if len(v) > 256:
            raise BadRequest(f"{what}: at most 256 characters",
                          [{"loc": ["query", what], "msg": "too long", "type": "string_too_long"}])
        for part in v.split(","):
            if part.lower() not in allowed:
                msg = f"{part[:64]!r} is not one of {', '.join(allowed)}"
                raise BadRequest(f"{what}: {msg}",
                              [{"loc": ["query", what], "msg": msg, "type": "enum"}])
            out.append(part.lower())
    return sorted(set(out))


def list_jobs(svc: Svc, tenant: str | None, state: list[str] | None, kind: list[str] | None,
              limit: int, continue_: str | None) -> Response:
    states = _filters(state, STATES, "state")
    kinds = _filters(kind, KINDS, "kind")
    if limit > svc.settings.max_page:
        raise BadRequest(f"limit: at most {svc.settings.max_page}",
                      [{"loc": ["query", "limit"], "msg": f"at most {svc.settings.max_page}",
                        "type": "less_than_equal"}])
    query = f"{tenant or '*'}|{','.join(states)}|{','.join(kinds)}"
    after = views.decode_continue(continue_, query)
    found = svc.list_jobs(tenant=tenant, states=states, kinds=kinds, after_seq=after, limit=limit + 1)
    more = len(found) > limit
    page = found[:limit]
    token = views.encode_continue(page[-1].job.seq, query) if more and page else None
    return Json({"items": [views.job(v) for v in page], "continue": token})


@router.get("/v1/jobs", responses={**ok(JobList), **problems(400, 401, 422)},
            summary="List your jobs in submission order (an admin sees all)",
            description="A `continue` token is opaque: only one this API gave for the same filters "
                        "is accepted (400 invalid-continue otherwise).")
def list_own(caller: Caller, svc: Svc, state: StateQ = None, kind: KindQ = None,
             limit: LimitQ = 100, continue_: ContinueQ = None) -> Response:
    return list_jobs(svc, caller.tenant, state, kind, limit, continue_)


@router.get("/v1/jobs/{job_id}", responses={**ok(JobOut), **problems(401, 404)},
            summary="A job: state, placement, pending reason, queue position, timestamps")
def get(job_id: str, caller: Caller, svc: Svc) -> Response:
    return Json(views.job(svc.get_job(job_id, caller.tenant)))


@router.post("/v1/jobs/{job_id}/cancel", responses={**ok(JobOut), **problems(401, 404)},
             summary="Cancel a job (a no-op on a finished one)")
def cancel(job_id: str, caller: Caller, svc: Svc) -> Response:
    return Json(views.job(svc.cancel(caller.name, job_id, caller.tenant)))


@router.post("/v1/jobs/{job_id}/checkpoint", responses={**ok(CheckpointOut), **problems(401, 404, 409)},
             summary="Report a checkpoint of a running job: it becomes a cheaper preemption victim",
             description="Authorized by the job's own credential (AICC_JOB_TOKEN in its environment, "
                         "valid while this attempt runs) or by its tenant's token. The work before the "
                         "checkpoint survives a preemption, so the scheduler prefers victims that lose less.")
async def checkpoint(job_id: str, request: Request, svc: Svc) -> Response:
    at = svc.checkpoint(job_id, await _job_or_tenant(job_id, request, svc))
    return Json({"job": job_id, "checkpointed_at": views.rfc3339(at)})


@router.get("/v1/jobs/{job_id}/checkpoint", responses={**ok(StopNoticeOut), **problems(401, 404)},
            summary="Whether a running job is asked to checkpoint now: it is being preempted",
            description="Authorized as the POST. With the service's preemption_notice_s, a victim is "
                        "told here (stop_requested, stop_at) that long before SIGTERM.")
async def stop_notice(job_id: str, request: Request, svc: Svc) -> Response:
    requested, stop_at, last = svc.stop_requested(job_id, await _job_or_tenant(job_id, request, svc))
    return Json({"job": job_id, "stop_requested": requested, "stop_at": views.rfc3339(stop_at),
                 "checkpointed_at": views.rfc3339(last)})


async def _job_or_tenant(job_id: str, request: Request, svc: Service) -> str | None:
    """The job's own credential (None: it may act on its own job) or a tenant's or admin's token."""
    header = request.headers.get("authorization") or ""
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() == "bearer" and token.startswith(jobtoken.PREFIX):
        if svc.job_of_credential(token) != job_id:
            raise Unauthorized("unauthorized", "the job credential is not valid for this job (or its "
                               "attempt ended)")
        return None
    return (await principal(request)).tenant


@router.get("/v1/jobs/{job_id}/events", responses={**ok(JobEventList), **problems(401, 404)},
            summary="Every state change of a job, oldest first")
def events(job_id: str, caller: Caller, svc: Svc) -> Response:
    items = []
    for e in svc.job_events(job_id, caller.tenant):
        placement = placements.to_view(placements.from_dict(e["placement"]))
        items.append({"at": views.rfc3339(e["at"]), "state": e["state"], "reason": e["reason"],
                      "detail": e["detail"], "placement": placement})
    return Json({"items": items})


@router.get("/v1/jobs/{job_id}/logs", responses={**ok(LogsOut), **problems(401, 404)},
            summary="What the executor offers of a job's output")
def logs(job_id: str, caller: Caller, svc: Svc) -> Response:
    return Json({"job_id": job_id, "text": svc.logs(job_id, caller.tenant)})
