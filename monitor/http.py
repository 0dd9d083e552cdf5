"""HTTP request rate and latency by route template and status: a plain ASGI middleware.

The route label is the template the router matched (``/v1/jobs/{job_id}``),
never the raw path, so job ids never become label values; requests that
match no route are counted under ``unmatched``.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from prometheus_client import CollectorRegistry

from monitor import metrics as m
from monitor.instrumentation import make_counter, make_histogram

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

UNMATCHED = "unmatched"
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class HTTPMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = make_counter(m.HTTP_REQUESTS, registry)
        self.duration = make_histogram(m.HTTP_DURATION, registry)

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        method = method if method in _METHODS else "OTHER"
        self.requests.labels(method, route, str(status)).inc()
        self.duration.labels(method, route).observe(seconds)


def route_template(scope: Scope) -> str:
    """The path template of the route the router matched.

    Starlette and FastAPI's own routes leave it in ``scope["route"]``; a plain
    Starlette route on a FastAPI app (``app.add_route``) does not, so the
    router's routes are matched again for it.
    """
    path = getattr(scope.get("route"), "path", None)
    if isinstance(path, str) and path:
        return path
    router = scope.get("router") or getattr(scope.get("app"), "router", None)
    for route in getattr(router, "routes", ()):
        try:
            match, _ = route.matches(scope)
        except Exception:
            continue
        if getattr(match, "name", "") == "FULL" and isinstance(getattr(route, "path", None), str):
            return str(route.path)
    return UNMATCHED


class HTTPMetricsMiddleware:
    """``app.add_middleware(HTTPMetricsMiddleware, metrics=monitor.http)``."""

    def __init__(self, app: ASGIApp, metrics: HTTPMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        began = time.perf_counter()
        status = 500  # what the client gets if the app raises before answering

        async def send_and_see(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_and_see)
        finally:
            self.metrics.observe(scope.get("method", "GET"), route_template(scope), status,
                                 time.perf_counter() - began)
