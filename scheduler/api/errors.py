"""RFC 9457 problem+json for every error, with a stable ``type`` per kind; never a trace.

The one place where errors become HTTP: the family of a ``scheduler.domain.errors``
error gives the status (``STATUS``), its ``code`` the problem ``type``, ``TITLES`` the
title; the client maps the types back to its exception classes.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.routing import Match

from scheduler.domain.errors import (
    AiccError,
    Conflict,
    Forbidden,
    Invalid,
    Malformed,
    NotFound,
    Unauthorized,
    Unavailable,
)

log = logging.getLogger(__name__)

PROBLEM_BASE = "https://aicc.dev/problems/"
PROBLEM_JSON = "application/problem+json"

TITLES = {
    "validation": "The request is not valid",
    "unauthorized": "A valid bearer token is required",
    "forbidden": "This token may not do that",
    "not-found": "No such resource",
    "method-not-allowed": "Method not allowed",
    "payload-too-large": "The request body is too large",
    "internal": "Internal error",
    "unknown-tenant": "Unknown tenant",
    "tenant-not-found": "Tenant not found",
    "tenant-exists": "Tenant exists",
    "tenant-has-jobs": "Tenant has live jobs",
    "tenant-is-parent": "Tenant is a parent: jobs go to its leaves",
    "tenant-has-children": "Tenant has children",
    "budget-not-found": "Budget not found",
    "invalid-budget": "Invalid budget",
    "unknown-priority": "Unknown priority class",
    "unknown-accelerator": "Unknown accelerator type",
    "duplicate-job": "A job with this id exists",
    "job-not-found": "Job not found",
    "node-not-found": "Node not found",
    "token-not-found": "Token not found",
    "invalid-quota": "Invalid quota",
    "overcommitted": "Guarantees exceed capacity",
    "idempotency-key-reused": "Idempotency-Key reused with another request",
    "invalid-continue": "Invalid continue token",
    "tenant-token-required": "A tenant token is required",
    "store-unavailable": "The store could not record the request",
    "not-ready": "The service is starting",
    "job-not-running": "The job holds no devices",
    "not-leader": "This replica does not lead (high availability); retry",
    "no-leader": "No replica leads at the moment (a failover); retry",
}


#: family -> HTTP status (the first family an error is an instance of).
STATUS: dict[type[AiccError], int] = {Malformed: 400, Invalid: 422, NotFound: 404, Conflict: 409,
                                      Unauthorized: 401, Forbidden: 403, Unavailable: 503}
#: family -> headers its answers carry.
HEADERS: dict[type[AiccError], dict[str, str]] = {Unauthorized: {"WWW-Authenticate": "Bearer"},
                                                  Unavailable: {"Retry-After": "1"}}


class BadRequest(Invalid):
    """A request the API itself refuses, with the per-field ``errors`` of the problem."""

    def __init__(self, message: str, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__("validation", message)
        self.errors = errors


def status_of(exc: AiccError) -> int:
    return next((s for family, s in STATUS.items() if isinstance(exc, family)), 400)


def error_response(request: Request | None, exc: AiccError) -> Response:
    family = next((f for f in STATUS if isinstance(exc, f)), None)
    return problem_response(request, status_of(exc), exc.code, exc.message,
                            getattr(exc, "errors", None), HEADERS.get(family) if family else None)


def problem_response(request: Request | None, status: int, code: str, detail: str = "",
                     errors: list[dict[str, Any]] | None = None,
                     headers: dict[str, str] | None = None) -> Response:
    body: dict[str, Any] = {"type": PROBLEM_BASE + code, "title": TITLES.get(code, code),
                            "status": status, "detail": detail}
    if request is not None:
        body["instance"] = request.url.path
    if errors:
        body["errors"] = errors
    return Response(orjson.dumps(body), status_code=status, media_type=PROBLEM_JSON, headers=headers)


#: What FastAPI says of a body it cannot even decode.
_UNPARSEABLE = "There was an error parsing the body"

_HTTP_CODES = {401: "unauthorized", 403: "forbidden", 404: "not-found", 405: "method-not-allowed",
               413: "payload-too-large", 422: "validation"}


_METHODS = ("DELETE", "GET", "HEAD", "PATCH", "POST", "PUT")


def allowed_methods(request: Request) -> str:
    """Every method some route serves at this request's path, for a 405's ``Allow`` (Starlette
    names only the methods of the first route whose path matched). Asked of each route through
    ``matches``, so that routes of included routers count too."""
    routes = request.app.router.routes
    allowed = [m for m in _METHODS
               if any(r.matches({**request.scope, "method": m})[0] is Match.FULL for r in routes)]
    return ", ".join(allowed)


def _document_problems(app: FastAPI) -> None:
    """Say in the OpenAPI description what a 422 really is: problem+json, not FastAPI's default."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            for ops in schema.get("paths", {}).values():
                for op in ops.values():
                    r = op.get("responses", {}).get("422")
                    if r is not None:
                        r["content"] = {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def install(app: FastAPI) -> None:
    _document_problems(app)

    @app.exception_handler(AiccError)
    async def _refused(request: Request, exc: AiccError) -> Response:
        return error_response(request, exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        errors = [{"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", "")),
                   "type": str(e.get("type", ""))} for e in exc.errors()][:20]
        first = errors[0] if errors else {"loc": [], "msg": "invalid"}
        where = ".".join(first["loc"][1:] if first["loc"][:1] == ["body"] else first["loc"])
        return problem_response(request, 422, "validation", f"{where}: {first['msg']}", errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        code = _HTTP_CODES.get(exc.status_code, "http-error")
        detail = exc.detail if isinstance(exc.detail, str) else ""
        if exc.status_code == 400 and detail == _UNPARSEABLE:  # not UTF-8 JSON: as any bad JSON
            return problem_response(request, 422, "validation", "body: not valid JSON (UTF-8)")
        headers = getattr(exc, "headers", None)
        if exc.status_code == 405:
            headers = {**(headers or {}), "Allow": allowed_methods(request)}
        return problem_response(request, exc.status_code, code, detail, headers=headers)

    async def _store_down(request: Request, exc: Exception) -> Response:
        log.warning("store unavailable on %s %s: %s", request.method, request.url.path,
                    str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        return problem_response(request, 503, "store-unavailable",
                                "the database cannot be reached; try again shortly",
                                headers={"Retry-After": "1"})

    for kind in (OperationalError, InterfaceError, PoolTimeout):  # the database is down or gone
        app.add_exception_handler(kind, _store_down)

    @app.exception_handler(Exception)
    async def _internal(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem_response(request, 500, "internal", "the server failed; see its log")
