"""What every part of the service shares: its state (set up by ``Service.__init__``), the
engine under its lock, and the shapes the use cases answer in.

``Service`` is put together from one part per concern (``jobs``, ``tenancy``, ``budgeting``,
``access``, ``operations``, ``replica``); each is a class over this base, so that the state
and the lock are one, and a part names what it uses of another here.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from scheduler.centerfile import CenterConfig
from scheduler.core import Policy
from scheduler.core.projection import Eta
from scheduler.domain import Center, Isolation, JobRecord, Tenant
from scheduler.domain.budget import Budget, BudgetStatus
from scheduler.domain.errors import NotFound
from scheduler.engine import Clock, Engine, Executor
from scheduler.service.leadership import Elector
from scheduler.service.ports import ServiceStore
from scheduler.service.settings import Settings
from scheduler.store import TokenInfo


@dataclass(frozen=True)
class JobView:
    """A job and, while it waits, why and where in its queue."""

    job: JobRecord
    reason: str
    detail: str
    position: int | None
    #: while it waits: its estimated cost exceeds what is left of its tenant's budget
    budget_warning: str | None = None
    #: while pending: when it is expected to start, and how that was found (issue 23)
    eta: Eta | None = None


@dataclass(frozen=True)
class QuotaChange:
    """A proposed or requested quota; None keeps the current value."""

    tenant: str
    guaranteed: int | None = None
    limit: int | None = None
    lending_limit: int | None = None
    caps: Mapping[str, int] | None = None
    weight: float | None = None
    clear_lending_limit: bool = False
    grace_period_s: float | None = None
    clear_grace_period: bool = False  # back to the center's default
    parent: str | None = None  # moves the tenant under this parent
    clear_parent: bool = False  # moves it to the top level
    isolation: Isolation | None = None


class ServiceBase:
    """The service's state; the methods every part uses."""

    settings: Settings
    store: ServiceStore
    config: CenterConfig
    executor: Executor
    clock: Clock
    policy: Policy
    #: the engine is not thread safe: every call into it holds this
    lock: threading.RLock
    engine: Engine
    #: what the executor can do besides running jobs (checked with isinstance)
    _can: object
    _center: Center
    # -- submissions, and the loop's wake-up
    _submit_lock: threading.Lock
    _inbox: deque[JobRecord]
    _unrecorded: list[str]
    _submits: int
    _idem: dict[tuple[str, str], tuple[JobRecord, str | None, Future[None]]]
    _wake: threading.Condition
    _dirty: bool
    _stopping: bool
    _thread: threading.Thread | None
    ready: bool
    # -- tokens and job credentials
    _tokens: dict[str, TokenInfo]
    _admin_digest: str | None
    _job_secret: bytes
    generated_admin_token: str | None
    # -- expected starts, budgets
    _projection_lock: threading.Lock
    timezone: ZoneInfo
    _budgets: dict[str, Budget]
    _budget_status: dict[str, BudgetStatus]
    _budgets_checked_at: float
    # -- high availability
    elector: Elector | None
    role: str
    holder: str
    _follower: threading.Thread
    on_deposed: Callable[[str], None] | None

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """The engine, with every submitted job handed to it."""
        with self.lock:
            while self._inbox:
                self.engine.accept(self._inbox.popleft())
            while self._unrecorded:
                self.engine.forget(self._unrecorded.pop())
            yield

    def kick(self) -> None:
        """Something changed: step soon."""
        with self._wake:
            if not self._dirty:
                self._dirty = True
                self._wake.notify()

    def tenant(self, name: str) -> Tenant:
        t = self.engine.tenants.get(name)
        if t is None:
            raise NotFound("tenant-not-found", f"tenant {name!r} not found")
        return t

    # -- what one part uses of another (each defined in its part) -----------------------

    def _new_engine(self) -> Engine:
        raise NotImplementedError  # service.Service

    def _lead(self, role: str | None = None) -> list[str]:
        raise NotImplementedError  # service.Service

    def budget_warning(self, job: JobRecord, *, submitted: bool = False) -> str | None:
        raise NotImplementedError  # budgeting.Budgeting

    def _refresh_budgets(self, force: bool = False) -> None:
        raise NotImplementedError  # budgeting.Budgeting
