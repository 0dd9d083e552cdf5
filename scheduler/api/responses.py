"""JSON responses serialized with orjson, and the OpenAPI description of errors."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import JSONResponse

from scheduler.api.models import Problem


class Json(JSONResponse):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route: these statuses answer problem+json."""
    return {s: {"model": Problem, "content": {"application/problem+json": {}}} for s in statuses}


def ok(model: type, status: int = 200) -> dict[int | str, dict[str, Any]]:
    return {status: {"model": model}}
