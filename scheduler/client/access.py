"""Admin: who may call, and what they did: API tokens (issue, list, revoke) and the audit log."""

from __future__ import annotations

from collections.abc import Iterator

from scheduler.api.models import AuditList, AuditOut, TokenCreate, TokenIssued, TokenList, TokenOut
from scheduler.client.bodies import build, segment, wire
from scheduler.client.http_client import HttpClient


class AccessCalls(HttpClient):
    def issue_token(self, tenant: str, name: str = "") -> TokenIssued:
        """A new token for the tenant; the secret is in this answer only."""
        body = build(TokenCreate, name=name)
        return self._send("POST", f"/v1/admin/tenants/{segment(tenant)}/tokens", TokenIssued, wire(body))

    def tokens(self, tenant: str | None = None) -> list[TokenOut]:
        """One tenant's tokens, or every token (admin ones included)."""
        if tenant:
            return self._get(f"/v1/admin/tenants/{segment(tenant)}/tokens", TokenList).items
        return self._get("/v1/admin/tokens", TokenList).items

    def revoke_token(self, token_id: str, tenant: str | None = None) -> TokenOut:
        path = (f"/v1/admin/tenants/{segment(tenant)}/tokens/{segment(token_id)}" if tenant
                else f"/v1/admin/tokens/{segment(token_id)}")
        return self._send("DELETE", path, TokenOut, safe_to_repeat=True)

    def audit_page(self, *, actor: str | None = None, target: str | None = None, limit: int = 100,
                   continue_: str | None = None) -> AuditList:
        return self._get("/v1/admin/audit", AuditList, actor=actor, target=target, limit=limit,
                         **{"continue": continue_})

    def audit(self, *, actor: str | None = None, target: str | None = None,
              page_size: int = 500) -> Iterator[AuditOut]:
        """Admin actions, oldest first, following continue tokens lazily."""
        yield from self._pages("/v1/admin/audit", AuditList, page_size,
                               {"actor": actor, "target": target})
