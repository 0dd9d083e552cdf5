"""The tables as SQLAlchemy Core handles (the ORM classes of ``scheduler.store.models``)."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import Connection, Table, insert, update

from scheduler.store.models import (
    AuditRow,
    BudgetRow,
    JobEventRow,
    JobRow,
    JobRunRow,
    MetaRow,
    NodeStateRow,
    QuotaHistoryRow,
    TenantRow,
    TokenRow,
    UsageHistoryRow,
)

jobs_t = cast(Table, JobRow.__table__)
events_t = cast(Table, JobEventRow.__table__)
runs_t = cast(Table, JobRunRow.__table__)
tenants_t = cast(Table, TenantRow.__table__)
history_t = cast(Table, QuotaHistoryRow.__table__)
tokens_t = cast(Table, TokenRow.__table__)
nodes_t = cast(Table, NodeStateRow.__table__)
audit_t = cast(Table, AuditRow.__table__)
usage_t = cast(Table, UsageHistoryRow.__table__)
meta_t = cast(Table, MetaRow.__table__)
budgets_t = cast(Table, BudgetRow.__table__)


def put_meta(conn: Connection, key: str, value: Any) -> None:
    """Set one key of the ``meta`` table (insert or update)."""
    if not conn.execute(update(meta_t).where(meta_t.c.key == key).values(value=value)).rowcount:
        conn.execute(insert(meta_t).values(key=key, value=value))
