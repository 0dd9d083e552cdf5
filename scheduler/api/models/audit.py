"""The audit log of admin actions."""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict, Field

from scheduler.api.models.common import Response


class AuditOut(Response):
    id: int
    at: str
    actor: str
    action: str
    target: str
    detail: dict[str, Any]


class AuditList(Response):
    items: list[AuditOut]
    continue_: str | None = Field(alias="continue")
    model_config = ConfigDict(populate_by_name=True)
