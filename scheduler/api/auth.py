"""Who is calling: a bearer token makes a tenant or an admin principal.

401 without a valid token; 403 for a tenant on an admin route. Tenant and
admin routes differ by one dependency.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from scheduler.domain.errors import Forbidden, Unauthorized
from scheduler.service import Service
from scheduler.service.tokens import Principal


async def service(request: Request) -> Service:
    svc: Service = request.app.state.service
    return svc


async def principal(request: Request) -> Principal:
    header = request.headers.get("authorization")
    if not header:
        raise Unauthorized("unauthorized", "send 'Authorization: Bearer <token>'")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("unauthorized", "the Authorization header must be 'Bearer <token>'")
    svc: Service = request.app.state.service
    found = svc.authenticate(token.strip())
    if found is None:
        raise Unauthorized("unauthorized", "the token is not valid (unknown or revoked)")
    return found


async def admin(p: Annotated[Principal, Depends(principal)]) -> Principal:
    if not p.is_admin:
        raise Forbidden("forbidden", "this route needs the admin token")
    return p


async def tenant(p: Annotated[Principal, Depends(principal)]) -> Principal:
    if p.is_admin:
        raise Forbidden("tenant-token-required", "jobs are submitted with a tenant's token")
    return p


Svc = Annotated[Service, Depends(service)]
Caller = Annotated[Principal, Depends(principal)]
Admin = Annotated[Principal, Depends(admin)]
TenantCaller = Annotated[Principal, Depends(tenant)]
