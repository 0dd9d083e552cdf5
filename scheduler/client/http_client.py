"""``HttpClient``: one server, one token, and the wire under every call of ``Client``.

Retries: a request that never reached the server (connection refused, DNS,
connect timeout) is retried for every method; one that may have reached it
(read timeout, dropped connection) and a 503 are retried only when repeating
it is safe: reads, and submits, which carry the same ``Idempotency-Key`` on
every try so the server makes one job however many tries arrive.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Self

import httpx
from pydantic import ValidationError

from scheduler import __version__
from scheduler.api.models import Health
from scheduler.client.bodies import M, describe
from scheduler.client.config import Connection, resolve
from scheduler.client.errors import ApiError, ProtocolError, TransportError, error_for

#: Raised before anything was sent: always safe to retry.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
#: May have reached the server: retried only when repeating is safe.
_MAYBE_SENT = (httpx.ReadTimeout, httpx.WriteTimeout, httpx.ReadError, httpx.WriteError,
               httpx.RemoteProtocolError)


class HttpClient:
    """The connection, requests with retries, answers read into models, pages followed;
    and the server's health. The resource methods build on it (see ``Client``)."""

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
                    profile: str | None = None, **kwargs: Any) -> Self:
        """Flags, then AICC_SERVER / AICC_TOKEN, then the config profile."""
        conn: Connection = resolve(server, token, profile)
        kwargs.setdefault("timeout", conn.timeout)
        return cls(conn.server, conn.token, **kwargs)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
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
