"""The tables. Compute is whole GFLOPS (BigInteger), times are epoch seconds (Float).

The migrations in ``migrations/versions`` create exactly these; a test checks
that the two never drift apart.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

#: SQLite only autoincrements an INTEGER PRIMARY KEY.
BigId = BigInteger().with_variant(Integer(), "sqlite")

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class TenantRow(Base):
    __tablename__ = "tenants"
    name: Mapped[str] = mapped_column(String(63), primary_key=True)
    weight: Mapped[float] = mapped_column(Float)
    guaranteed: Mapped[int] = mapped_column(BigInteger)
    limit: Mapped[int] = mapped_column("limit_gflops", BigInteger)
    lending_limit: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    caps: Mapped[dict[str, int]] = mapped_column(JSON)
    grace_period_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    #: the tenant this one's quota is carved out of (issue 22); null: a top-level tenant
    parent: Mapped[str | None] = mapped_column(String(63), nullable=True)
    isolation: Mapped[str] = mapped_column(String(16), server_default="isolated")
    created_at: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)


class QuotaHistoryRow(Base):
    """Every quota or weight a tenant had: who set it, when."""

    __tablename__ = "quota_history"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    tenant: Mapped[str] = mapped_column(String(63), index=True)
    at: Mapped[float] = mapped_column(Float)
    actor: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(16))  # set, delete
    weight: Mapped[float | None] = mapped_column(Float, nullable=True)
    parent: Mapped[str | None] = mapped_column(String(63), nullable=True)
    guaranteed: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    limit: Mapped[int | None] = mapped_column("limit_gflops", BigInteger, nullable=True)
    lending_limit: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    caps: Mapped[dict[str, int] | None] = mapped_column(JSON, nullable=True)


class TokenRow(Base):
    """A bearer token: only its sha256 is kept. ``tenant`` None: an admin token."""

    __tablename__ = "tokens"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    tenant: Mapped[str | None] = mapped_column(String(63), nullable=True, index=True)
    name: Mapped[str] = mapped_column(String(128))
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[float] = mapped_column(Float)
    created_by: Mapped[str] = mapped_column(String(128))
    revoked_at: Mapped[float | None] = mapped_column(Float, nullable=True)


class NodeStateRow(Base):
    __tablename__ = "node_states"
    name: Mapped[str] = mapped_column(String(253), primary_key=True)
    state: Mapped[str] = mapped_column(String(16))
    updated_at: Mapped[float] = mapped_column(Float)


class JobRow(Base):
    __tablename__ = "jobs"
    __table_args__ = (
        UniqueConstraint("tenant", "idempotency_key"),
        Index("ix_jobs_tenant_seq", "tenant", "seq"),
        Index("ix_jobs_state_seq", "state", "seq"),
        Index("ix_jobs_finished_at", "finished_at"),  # the recently finished, on start
    )
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, unique=True)
    tenant: Mapped[str] = mapped_column(String(63))
    name: Mapped[str] = mapped_column(String(253))
    kind: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16))
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    submitted_at: Mapped[float] = mapped_column(Float)
    admitted_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    started_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    finished_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    placement: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    borrowing: Mapped[bool] = mapped_column(Boolean)
    reason: Mapped[str] = mapped_column(String(64))
    detail: Mapped[str] = mapped_column(Text)
    preemptions: Mapped[int] = mapped_column(Integer)
    node_losses: Mapped[int] = mapped_column(Integer, server_default="0")
    ran_s: Mapped[float] = mapped_column(Float, server_default="0")
    idempotency_key: Mapped[str | None] = mapped_column(String(255), nullable=True)
    request_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)


class JobEventRow(Base):
    """Every state change of every job, in the order it was recorded (the decisions too)."""

    __tablename__ = "job_events"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(String(64), index=True)
    at: Mapped[float] = mapped_column(Float)
    state: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(64))
    detail: Mapped[str] = mapped_column(Text)
    placement: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    #: the leader epoch that recorded it (None: a single replica, no lease): a deposed
    #: leader's writes are fenced, so no event of an old epoch follows a newer one
    leader_epoch: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class JobRunRow(Base):
    """One stretch of a job holding devices while it ran: what the ledger bills."""

    __tablename__ = "job_runs"
    __table_args__ = (Index("ix_job_runs_started_at", "started_at"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(String(64), index=True)
    tenant: Mapped[str] = mapped_column(String(63), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    accelerator: Mapped[str] = mapped_column(String(63))
    devices: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[float] = mapped_column(Float)
    ended_at: Mapped[float | None] = mapped_column(Float, nullable=True)


class AuditRow(Base):
    __tablename__ = "audit"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[float] = mapped_column(Float)
    actor: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(253))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)


class UsageHistoryRow(Base):
    __tablename__ = "usage_history"
    tenant: Mapped[str] = mapped_column(String(63), primary_key=True)
    value: Mapped[float] = mapped_column(Float)


class BudgetRow(Base):
    """A tenant's budget (issue 22): PFLOPS-hours per period, for it and its subtree."""

    __tablename__ = "budgets"
    tenant: Mapped[str] = mapped_column(String(63), primary_key=True)
    pflops_hours: Mapped[float] = mapped_column(Float)
    period: Mapped[str] = mapped_column(String(16))
    period_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    anchor: Mapped[float] = mapped_column(Float)
    carryover: Mapped[float] = mapped_column(Float)
    on_exhausted: Mapped[str] = mapped_column(String(16))
    updated_at: Mapped[float] = mapped_column(Float)


class MetaRow(Base):
    __tablename__ = "meta"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[Any] = mapped_column(JSON)


class LeaderLeaseRow(Base):
    """The scheduler's leader lease (one row, ``name`` "scheduler"): who leads, until when.

    ``epoch`` grows by one at every takeover; every write of the leader checks it in its
    own transaction (fencing). Times are the database's clock (epoch seconds).
    """

    __tablename__ = "leader_lease"
    name: Mapped[str] = mapped_column(String(63), primary_key=True)
    holder: Mapped[str] = mapped_column(String(255))
    epoch: Mapped[int] = mapped_column(BigInteger)
    address: Mapped[str | None] = mapped_column(String(255), nullable=True)
    acquired_at: Mapped[float] = mapped_column(Float)
    renewed_at: Mapped[float] = mapped_column(Float)
    expires_at: Mapped[float] = mapped_column(Float)
