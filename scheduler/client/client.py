"""``Client``: the HTTP SDK for tenants and admins, over the API's own models.

Requests are built and checked with the API's request models (unknown
fields, bad units and bad names are refused here, before anything is sent)
and answers are read into its response models. Errors become the typed
exceptions of ``scheduler.client.errors``.

Retries: a request that never reached the server (connection refused, DNS,
connect timeout) is retried for every method; one that may have reached it
(read timeout, dropped connection) and a 503 are retried only when repeating
it is safe: reads, and submits, which carry the same ``Idempotency-Key`` on
every try so the server makes one job however many tries arrive.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ValidationError

from scheduler import __version__
from scheduler.api.models import (
    AuditList,
    AuditOut,
    BudgetIn,
    BudgetList,
    BudgetOut,
    BudgetWhatIfOut,
    CenterOut,
    DrainIn,
    DrainOut,
    Health,
    JobEventList,
    JobList,
    JobOut,
    JobSubmit,
    LedgerOut,
    LogsOut,
    NodeList,
    NodeOut,
    QuotaHistoryList,
    QuotaHistoryOut,
    QuotaIn,
    TenantCreate,
    TenantDeleted,
    TenantList,
    TenantOut,
    TenantUpdate,
    TokenCreate,
    TokenIssued,
    TokenList,
    TokenOut,
    UsageList,
    UsageOut,
    WhatIfChange,
    WhatIfIn,
    WhatIfOut,
)
from scheduler.client.config import Connection, resolve
from scheduler.client.errors import (
    ApiError,
    InvalidRequest,
    ProtocolError,
    TransportError,
    error_for,
)

M = TypeVar("M", bound=BaseModel)

#: Fields that are compute quantities in request models: sent as exact GFLOPS strings.
_COMPUTE_FIELDS = ("guaranteed", "limit", "lending_limit")
#: Raised before anything was sent: always safe to retry.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
#: May have reached the server: retried only when repeating is safe.
_MAYBE_SENT = (httpx.ReadTimeout, httpx.WriteTimeout, httpx.ReadError, httpx.WriteError,
               httpx.RemoteProtocolError)


def build(model: type[M], data: BaseModel | Mapping[str, Any] | None = None, **fields: Any) -> M:
    """A request model from a model, a mapping or keywords; local errors as InvalidRequest."""
    if isinstance(data, model) and not fields:
        return data
    raw = {**(wire(data) if isinstance(data, BaseModel) else dict(data or {})), **fields}
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise InvalidRequest(describe(exc)) from None


def describe(exc: ValidationError) -> str:
    """A pydantic error in one line: ``resources.accelerators: Input should be ...``."""
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "body"
    more = len(exc.errors()) - 1
    msg = str(first["msg"]).removeprefix("Value error, ")
    return f"{where}: {msg}" + (f" (and {more} more)" if more else "")


def wire(model: BaseModel) -> dict[str, Any]:
    """JSON body for a request model: only what was set; compute as exact ``<n>G`` strings.

    The API reads a bare number as PFLOPS while the model keeps GFLOPS, so a
    compute value is sent with its unit.
    """
    body: dict[str, Any] = model.model_dump(mode="json", exclude_unset=True, by_alias=True)
    for key in _COMPUTE_FIELDS:
        if isinstance(body.get(key), int):
            body[key] = f"{body[key]}G"
    return body


class Client:
    """A connection to one aicc server with one token (a tenant's or the admin's).

    >>> with Client("http://127.0.0.1:8080", token) as c:   # doctest: +SKIP
    ...     job = c.submit({"name": "bert", "resources": {"accelerators": 8}})
    ...     for j in c.jobs(state=["pending"]):
    ...         print(j.id, j.reason)
    """

    def __init__(self, server: str, token: str | None = None, *, timeout: float = 30.0,
                 retries: int = 3, backoff_s: float = 0.2,
                 transport: httpx.BaseTransport | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        headers = {"User-Agent": f"aicc-client/{__version__}", "Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self.server = server.rstrip("/")
        self.retries = max(0, retries)
        self.backoff_s = backoff_s
        self._sleep = sleep
        self._http = httpx.Client(base_url=self.server, headers=headers, timeout=timeout,
                                  transport=transport)

    @classmethod
    def from_config(cls, server: str | None = None, token: str | None = None,
                    profile: str | None = None, **kwargs: Any) -> Client:
        """Flags, then AICC_SERVER / AICC_TOKEN, then the config profile."""
        conn: Connection = resolve(server, token, profile)
        kwargs.setdefault("timeout", conn.timeout)
        return cls(conn.server, conn.token, **kwargs)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the wire -------------------------------------------------------------------------

    def request(self, method: str, path: str, *, params: Mapping[str, Any] | None = None,
                body: Any = None, headers: Mapping[str, str] | None = None,
                safe_to_repeat: bool | None = None) -> Any:
        """Send one request (with retries); the decoded JSON answer, or a typed error."""
        repeat = method in ("GET", "HEAD") if safe_to_repeat is None else safe_to_repeat
        clean = {k: v for k, v in (params or {}).items() if v is not None and v != []}
        last: Exception | None = None
        for attempt in range(self.retries + 1):
            if attempt:
                self._sleep(min(self.backoff_s * 2 ** (attempt - 1), 5.0))
            try:
                resp = self._http.request(method, path, params=clean, json=body,
                                          headers=dict(headers or {}))
            except _NOT_SENT as exc:
                last = exc
                continue
            except _MAYBE_SENT as exc:
                last = exc
                if repeat:
                    continue
                raise TransportError(f"{method} {path}: no answer from {self.server} "
                                     f"({type(exc).__name__}); it may or may not have been done") from exc
            except httpx.HTTPError as exc:
                raise TransportError(f"{method} {path}: {type(exc).__name__}: {exc}") from exc
            if resp.status_code == 503 and repeat and attempt < self.retries:
                last = self._error(resp)
                continue
            if resp.status_code >= 400:
                raise self._error(resp)
            return self._json(resp)
        if isinstance(last, ApiError):
            raise last
        raise TransportError(f"cannot reach {self.server} ({type(last).__name__}: {last}) "
                             f"after {self.retries + 1} tries") from last

    @staticmethod
    def _json(resp: httpx.Response) -> Any:
        try:
            return resp.json()
        except ValueError:
            raise ProtocolError(f"{resp.request.method} {resp.request.url.path}: the answer "
                                f"(HTTP {resp.status_code}) is not JSON") from None

    @staticmethod
    def _error(resp: httpx.Response) -> ApiError:
        try:
            body = resp.json()
        except ValueError:
            body = None
        return error_for(resp.status_code, body, resp.reason_phrase)

    def _get(self, path: str, model: type[M], **params: Any) -> M:
        return self._read(model, self.request("GET", path, params=params))

    def _send(self, method: str, path: str, model: type[M], body: Any = None,
              safe_to_repeat: bool = False, **params: Any) -> M:
        data = self.request(method, path, params=params, body=body, safe_to_repeat=safe_to_repeat)
        return self._read(model, data)

    @staticmethod
    def _read(model: type[M], data: Any) -> M:
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            raise ProtocolError(f"the answer is not a {model.__name__}: {describe(exc)}") from None

    def _pages(self, path: str, model: type[Any], page_size: int,
               params: Mapping[str, Any]) -> Iterator[Any]:
        token: str | None = None
        while True:
            page = self._get(path, model, **params, limit=page_size, **{"continue": token})
            yield from page.items
            token = page.continue_
            if not token:
                return

    # -- health -----------------------------------------------------------------------------

    def healthz(self) -> Health:
        return self._get("/healthz", Health)

    def ready(self) -> bool:
        """True once the service has loaded, reconciled and runs its loop."""
        try:
            resp = self._http.get("/readyz")
        except httpx.HTTPError:
            return False
        return resp.status_code == 200

    def wait_ready(self, timeout_s: float = 30.0, interval_s: float = 0.2) -> None:
        deadline = time.monotonic() + timeout_s
        while not self.ready():
            if time.monotonic() > deadline:
                raise TransportError(f"{self.server} was not ready within {timeout_s:g} s")
            self._sleep(interval_s)

    # -- jobs (a tenant's own; the admin's: all) ---------------------------------------

    def submit(self, spec: JobSubmit | Mapping[str, Any], *, idempotency_key: str | None = None,
               **fields: Any) -> JobOut:
        """Submit a job with a tenant token; every retry carries the same Idempotency-Key."""
        body = build(JobSubmit, spec, **fields)
        key = idempotency_key or str(uuid.uuid4())
        data = self.request("POST", "/v1/jobs", body=wire(body), headers={"Idempotency-Key": key},
                            safe_to_repeat=True)
        return self._read(JobOut, data)

    def jobs_page(self, *, state: Sequence[str] | None = None, kind: Sequence[str] | None = None,
                  tenant: str | None = None, limit: int = 100,
                  continue_: str | None = None) -> JobList:
        """One page; ``tenant`` (admin) lists one tenant's jobs through the admin route."""
        path = "/v1/admin/jobs" if tenant else "/v1/jobs"
        return self._get(path, JobList, tenant=tenant, state=_csv(state), kind=_csv(kind), limit=limit,
                         **{"continue": continue_})

    def jobs(self, *, state: Sequence[str] | None = None, kind: Sequence[str] | None = None,
             tenant: str | None = None, page_size: int = 500) -> Iterator[JobOut]:
        """Every matching job in submission order, following continue tokens lazily."""
        path = "/v1/admin/jobs" if tenant else "/v1/jobs"
        yield from self._pages(path, JobList, page_size,
                               {"tenant": tenant, "state": _csv(state), "kind": _csv(kind)})

    def job(self, job_id: str) -> JobOut:
        return self._get(f"/v1/jobs/{_seg(job_id)}", JobOut)

    def cancel(self, job_id: str) -> JobOut:
        """Cancel a job (the caller's own; the admin: any). A no-op on a finished job."""
        return self._send("POST", f"/v1/jobs/{_seg(job_id)}/cancel", JobOut, safe_to_repeat=True)

    def logs(self, job_id: str) -> LogsOut:
        return self._get(f"/v1/jobs/{_seg(job_id)}/logs", LogsOut)

    def job_events(self, job_id: str) -> JobEventList:
        """Every recorded state change of the job, oldest first."""
        return self._get(f"/v1/jobs/{_seg(job_id)}/events", JobEventList)

    # -- usage and the ledger -----------------------------------------------------------

    def usage(self, tenant: str | None = None) -> UsageOut:
        """The caller's usage now; the admin names the tenant."""
        return self._get("/v1/usage", UsageOut, tenant=tenant)

    def usage_all(self) -> list[UsageOut]:
        """Admin: every tenant's usage now."""
        return self._get("/v1/admin/usage", UsageList).items

    def ledger(self, *, start: str | float | None = None, end: str | float | None = None,
               tenant: str | None = None) -> LedgerOut:
        """PFLOPS-hours and device-hours by tenant, accelerator and kind (RFC 3339 or epoch s)."""
        return self._get("/v1/usage/ledger", LedgerOut, start=start, end=end, tenant=tenant)

    def center(self) -> CenterOut:
        return self._get("/v1/center", CenterOut)

    # -- admin: tenants and quotas -------------------------------------------------------

    def tenants(self) -> list[TenantOut]:
        return self._get("/v1/admin/tenants", TenantList).items

    def tenant(self, name: str) -> TenantOut:
        return self._get(f"/v1/admin/tenants/{_seg(name)}", TenantOut)

    def create_tenant(self, spec: TenantCreate | Mapping[str, Any] | None = None,
                      **fields: Any) -> TenantOut:
        """``create_tenant(name="vr", guaranteed="40P", limit="80P", weight=1)``."""
        body = build(TenantCreate, spec, **fields)
        return self._send("POST", "/v1/admin/tenants", TenantOut, wire(body))

    def update_tenant(self, name: str, *, weight: float | None = None, grace_period_s: float | None = None,
                      default_grace: bool = False, parent: str | None = None, top_level: bool = False,
                      isolation: str | None = None) -> TenantOut:
        """Change what is given; ``default_grace`` puts the grace period back to the center's;
        ``parent`` moves the tenant under another, ``top_level`` to the top."""
        fields: dict[str, Any] = {"weight": weight, "grace_period_s": grace_period_s, "parent": parent,
                                  "isolation": isolation}
        body = build(TenantUpdate, {k: v for k, v in fields.items() if v is not None},
                     **({"grace_period_s": None} if default_grace else {}),
                     **({"parent": None} if top_level else {}))
        return self._send("PATCH", f"/v1/admin/tenants/{_seg(name)}", TenantOut, wire(body),
                          safe_to_repeat=True)

    def delete_tenant(self, name: str, *, force: bool = False) -> TenantDeleted:
        """Refused while it has live jobs unless ``force`` (which cancels them)."""
        return self._send("DELETE", f"/v1/admin/tenants/{_seg(name)}", TenantDeleted,
                          force=str(force).lower())

    # -- admin: budgets ------------------------------------------------------------------

    def budgets(self) -> list[BudgetOut]:
        """Every budget and where it stands this period."""
        return self._get("/v1/admin/budgets", BudgetList).items

    def set_budget(self, tenant: str, budget: BudgetIn | Mapping[str, Any] | None = None,
                   **fields: Any) -> BudgetOut:
        """PFLOPS-hours per period for the tenant and its subtree."""
        body = build(BudgetIn, budget, **fields)
        return self._send("PUT", f"/v1/admin/budgets/{_seg(tenant)}", BudgetOut, wire(body),
                          safe_to_repeat=True)

    def budget_whatif(self, tenant: str, pflops_hours: float) -> BudgetWhatIfOut:
        """Who would have been held this period had the budget been ``pflops_hours``."""
        return self._send("POST", f"/v1/admin/budgets/{_seg(tenant)}/whatif", BudgetWhatIfOut,
                          {"pflops_hours": pflops_hours}, safe_to_repeat=True)

    def delete_budget(self, tenant: str) -> list[BudgetOut]:
        return self._send("DELETE", f"/v1/admin/budgets/{_seg(tenant)}", BudgetList).items

    def set_quota(self, name: str, quota: QuotaIn | Mapping[str, Any] | None = None,
                  **fields: Any) -> TenantOut:
        """Set what is given, keep the rest: ``set_quota("vr", guaranteed="120P", limit="200P")``.

        ``lending_limit=None`` given explicitly clears the lending limit.
        """
        body = build(QuotaIn, quota, **fields)
        return self._send("PUT", f"/v1/admin/tenants/{_seg(name)}/quota", TenantOut, wire(body),
                          safe_to_repeat=True)

    def quota(self, name: str) -> TenantOut:
        return self._get(f"/v1/admin/tenants/{_seg(name)}/quota", TenantOut)

    def quota_history(self, name: str) -> list[QuotaHistoryOut]:
        """Newest first."""
        return self._get(f"/v1/admin/tenants/{_seg(name)}/quota/history", QuotaHistoryList).items

    def whatif(self, changes: Sequence[WhatIfChange | Mapping[str, Any]]) -> WhatIfOut:
        """What the next step would preempt and start were these quotas set now (nothing changes)."""
        built = [build(WhatIfChange, c) for c in changes]
        body = build(WhatIfIn, {"changes": [wire(c) for c in built]})
        payload = {"changes": [wire(c) for c in body.changes]}
        return self._send("POST", "/v1/admin/whatif", WhatIfOut, payload, safe_to_repeat=True)

    # -- admin: tokens -------------------------------------------------------------------

    def issue_token(self, tenant: str, name: str = "") -> TokenIssued:
        """A new token for the tenant; the secret is in this answer only."""
        body = build(TokenCreate, name=name)
        return self._send("POST", f"/v1/admin/tenants/{_seg(tenant)}/tokens", TokenIssued, wire(body))

    def tokens(self, tenant: str | None = None) -> list[TokenOut]:
        """One tenant's tokens, or every token (admin ones included)."""
        if tenant:
            return self._get(f"/v1/admin/tenants/{_seg(tenant)}/tokens", TokenList).items
        return self._get("/v1/admin/tokens", TokenList).items

    def revoke_token(self, token_id: str, tenant: str | None = None) -> TokenOut:
        path = (f"/v1/admin/tenants/{_seg(tenant)}/tokens/{_seg(token_id)}" if tenant
                else f"/v1/admin/tokens/{_seg(token_id)}")
        return self._send("DELETE", path, TokenOut, safe_to_repeat=True)

    # -- admin: nodes --------------------------------------------------------------------

    def nodes(self, *, state: str | None = None, pool: str | None = None) -> list[NodeOut]:
        return self._get("/v1/admin/nodes", NodeList, state=state, pool=pool).items

    def node(self, name: str) -> NodeOut:
        return self._get(f"/v1/admin/nodes/{_seg(name)}", NodeOut)

    def cordon(self, name: str) -> NodeOut:
        return self._send("POST", f"/v1/admin/nodes/{_seg(name)}/cordon", NodeOut, safe_to_repeat=True)

    def uncordon(self, name: str) -> NodeOut:
        return self._send("POST", f"/v1/admin/nodes/{_seg(name)}/uncordon", NodeOut, safe_to_repeat=True)

    def drain(self, name: str, *, preempt: bool = False) -> DrainOut:
        """Cordon; with ``preempt`` also stop (requeue) what runs there now."""
        body = build(DrainIn, preempt=preempt)
        return self._send("POST", f"/v1/admin/nodes/{_seg(name)}/drain", DrainOut, wire(body),
                          safe_to_repeat=True)

    # -- admin: jobs across tenants, audit -----------------------------------------------

    def cancel_any(self, job_id: str) -> JobOut:
        """Admin: cancel any tenant's job (recorded in the audit log)."""
        return self._send("POST", f"/v1/admin/jobs/{_seg(job_id)}/cancel", JobOut, safe_to_repeat=True)

    def audit_page(self, *, actor: str | None = None, target: str | None = None, limit: int = 100,
                   continue_: str | None = None) -> AuditList:
        return self._get("/v1/admin/audit", AuditList, actor=actor, target=target, limit=limit,
                         **{"continue": continue_})

    def audit(self, *, actor: str | None = None, target: str | None = None,
              page_size: int = 500) -> Iterator[AuditOut]:
        """Admin actions, oldest first, following continue tokens lazily."""
        yield from self._pages("/v1/admin/audit", AuditList, page_size,
                               {"actor": actor, "target": target})


def _csv(values: Sequence[str] | None) -> str | None:
    if not values:
        return None
    if isinstance(values, str):
        return values
    return ",".join(values)


def _seg(value: str) -> str:
    """A path segment: refuse what would change the path instead of escaping it silently."""
    if not value or "/" in value or value in (".", ".."):
        raise InvalidRequest(f"not a valid name or id: {value!r}")
    return quote(value, safe="")
