"""The HTTP API: ``create_app(settings, service)``; bodies in ``scheduler.api.models``.

Tenant routes (a tenant's bearer token; another tenant's job is a 404; the
admin token may read and cancel any job here too):

    POST   /v1/jobs                        JobSubmit -> 201 JobOut (Idempotency-Key header)
    GET    /v1/jobs                        ?state=&kind=&limit=&continue= -> JobList
    GET    /v1/jobs/{id}                   -> JobOut (reason, queue_position while pending)
    POST   /v1/jobs/{id}/cancel            -> JobOut
    GET    /v1/jobs/{id}/events            -> JobEventList
    GET    /v1/jobs/{id}/logs              -> LogsOut
    GET    /v1/usage                       -> UsageOut (admin: ?tenant=)
    GET    /v1/usage/ledger                ?start=&end=[&tenant=] -> LedgerOut
    GET    /v1/center                      -> CenterOut

Admin routes (the admin token; a tenant gets 403):

    GET|POST             /v1/admin/tenants                  TenantCreate -> TenantOut / TenantList
    GET|PATCH|DELETE     /v1/admin/tenants/{name}           TenantUpdate; DELETE ?force=true
    GET|PUT              /v1/admin/tenants/{name}/quota     QuotaIn -> TenantOut
    GET                  /v1/admin/tenants/{name}/quota/history -> QuotaHistoryList
    GET|POST             /v1/admin/tenants/{name}/tokens    TokenCreate -> TokenIssued (once)
    DELETE               /v1/admin/tenants/{name}/tokens/{id}, /v1/admin/tokens/{id}
    GET                  /v1/admin/tokens, /v1/admin/usage, /v1/admin/audit, /v1/admin/jobs
    POST                 /v1/admin/jobs/{id}/cancel
    GET                  /v1/admin/nodes[/{name}]
    POST                 /v1/admin/nodes/{name}/cordon|uncordon|drain (DrainIn)
    POST                 /v1/admin/whatif                   WhatIfIn -> WhatIfOut

Also /healthz, /readyz and /openapi.json. Errors are RFC 9457 problem+json
whose ``type`` is ``https://aicc.dev/problems/<code>``.
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from scheduler.api.app import create_app

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    # Loaded on use: the client and the CLI import scheduler.api.models without
    # paying for FastAPI, the store and the service.
    if name == "create_app":
        from scheduler.api.app import create_app

        return create_app
    raise AttributeError(name)
