"""Query parameters read as strictly as the OpenAPI description states them.

A query value is always text, so pydantic's strict mode cannot apply; these types accept
exactly the text the description admits: an integer is digits (not ``10.0`` or ``1_0``),
a boolean is ``true`` or ``false`` (not ``1`` or ``yes``), a filter is a comma-separated
list of the documented values, a time is RFC 3339 or epoch seconds.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from fastapi import Query
from pydantic import BeforeValidator, Field, WithJsonSchema

from scheduler.domain import JobKind, JobState

_DIGITS = re.compile(r"-?[0-9]{1,18}")


def _integer(value: Any) -> Any:
    if isinstance(value, str) and not _DIGITS.fullmatch(value):
        raise ValueError("must be an integer (decimal digits)")
    return value


def _boolean(value: Any) -> Any:
    if isinstance(value, str):
        if value not in ("true", "false"):
            raise ValueError("must be true or false")
        return value == "true"
    return value


#: An integer query value: decimal digits only. Bounds go before it (``Annotated[int,
#: Field(ge=..), BeforeValidator(_integer)]``), or they would not reach the description.
#: A boolean query value: ``true`` or ``false``.
QueryBool = Annotated[bool, BeforeValidator(_boolean)]


def _any_case(word: str) -> str:
    return "".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() else re.escape(c) for c in word)


def csv_pattern(values: list[str]) -> str:
    """Comma-separated values from ``values`` (any case), or the empty string (no filter)."""
    one = "(" + "|".join(_any_case(v) for v in values) + ")"
    return f"^({one}(,{one})*)?$"


STATES = [s.value for s in JobState]
KINDS = [k.value for k in JobKind]

#: Checked by the route (``routes.jobs._filters``, which says which value is wrong); the
#: description states the same rule as a pattern.
StateQ = Annotated[list[str] | None, Query(
    description=f"job states, repeated or comma-separated (any case): {', '.join(STATES)}"),
    WithJsonSchema({"anyOf": [{"type": "array", "items": {
        "type": "string", "pattern": csv_pattern(STATES), "maxLength": 256}}, {"type": "null"}]})]
KindQ = Annotated[list[str] | None, Query(
    description=f"job kinds, repeated or comma-separated (any case): {', '.join(KINDS)}"),
    WithJsonSchema({"anyOf": [{"type": "array", "items": {
        "type": "string", "pattern": csv_pattern(KINDS), "maxLength": 256}}, {"type": "null"}]})]
#: Page size; the description's maximum is the service's ``max_page`` (see app._document).
LimitQ = Annotated[int, Field(ge=1, le=100_000), BeforeValidator(_integer), Query(description="page size")]
AuditLimitQ = Annotated[int, Field(ge=1, le=1000), BeforeValidator(_integer), Query(description="page size")]
ContinueQ = Annotated[str | None, Query(
    alias="continue", max_length=512, pattern=r"^[A-Za-z0-9_=-]*$",
    description="the `continue` of the previous page, as given: an opaque token bound to this "
                "query's filters. Any other value is refused with 400 invalid-continue.")]
NodeStateQ = Annotated[Literal["ready", "cordoned", "down"] | None, Query(description="ready, cordoned or down")]

#: RFC 3339 date or date-time, or seconds since the epoch.
EPOCH_PATTERN = r"^[0-9]{1,11}(\.[0-9]{1,9})?$"
DATE_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
DATE_TIME_PATTERN = (r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?"
                     r"([Zz]|[+-][0-9]{2}:[0-9]{2})$")
_TIME_SCHEMA = {"anyOf": [
    {"type": "string", "format": "date-time", "pattern": DATE_TIME_PATTERN},
    {"type": "string", "format": "date", "pattern": DATE_PATTERN},
    {"type": "string", "pattern": EPOCH_PATTERN}],
    "description": "RFC 3339 date-time or date (UTC), or epoch seconds; times outside 1970 to 9999 "
                   "are taken as those bounds"}
TimeQ = Annotated[str | None, Query(), WithJsonSchema(_TIME_SCHEMA)]
