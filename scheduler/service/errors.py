"""Errors of the use cases; ``code`` is stable and becomes the problem ``type`` in the API."""

from __future__ import annotations

#: code -> HTTP status. The API turns each into application/problem+json.
STATUS = {
    "validation": 422,
    "unknown-tenant": 404,
    "tenant-not-found": 404,
    "tenant-exists": 409,
    "tenant-has-jobs": 409,
    "tenant-is-parent": 422,
    "tenant-has-children": 409,
    "budget-not-found": 404,
    "invalid-budget": 422,
    "unknown-priority": 422,
    "unknown-accelerator": 422,
    "duplicate-job": 409,
    "job-not-found": 404,
    "node-not-found": 404,
    "token-not-found": 404,
    "invalid-quota": 422,
    "overcommitted": 422,
    "idempotency-key-reused": 422,
    "invalid-continue": 400,
    "tenant-token-required": 403,
    "store-unavailable": 503,
    "not-ready": 503,
}


class ServiceError(Exception):
    def __init__(self, code: str, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status or STATUS.get(code, 400)
