"""The Python client of the aicc API, for tenants and admins.

>>> from scheduler.client import Client, TenantNotFound      # doctest: +SKIP
>>> with Client.from_config() as c:                          # doctest: +SKIP
...     c.set_quota("finance", guaranteed="120P", limit="200P")

Requests and answers are the API's own models (``scheduler.api.models``);
every problem+json error is an exception class of ``scheduler.client.errors``.
"""

from scheduler.client import errors
from scheduler.client.bodies import build, describe, wire
from scheduler.client.client import Client
from scheduler.client.config import Connection, resolve
from scheduler.client.errors import (
    AiccError,
    ApiError,
    Conflict,
    DuplicateJob,
    Forbidden,
    HttpError,
    IdempotencyKeyReused,
    InternalError,
    Invalid,
    InvalidContinue,
    InvalidQuota,
    InvalidRequest,
    JobNotFound,
    JobNotRunning,
    MethodNotAllowed,
    NodeNotFound,
    NotFound,
    NotReady,
    Overcommitted,
    PayloadTooLarge,
    ProtocolError,
    StoreUnavailable,
    TenantExists,
    TenantHasJobs,
    TenantNotFound,
    TenantTokenRequired,
    TokenNotFound,
    TransportError,
    Unauthorized,
    Unavailable,
    UnknownAccelerator,
    UnknownPriority,
    UnknownTenant,
    ValidationFailed,
)

__all__ = [
    "AiccError",
    "ApiError",
    "Client",
    "Conflict",
    "Connection",
    "DuplicateJob",
    "Forbidden",
    "HttpError",
    "IdempotencyKeyReused",
    "InternalError",
    "Invalid",
    "InvalidContinue",
    "InvalidQuota",
    "InvalidRequest",
    "JobNotFound",
    "JobNotRunning",
    "MethodNotAllowed",
    "NodeNotFound",
    "NotFound",
    "NotReady",
    "Overcommitted",
    "PayloadTooLarge",
    "ProtocolError",
    "StoreUnavailable",
    "TenantExists",
    "TenantHasJobs",
    "TenantNotFound",
    "TenantTokenRequired",
    "TokenNotFound",
    "TransportError",
    "Unauthorized",
    "Unavailable",
    "UnknownAccelerator",
    "UnknownPriority",
    "UnknownTenant",
    "ValidationFailed",
    "build",
    "describe",
    "errors",
    "resolve",
    "wire",
]
