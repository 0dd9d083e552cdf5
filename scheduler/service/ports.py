"""What the service needs of a store, beyond the engine's ``Store``: tokens, audit, queries.

``Service`` is typed on this protocol, not on ``SqlStore``: any store that keeps these
promises serves it (``SqlStore`` on SQLite or PostgreSQL today).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, Protocol

from scheduler.domain import JobRecord
from scheduler.engine.ports import Store

if TYPE_CHECKING:
    from scheduler.store import Run, TokenInfo


class WriterHealth(Protocol):
    @property
    def alive(self) -> bool: ...


class ServiceStore(Store, Protocol):
    @property
    def writer(self) -> WriterHealth:
        """The thread that commits writes in order; the service is not ready without it."""
        ...

    def ping(self) -> None:
        """Raises when the database does not answer."""
        ...

    def close(self) -> None: ...

    def acting_as(self, actor: str) -> AbstractContextManager[None]:
        """Writes in this block name ``actor`` as who made them (quota history)."""
        ...

    def add_job_deferred(self, job: JobRecord, idempotency_key: str | None = None,
                         request_sha256: str | None = None) -> Future[None]:
        """Queue the insert; the future is done once it is committed."""
        ...

    def get_job(self, job_id: str) -> JobRecord | None: ...

    def find_idempotent(self, tenant: str, key: str) -> tuple[str, str | None] | None: ...

    def list_jobs(self, *, tenant: str | None = None, states: Sequence[str] = (),
                  kinds: Sequence[str] = (), after_seq: int | None = None,
                  limit: int = 100) -> list[JobRecord]: ...

    def job_events(self, job_id: str) -> list[dict[str, Any]]: ...

    def runs(self, start: float, end: float, tenant: str | None = None) -> list[Run]: ...

    def quota_history(self, tenant: str, limit: int = 100) -> list[dict[str, Any]]: ...

    def add_token(self, token: TokenInfo) -> None: ...

    def tokens(self, tenant: str | None = None, *, include_admin: bool = True) -> list[TokenInfo]: ...

    def revoke_token(self, token_id: str) -> bool: ...

    def audit(self, actor: str, action: str, target: str, detail: Mapping[str, Any] | None = None) -> None: ...

    def audit_log(self, *, after_id: int | None = None, limit: int = 100,
                  actor: str | None = None, target: str | None = None) -> list[dict[str, Any]]: ...

    def get_meta(self, key: str) -> Any: ...

    def set_meta(self, key: str, value: Any) -> None: ...
