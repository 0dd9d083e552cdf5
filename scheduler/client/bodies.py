"""Requests as the API reads them: bodies built and checked with the API's request models,
sent with compute as exact GFLOPS strings; query lists and path segments made safe."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeVar
from urllib.parse import quote

from pydantic import BaseModel, ValidationError

from scheduler.client.errors import InvalidRequest

M = TypeVar("M", bound=BaseModel)

#: Fields that are compute quantities in request models: sent as exact GFLOPS strings.
_COMPUTE_FIELDS = ("guaranteed", "limit", "lending_limit")


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


def comma_list(values: Sequence[str] | None) -> str | None:
    """A query parameter's list as ``a,b``; None (left out) when empty."""
    if not values:
        return None
    if isinstance(values, str):
        return values
    return ",".join(values)


def segment(value: str) -> str:
    """A path segment: refuse what would change the path instead of escaping it silently."""
    if not value or "/" in value or value in (".", ".."):
        raise InvalidRequest(f"not a valid name or id: {value!r}")
    return quote(value, safe="")
