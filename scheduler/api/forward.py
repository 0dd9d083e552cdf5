"""High availability: a follower forwards writes to the leader, and answers reads itself.

Why forward rather than commit on the follower and let the leader pick the write up:
the leader's engine is the one writer of job state. It numbers submissions, holds the
queue, and records each decision before acting; a follower committing submissions or
cancellations itself would need sequence numbers from the database, conditional updates
racing the leader's admissions, and a poll for the leader to find them. Forwarded, a
write is acknowledged only once the leader committed it (fenced by its epoch), and a
client retrying with the same Idempotency-Key after a failover gets the job already
recorded, never a second one. The cost: writes wait for a leader during a failover
(503 with Retry-After), and take one more hop on a follower.

Reads (GET, HEAD) are served by the replica that receives them, from its own view (a
follower reloads it from the database every second); a job's logs come from the leader.
"""

from __future__ import annotations

from typing import Any

import httpx
import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

from scheduler.api.errors import PROBLEM_BASE, PROBLEM_JSON, TITLES

FORWARDED = b"x-aicc-forwarded"
_HOP = {b"host", b"connection", b"keep-alive", b"transfer-encoding", b"upgrade", b"content-length",
        b"te", b"trailer", b"proxy-authorization", b"proxy-connection"}


class ForwardWrites:
    """ASGI middleware: on a replica that does not lead, send writes to the one that does."""

    def __init__(self, app: ASGIApp, service: Any, timeout_s: float = 30.0) -> None:
        self.app = app
        self.service = service
        self.timeout_s = timeout_s
        self._client: httpx.AsyncClient | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] != "http" or self.service.elector is None or self.service.leads()
                or not _is_write(scope)):
            await self.app(scope, receive, send)
            return
        headers = [(k, v) for k, v in scope["headers"] if k.lower() not in _HOP]
        if any(k.lower() == FORWARDED for k, _ in headers):
            await _unavailable(send, "not-leader", "this replica does not lead (any more); retry")
            return
        target = self.service.leader_address()
        if target is None or self.service.role == "taking-over":
            await _unavailable(send, "no-leader", "no replica leads at the moment (a failover is under way); retry")
            return
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        url = target.rstrip("/") + scope["path"]
        if scope.get("query_string"):
            url += "?" + scope["query_string"].decode("latin-1")
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self.timeout_s)
        try:
            answer = await self._client.request(
                scope["method"], url, content=body,
                headers=[(k.decode("latin-1"), v.decode("latin-1")) for k, v in headers]
                + [("x-aicc-forwarded", "1")])
        except httpx.HTTPError as exc:
            await _unavailable(send, "no-leader", f"the leader at {target} does not answer "
                               f"({type(exc).__name__}); retry")
            return
        out = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in answer.headers.items()
               if k.lower().encode("latin-1") not in _HOP and k.lower() != "content-encoding"]
        out.append((b"content-length", str(len(answer.content)).encode()))
        await send({"type": "http.response.start", "status": answer.status_code, "headers": out})
        await send({"type": "http.response.body", "body": answer.content})


def _is_write(scope: Scope) -> bool:
    method = scope["method"]
    return method not in ("GET", "HEAD", "OPTIONS") or scope["path"].endswith("/logs")


async def _unavailable(send: Send, code: str, detail: str) -> None:
    body = orjson.dumps({"type": PROBLEM_BASE + code, "title": TITLES.get(code, code), "status": 503,
                         "detail": detail})
    await send({"type": "http.response.start", "status": 503,
                "headers": [(b"content-type", PROBLEM_JSON.encode()), (b"retry-after", b"1"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
