"""API tokens: issue (the secret shown once), list, revoke."""

from __future__ import annotations

from pydantic import Field

from scheduler.api.models.common import LABEL_PATTERN, Request, Response


class TokenCreate(Request):
    name: str = Field(default="", max_length=128, pattern=LABEL_PATTERN)


class TokenIssued(Response):
    """The token itself is shown here, once; only its hash is kept."""

    token: str
    id: str
    tenant: str | None
    name: str
    created_at: str


class TokenOut(Response):
    id: str
    tenant: str | None
    name: str
    created_at: str
    created_by: str
    revoked_at: str | None


class TokenList(Response):
    items: list[TokenOut]
