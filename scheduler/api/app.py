"""``create_app(settings, service)``: the FastAPI app over a running service."""

from __future__ import annotations

import inspect
from typing import Any

from fastapi import FastAPI

from scheduler import __version__
from scheduler.api import errors
from scheduler.api.bridge import CommitBridge
from scheduler.api.limits import BodyLimit
from scheduler.api.responses import Json
from scheduler.api.routes import admin, center, jobs, tenants, usage
from scheduler.service import Service, Settings


def create_app(settings: Settings, service: Service) -> FastAPI:
    app = FastAPI(
        title="aicc",
        version=__version__,
        description="Scheduler for a shared AI computing center: tenants, PFLOPS quotas, gangs, "
                    "preemption. Bearer tokens: a tenant's, or the admin's for /v1/admin.",
        default_response_class=Json,
        openapi_url="/openapi.json",
        **_no_telemetry(),
    )
    app.state.service = service
    app.state.settings = settings
    app.state.commits = CommitBridge()
    errors.install(app)
    for module in (jobs, usage, tenants, admin, center):
        app.include_router(module.router)
    app.router.routes.insert(0, jobs.submit_route)  # the submit hot path, matched first
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    _document(app, service, settings)
    return app


def _no_telemetry() -> dict[str, Any]:
    """FastAPI's built-in OpenTelemetry hooks cost per request; aicc exports Prometheus metrics."""
    if "telemetry" not in inspect.signature(FastAPI.__init__).parameters:
        return {}
    return {"telemetry": {"tracing": False, "metrics": False, "logs": False, "operation_spans": False}}


def _document(app: FastAPI, service: Service, settings: Settings) -> None:
    """The bounds that come from this service's configuration, stated in the OpenAPI description: the page size,
    the priority classes, the accelerator types a cap may name."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            schemas = schema["components"]["schemas"]
            schemas["JobSubmit"]["properties"]["priority"]["enum"] = sorted(service.policy.priority_classes)
            accelerators = sorted(service.config.center.accelerators)
            for name in ("QuotaIn", "TenantCreate", "WhatIfChange"):
                _name_caps(schemas[name]["properties"]["caps"], accelerators)
            for path in ("/v1/jobs", "/v1/admin/jobs"):
                for p in schema["paths"][path]["get"]["parameters"]:
                    if p["name"] == "limit":
                        p["schema"]["maximum"] = settings.max_page
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _name_caps(schema: dict[str, Any], accelerators: list[str]) -> None:
    """A cap names one of the center's accelerator types."""
    for option in schema.get("anyOf", [schema]):
        if option.get("type") == "object":
            option["propertyNames"]["enum"] = accelerators
