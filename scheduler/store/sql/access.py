"""Who may call, and what admins did: API tokens (kept as hashes) and the audit log."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, and_, insert, select, update

from scheduler.store.sql.base import SqlBase
from scheduler.store.sql.records import TokenInfo
from scheduler.store.sql.tables import audit_t, tokens_t


class AccessTables(SqlBase):
    # -- tokens -------------------------------------------------------------------------

    def add_token(self, token: TokenInfo) -> None:
        row = {"id": token.id, "tenant": token.tenant, "name": token.name, "sha256": token.sha256,
               "created_at": token.created_at, "created_by": token.created_by,
               "revoked_at": token.revoked_at}
        self.writer.run(lambda conn: conn.execute(insert(tokens_t), row))

    def tokens(self, tenant: str | None = None, *, include_admin: bool = True) -> list[TokenInfo]:
        q = select(tokens_t).order_by(tokens_t.c.created_at, tokens_t.c.id)
        if tenant is not None:
            q = q.where(tokens_t.c.tenant == tenant)
        elif not include_admin:
            q = q.where(tokens_t.c.tenant.is_not(None))
        with self.engine.connect() as conn:
            return [TokenInfo(r.id, r.tenant, r.name, r.sha256, r.created_at, r.created_by, r.revoked_at)
                    for r in conn.execute(q)]

    def token(self, token_id: str) -> TokenInfo | None:
        with self.engine.connect() as conn:
            r = conn.execute(select(tokens_t).where(tokens_t.c.id == token_id)).first()
        return (TokenInfo(r.id, r.tenant, r.name, r.sha256, r.created_at, r.created_by, r.revoked_at)
                if r is not None else None)

    def revoke_token(self, token_id: str) -> bool:
        now = self.clock.now()

        def write(conn: Connection) -> int:
            return int(conn.execute(update(tokens_t).where(and_(tokens_t.c.id == token_id,
                                                                tokens_t.c.revoked_at.is_(None)))
                                    .values(revoked_at=now)).rowcount)

        return bool(self.writer.run(write))

    # -- audit --------------------------------------------------------------------------

    def audit(self, actor: str, action: str, target: str, detail: Mapping[str, Any] | None = None) -> None:
        row = {"at": self.clock.now(), "actor": actor, "action": action, "target": target,
               "detail": dict(detail or {})}
        self.writer.run(lambda conn: conn.execute(insert(audit_t), row))

    def audit_log(self, *, after_id: int | None = None, limit: int = 100,
                  actor: str | None = None, target: str | None = None) -> list[dict[str, Any]]:
        q = select(audit_t)
        if after_id is not None:
            q = q.where(audit_t.c.id > after_id)
        if actor is not None:
            q = q.where(audit_t.c.actor == actor)
        if target is not None:
            q = q.where(audit_t.c.target == target)
        with self.engine.connect() as conn:
            return [{"id": r.id, "at": r.at, "actor": r.actor, "action": r.action,
                     "target": r.target, "detail": r.detail}
                    for r in conn.execute(q.order_by(audit_t.c.id).limit(limit))]
