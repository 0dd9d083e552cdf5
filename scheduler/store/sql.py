"""The SQL store: SQLite (embedded default) or PostgreSQL, chosen by URL.

Implements the engine's ``Store`` (each method commits before it returns)
plus the reads the API needs. All writes go through one writer thread with
group commit (see ``writer``); reads use their own pooled connections (SQLite
runs in WAL mode, so readers never wait for the writer).
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import orjson
from sqlalchemy import (
    Connection,
    Table,
    and_,
    bindparam,
    create_engine,
    delete,
    event,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.pool import StaticPool

from scheduler.domain import Isolation, JobRecord, JobState, NodeState, Quota, Tenant
from scheduler.domain import placement_codec as placements
from scheduler.domain.budget import Budget, OnExhausted, Period
from scheduler.domain.job import FINISHED_STATES, TERMINAL_STATES
from scheduler.engine.clock import Clock, SystemClock
from scheduler.engine.ports import RECENT_FINISHED, StoredState
from scheduler.store import migrate
from scheduler.store.codec import job_from_row, job_state_columns, job_to_row
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
from scheduler.store.writer import Inserts, RawInsert, Writer

_actor: contextvars.ContextVar[str] = contextvars.ContextVar("aicc_store_actor", default="system")
_TERMINAL = [s.value for s in TERMINAL_STATES]
_FINISHED = [s.value for s in FINISHED_STATES]

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
_JOB_COLUMNS = ("id", "seq", "tenant", "name", "kind", "state", "spec", "submitted_at", "admitted_at",
                "started_at", "finished_at", "placement", "borrowing", "reason", "detail", "preemptions",
                "node_losses", "ran_s", "idempotency_key", "request_sha256")
_EVENT_COLUMNS = ("job_id", "at", "state", "reason", "detail", "placement", "leader_epoch")
_INSERT_JOB = RawInsert("jobs", _JOB_COLUMNS)
_INSERT_EVENT = RawInsert("job_events", _EVENT_COLUMNS)


class StoreError(RuntimeError):
    """The database refused or failed a write."""


class DuplicateIdempotencyKey(StoreError):
    """Another job of this tenant was submitted with the same Idempotency-Key."""


@dataclass(frozen=True, slots=True)
class TokenInfo:
    id: str
    tenant: str | None  # None: an admin token
    name: str
    sha256: str
    created_at: float
    created_by: str
    revoked_at: float | None


@dataclass(frozen=True, slots=True)
class Run:
    """A stretch of a job holding devices while running (``ended_at`` None: still running)."""

    job_id: str
    tenant: str
    kind: str
    accelerator: str
    devices: int
    started_at: float
    ended_at: float | None


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def _loads(value: Any) -> Any:
    """SQLite gives a JSON scalar back as a number (the column has numeric affinity)."""
    return orjson.loads(value) if isinstance(value, str | bytes) else value


def make_engine(url: str) -> Engine:
    """An SQLAlchemy engine with the settings each backend wants."""
    u = make_url(url)
    if u.get_backend_name() == "sqlite":
        memory = u.database in (None, "", ":memory:")
        if not memory:
            Path(u.database or "").expanduser().parent.mkdir(parents=True, exist_ok=True)
        kwargs: dict[str, Any] = {"connect_args": {"check_same_thread": False, "timeout": 30}}
        if memory:
            kwargs["poolclass"] = StaticPool
        engine = create_engine(u, json_serializer=_dumps, json_deserializer=_loads, **kwargs)

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            if not memory:
                cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")  # WAL: durable across process crashes
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    if u.get_backend_name() == "postgresql" and u.drivername == "postgresql":
        u = u.set(drivername="postgresql+psycopg")
    return create_engine(u, json_serializer=_dumps, json_deserializer=_loads,
                         pool_size=8, max_overflow=8, pool_pre_ping=True,
                         # a cut network fails a connection in seconds, not minutes (the leader
                         # lease must notice within its term)
                         connect_args={"connect_timeout": 5})


class SqlStore:
    def __init__(self, url: str, *, clock: Clock | None = None, upgrade: bool = True) -> None:
        self.url = url
        self.clock = clock or SystemClock()
        self.engine = make_engine(url)
        if upgrade:
            migrate.upgrade(self.engine)
        self.writer = Writer(self.engine)
        #: the leader epoch its writes are fenced by (None: one replica, unfenced)
        self.epoch: int | None = None
        self._held: list[Any] = []

    def fence_to(self, holder: str, epoch: int) -> None:
        """From now on every write commits only while ``holder`` leads at ``epoch``."""
        from scheduler.store.lease import Deposed, fence

        self.writer.fence_errors = (Deposed,)
        self.writer.fence = lambda conn: fence(conn, holder, epoch)
        self.epoch = epoch

    def lease(self, holder: str, address: str | None, ttl_s: float) -> Any:
        """The leader lease of ``holder`` on this database (PostgreSQL only)."""
        from scheduler.store.lease import Lease

        return Lease(self.engine, holder, address, ttl_s)

    def refuse_writes(self, why: str) -> None:
        """No write commits any more (a follower, or a deposed leader)."""
        from scheduler.store.lease import Deposed

        def refuse(_conn: Connection) -> None:
            raise Deposed(why)

        self.writer.fence_errors = (Deposed,)
        self.writer.fence = refuse

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def hold(self, resource: Any) -> None:
        """Close ``resource`` when the store closes (the SQLite single-writer lock)."""
        self._held.append(resource)

    def close(self) -> None:
        self.writer.close()
        self.engine.dispose()
        while self._held:
            self._held.pop().close()

    @contextmanager
    def exclusive(self, key: int) -> Iterator[None]:
        """On PostgreSQL, one process at a time in this block (a session advisory lock):
        replicas starting together bootstrap the database once. Elsewhere a no-op."""
        if self.dialect != "postgresql":
            yield
            return
        with self.engine.connect() as conn:
            conn.exec_driver_sql(f"SELECT pg_advisory_lock({int(key)})")
            try:
                yield
            finally:
                conn.exec_driver_sql(f"SELECT pg_advisory_unlock({int(key)})")

    def ping(self) -> None:
        with self.engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")

    @contextmanager
    def acting_as(self, actor: str) -> Iterator[None]:
        """Writes in this block (quota history) name ``actor`` as who made them."""
        token = _actor.set(actor)
        try:
            yield
        finally:
            _actor.reset(token)

    # -- the engine's Store ---------------------------------------------------------------

    def load(self) -> StoredState:
        with self.engine.connect() as conn:
            tenants = {r.name: _tenant(r) for r in conn.execute(select(tenants_t))}
            nodes = {r.name: NodeState(r.state) for r in conn.execute(select(nodes_t))}
            rows = conn.execute(select(jobs_t).where(jobs_t.c.state.not_in(_TERMINAL))
                                .order_by(jobs_t.c.seq))
            jobs = [job_from_row(r) for r in rows]
            top = conn.execute(select(func.max(jobs_t.c.seq))).scalar()
            history = {r.tenant: r.value for r in conn.execute(select(usage_t))}
            at = conn.execute(select(meta_t.c.value).where(meta_t.c.key == "history_at")).scalar()
            finished = [job_from_row(r) for r in conn.execute(
                select(jobs_t).where(jobs_t.c.finished_at.is_not(None), jobs_t.c.state.in_(_FINISHED))
                .order_by(jobs_t.c.finished_at.desc(), jobs_t.c.seq.desc()).limit(RECENT_FINISHED))]
        return StoredState(tenants, nodes, jobs, int(top or 0) + 1, history,
                           float(at) if at is not None else None, finished[::-1])

    def add_job(self, job: JobRecord) -> None:
        self.add_job_deferred(job).result()

    def add_job_deferred(self, job: JobRecord, idempotency_key: str | None = None,
                         request_sha256: str | None = None) -> Future[None]:
        """Queue a job's insert; the future resolves once it is committed."""
        r = job_to_row(job)
        r["spec"] = _dumps(r["spec"])
        r["placement"] = None if r["placement"] is None else _dumps(r["placement"])
        r["idempotency_key"] = idempotency_key
        r["request_sha256"] = request_sha256
        row = tuple(r[c] for c in _JOB_COLUMNS)
        ev = (job.id, job.submitted_at, job.state.value, job.reason, job.detail, r["placement"], self.epoch)
        return self.writer.submit(Inserts([(_INSERT_JOB, [row]), (_INSERT_EVENT, [ev])]))

    def update_jobs(self, jobs: Sequence[JobRecord]) -> None:
        if not jobs:
            return
        now = self.clock.now()
        rows = [{"_id": j.id, **job_state_columns(j)} for j in jobs]
        events = [_event(j, _event_time(j, now), self.epoch) for j in jobs]
        started = [j for j in jobs if j.state is JobState.RUNNING and j.placement is not None]
        ended = [(j.id, j.finished_at if j.finished_at is not None else now)
                 for j in jobs if j.state is JobState.PENDING or j.state.terminal]

        def write(conn: Connection) -> None:
            stmt = update(jobs_t).where(jobs_t.c.id == bindparam("_id"))
            conn.execute(stmt, rows)
            conn.execute(insert(events_t), events)
            if ended:
                conn.execute(update(runs_t).where(and_(runs_t.c.job_id == bindparam("_id"),
                                                       runs_t.c.ended_at.is_(None)))
                             .values(ended_at=bindparam("_end")),
                             [{"_id": i, "_end": e} for i, e in ended])
            if started:
                ids = [j.id for j in started]
                open_ = set(conn.execute(select(runs_t.c.job_id).where(
                    and_(runs_t.c.job_id.in_(ids), runs_t.c.ended_at.is_(None)))).scalars())
                new = [_run(j) for j in started if j.id not in open_]
                if new:
                    conn.execute(insert(runs_t), new)

        self.writer.run(write)

    def put_tenant(self, tenant: Tenant) -> None:
        actor, now = _actor.get(), self.clock.now()
        q = tenant.quota
        values = {"weight": tenant.weight, "guaranteed": q.guaranteed, "limit_gflops": q.limit,
                  "lending_limit": q.lending_limit, "caps": dict(q.caps), "grace_period_s": tenant.grace_period_s,
                  "parent": tenant.parent, "isolation": tenant.isolation.value, "updated_at": now}

        def write(conn: Connection) -> None:
            done = conn.execute(update(tenants_t).where(tenants_t.c.name == tenant.name)
                                .values(**values)).rowcount
            if not done:
                conn.execute(insert(tenants_t).values(name=tenant.name, created_at=now, **values))
            conn.execute(insert(history_t).values(
                tenant=tenant.name, at=now, actor=actor, action="set", weight=tenant.weight,
                guaranteed=q.guaranteed, limit_gflops=q.limit, lending_limit=q.lending_limit,
                caps=dict(q.caps), parent=tenant.parent))

        self.writer.run(write)

    def delete_tenant(self, name: str) -> None:
        actor, now = _actor.get(), self.clock.now()

        def write(conn: Connection) -> None:
            conn.execute(delete(tenants_t).where(tenants_t.c.name == name))
            conn.execute(insert(history_t).values(tenant=name, at=now, actor=actor, action="delete"))
            conn.execute(update(tokens_t).where(and_(tokens_t.c.tenant == name,
                                                     tokens_t.c.revoked_at.is_(None)))
                         .values(revoked_at=now))

        self.writer.run(write)

    def set_node_state(self, name: str, state: NodeState) -> None:
        now = self.clock.now()

        def write(conn: Connection) -> None:
            done = conn.execute(update(nodes_t).where(nodes_t.c.name == name)
                                .values(state=state.value, updated_at=now)).rowcount
            if not done:
                conn.execute(insert(nodes_t).values(name=name, state=state.value, updated_at=now))

        self.writer.run(write)

    def save_usage_history(self, history: Mapping[str, float], at: float) -> None:
        rows = [{"tenant": t, "value": v} for t, v in sorted(history.items())]

        def write(conn: Connection) -> None:
            conn.execute(delete(usage_t))
            if rows:
                conn.execute(insert(usage_t), rows)
            _put_meta(conn, "history_at", at)

        self.writer.run(write)

    # -- jobs ---------------------------------------------------------------------------

    def get_job(self, job_id: str) -> JobRecord | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(jobs_t).where(jobs_t.c.id == job_id)).first()
        return job_from_row(row) if row is not None else None

    def find_idempotent(self, tenant: str, key: str) -> tuple[str, str | None] | None:
        """(job id, request sha256) of the job this tenant submitted with this key."""
        with self.engine.connect() as conn:
            row = conn.execute(select(jobs_t.c.id, jobs_t.c.request_sha256).where(
                and_(jobs_t.c.tenant == tenant, jobs_t.c.idempotency_key == key))).first()
        return (row.id, row.request_sha256) if row is not None else None

    def list_jobs(self, *, tenant: str | None = None, states: Sequence[str] = (),
                  kinds: Sequence[str] = (), after_seq: int | None = None,
                  limit: int = 100) -> list[JobRecord]:
        """Jobs in submission order, from after ``after_seq``."""
        q = select(jobs_t)
        if tenant is not None:
            q = q.where(jobs_t.c.tenant == tenant)
        if states:
            q = q.where(jobs_t.c.state.in_(list(states)))
        if kinds:
            q = q.where(jobs_t.c.kind.in_(list(kinds)))
        if after_seq is not None:
            q = q.where(jobs_t.c.seq > after_seq)
        q = q.order_by(jobs_t.c.seq).limit(limit)
        with self.engine.connect() as conn:
            return [job_from_row(r) for r in conn.execute(q)]

    def count_jobs(self, *, tenant: str | None = None, states: Sequence[str] = ()) -> int:
        q = select(func.count()).select_from(jobs_t)
        if tenant is not None:
            q = q.where(jobs_t.c.tenant == tenant)
        if states:
            q = q.where(jobs_t.c.state.in_(list(states)))
        with self.engine.connect() as conn:
            return int(conn.execute(q).scalar() or 0)

    def job_events(self, job_id: str) -> list[dict[str, Any]]:
        q = select(events_t).where(events_t.c.job_id == job_id).order_by(events_t.c.id)
        with self.engine.connect() as conn:
            return [{"at": r.at, "state": r.state, "reason": r.reason, "detail": r.detail,
                     "placement": r.placement} for r in conn.execute(q)]

    def runs(self, start: float, end: float, tenant: str | None = None) -> list[Run]:
        """Runs that overlap [start, end)."""
        q = select(runs_t).where(and_(runs_t.c.started_at < end,
                                      or_(runs_t.c.ended_at.is_(None), runs_t.c.ended_at > start)))
        if tenant is not None:
            q = q.where(runs_t.c.tenant == tenant)
        with self.engine.connect() as conn:
            return [Run(r.job_id, r.tenant, r.kind, r.accelerator, r.devices, r.started_at, r.ended_at)
                    for r in conn.execute(q.order_by(runs_t.c.id))]

    # -- tenants ------------------------------------------------------------------------

    def tenant_created_at(self) -> dict[str, float]:
        with self.engine.connect() as conn:
            return {r.name: r.created_at for r in conn.execute(select(tenants_t.c.name, tenants_t.c.created_at))}

    def quota_history(self, tenant: str, limit: int = 100) -> list[dict[str, Any]]:
        q = (select(history_t).where(history_t.c.tenant == tenant)
             .order_by(history_t.c.id.desc()).limit(limit))
        with self.engine.connect() as conn:
            return [{"at": r.at, "actor": r.actor, "action": r.action, "weight": r.weight,
                     "guaranteed": r.guaranteed, "limit": r.limit_gflops,
                     "lending_limit": r.lending_limit, "caps": r.caps} for r in conn.execute(q)]

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

    # -- audit and meta -----------------------------------------------------------------

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

    # -- budgets (issue 22) ------------------------------------------------------------

    def budgets(self) -> list[Budget]:
        with self.engine.connect() as conn:
            return [Budget(r.tenant, float(r.pflops_hours), Period(r.period), float(r.carryover),
                           OnExhausted(r.on_exhausted), r.period_s, float(r.anchor))
                    for r in conn.execute(select(budgets_t).order_by(budgets_t.c.tenant))]

    def put_budget(self, b: Budget) -> None:
        values = {"pflops_hours": b.pflops_hours, "period": b.period.value, "period_s": b.period_s,
                  "anchor": b.anchor, "carryover": b.carryover, "on_exhausted": b.on_exhausted.value,
                  "updated_at": self.clock.now()}

        def write(conn: Connection) -> None:
            if not conn.execute(update(budgets_t).where(budgets_t.c.tenant == b.tenant).values(**values)).rowcount:
                conn.execute(insert(budgets_t).values(tenant=b.tenant, **values))

        self.writer.run(write)

    def delete_budget(self, tenant: str) -> None:
        self.writer.run(lambda conn: conn.execute(delete(budgets_t).where(budgets_t.c.tenant == tenant)))

    def get_meta(self, key: str) -> Any:
        with self.engine.connect() as conn:
            return conn.execute(select(meta_t.c.value).where(meta_t.c.key == key)).scalar()

    def set_meta(self, key: str, value: Any) -> None:
        self.writer.run(lambda conn: _put_meta(conn, key, value))


def _put_meta(conn: Connection, key: str, value: Any) -> None:
    if not conn.execute(update(meta_t).where(meta_t.c.key == key).values(value=value)).rowcount:
        conn.execute(insert(meta_t).values(key=key, value=value))


def _tenant(r: Any) -> Tenant:
    return Tenant(r.name, Quota(int(r.guaranteed), int(r.limit_gflops),
                                int(r.lending_limit) if r.lending_limit is not None else None,
                                dict(r.caps or {})), float(r.weight),
                  float(r.grace_period_s) if r.grace_period_s is not None else None, r.parent,
                  Isolation(r.isolation or Isolation.ISOLATED))


def _event_time(job: JobRecord, now: float) -> float:
    s = job.state
    if s is JobState.ADMITTED and job.admitted_at is not None:
        return job.admitted_at
    if s is JobState.RUNNING and job.started_at is not None:
        return job.started_at
    if s.terminal and job.finished_at is not None:
        return job.finished_at
    return now


def _event(job: JobRecord, at: float, epoch: int | None) -> dict[str, Any]:
    return {"job_id": job.id, "at": at, "state": job.state.value, "reason": job.reason,
            "detail": job.detail, "placement": placements.to_dict(job.placement), "leader_epoch": epoch}


def _run(job: JobRecord) -> dict[str, Any]:
    assert job.placement is not None and job.started_at is not None
    return {"job_id": job.id, "tenant": job.spec.tenant, "kind": job.spec.kind.value,
            "accelerator": job.placement.accelerator, "devices": job.placement.devices,
            "started_at": job.started_at, "ended_at": None}

