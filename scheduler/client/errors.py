"""What the client raises: one class per problem ``type`` of the API, and transport failures.

The API answers every error as RFC 9457 problem+json with a stable ``type``
(``https://aicc.dev/problems/<code>``). Each code has its own exception class
here, so callers can write ``except TenantNotFound:``; the families
(``NotFound``, ``Conflict``, ``Invalid``) let them catch a kind of error
without listing every code. A code this client does not know yet becomes a
plain ``ApiError`` that still carries the type, title, status and detail.
"""

from __future__ import annotations

from typing import Any, ClassVar

PROBLEM_BASE = "https://aicc.dev/problems/"


class AiccError(Exception):
    """Everything the client raises."""


class TransportError(AiccError):
    """The server could not be reached or did not answer, after the retries."""


class InvalidRequest(AiccError, ValueError):
    """Refused here, before any request: the API would reject it too."""


class ProtocolError(AiccError):
    """The server answered something that is not the API's JSON."""


class ApiError(AiccError):
    """An error the API answered as problem+json."""

    #: The problem code this class stands for ("" for the generic class).
    code: ClassVar[str] = ""

    def __init__(self, type: str, title: str, status: int, detail: str = "",
                 instance: str | None = None, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(detail or title)
        self.type = type
        self.title = title
        self.status = status
        self.detail = detail
        self.instance = instance
        self.errors = errors or []

    @property
    def problem_code(self) -> str:
        """The last segment of ``type``: ``tenant-not-found``."""
        return self.type.rsplit("/", 1)[-1]

    def __str__(self) -> str:
        text = self.detail or self.title
        return f"{text} ({self.problem_code}, HTTP {self.status})"


# -- families -------------------------------------------------------------------------------


class Invalid(ApiError):
    """The request was understood and refused as invalid (422)."""


class NotFound(ApiError):
    """No such resource (404), or one the caller may not see."""

    code = "not-found"


class Conflict(ApiError):
    """The request conflicts with the current state (409)."""


class Unavailable(ApiError):
    """The service cannot take the request now; retrying later may succeed (503)."""


# -- one class per problem type ------------------------------------------------------------


class ValidationFailed(Invalid):
    code = "validation"


class Unauthorized(ApiError):
    code = "unauthorized"


class Forbidden(ApiError):
    code = "forbidden"


class MethodNotAllowed(ApiError):
    code = "method-not-allowed"


class PayloadTooLarge(ApiError):
    code = "payload-too-large"


class InternalError(ApiError):
    code = "internal"


class HttpError(ApiError):
    code = "http-error"


class UnknownTenant(NotFound):
    code = "unknown-tenant"


class TenantNotFound(NotFound):
    code = "tenant-not-found"


class JobNotFound(NotFound):
    code = "job-not-found"


class NodeNotFound(NotFound):
    code = "node-not-found"


class TokenNotFound(NotFound):
    code = "token-not-found"


class TenantExists(Conflict):
    code = "tenant-exists"


class TenantHasJobs(Conflict):
    code = "tenant-has-jobs"


class JobNotRunning(Conflict):
    code = "job-not-running"


class TenantHasChildren(Conflict):
    code = "tenant-has-children"


class TenantIsParent(Invalid):
    code = "tenant-is-parent"


class BudgetNotFound(NotFound):
    code = "budget-not-found"


class InvalidBudget(Invalid):
    code = "invalid-budget"


class DuplicateJob(Conflict):
    code = "duplicate-job"


class UnknownPriority(Invalid):
    code = "unknown-priority"


class UnknownAccelerator(Invalid):
    code = "unknown-accelerator"


class InvalidQuota(Invalid):
    code = "invalid-quota"


class Overcommitted(Invalid):
    code = "overcommitted"


class IdempotencyKeyReused(Invalid):
    code = "idempotency-key-reused"


class InvalidContinue(ApiError):
    code = "invalid-continue"


class TenantTokenRequired(Forbidden):
    code = "tenant-token-required"


class StoreUnavailable(Unavailable):
    code = "store-unavailable"


class NotReady(Unavailable):
    code = "not-ready"


class NotLeader(Unavailable):
    """High availability: the replica asked does not lead (any more); retry."""

    code = "not-leader"


class NoLeader(Unavailable):
    """High availability: no replica leads at the moment (a failover); retry shortly."""

    code = "no-leader"


def _registry() -> dict[str, type[ApiError]]:
    out: dict[str, type[ApiError]] = {}
    todo: list[type[ApiError]] = [ApiError]
    while todo:
        cls = todo.pop()
        if cls.code:
            out[cls.code] = cls
        todo.extend(cls.__subclasses__())
    return out


#: problem code -> exception class.
BY_CODE: dict[str, type[ApiError]] = _registry()

_BY_STATUS: dict[int, type[ApiError]] = {401: Unauthorized, 403: Forbidden, 404: NotFound,
                                         409: Conflict, 422: Invalid, 503: Unavailable}


def error_for(status: int, body: Any, reason: str = "") -> ApiError:
    """The exception for an error answer: by problem type, else by status."""
    if isinstance(body, dict) and isinstance(body.get("type"), str):
        ptype = body["type"]
        code = ptype.rsplit("/", 1)[-1] if ptype.startswith(PROBLEM_BASE) else ""
        cls = BY_CODE.get(code) or _BY_STATUS.get(status, ApiError)
        errors = body.get("errors")
        return cls(ptype, str(body.get("title") or reason or "error"), int(body.get("status") or status),
                   str(body.get("detail") or ""), body.get("instance"),
                   errors if isinstance(errors, list) else None)
    cls = _BY_STATUS.get(status, ApiError)
    title = reason or f"HTTP {status}"
    detail = body.get("status", "") if isinstance(body, dict) else ""
    return cls("about:blank", title, status, f"{title}{': ' + detail if detail else ''}")
