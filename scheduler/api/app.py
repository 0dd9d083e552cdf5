"""``create_app(settings, service)``: the FastAPI app over a running service."""

from __future__ import annotations

from fastapi import FastAPI

from scheduler import __version__
from scheduler.api import errors
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
    )
    app.state.service = service
    app.state.settings = settings
    errors.install(app)
    for module in (jobs, usage, tenants, admin, center):
        app.include_router(module.router)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    return app
