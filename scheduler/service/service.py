"""The use cases: the engine under one lock, the scheduling loop, tokens, admin actions.

Each concern is a module of its own (``jobs``, ``tenancy``, ``budgeting``, ``access``,
``operations``, ``replica``); this one sets the service up and runs its loop.

Everything that changes state goes through ``Service`` (the API is a thin
layer over it). The engine is not thread safe: every call into it holds
``lock``. The loop runs in a background thread: it polls the executor and
steps when something changed (submit, cancel, finish, quota or node change),
at most every ``min_step_gap_s`` and at least every ``step_interval_s``.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future

from scheduler.centerfile import CenterConfig
from scheduler.core import Policy
from scheduler.domain import JobRecord, NodeState
from scheduler.domain.budget import Budget, BudgetStatus
from scheduler.engine import Clock, Engine, Executor
from scheduler.engine.estimates import estimator_for
from scheduler.engine.periods import zone
from scheduler.engine.ports import (
    Adopts,
    CarriesJobCredentials,
    Closes,
    KnowsCenter,
    KnowsNextEvent,
    LosesNodes,
    ReportsCheckpoints,
    unwrapped,
)
from scheduler.service import tokens as tok
from scheduler.service.access import Access
from scheduler.service.base import JobView, QuotaChange, ServiceBase
from scheduler.service.budgeting import Budgeting
from scheduler.service.jobs import Jobs
from scheduler.service.leadership import Elector, LeaderOnlyExecutor
from scheduler.service.operations import Operations
from scheduler.service.ports import ServiceStore
from scheduler.service.replica import Replication
from scheduler.service.settings import Settings
from scheduler.service.tenancy import Tenancy
from scheduler.store import TokenInfo

log = logging.getLogger(__name__)

__all__ = ["JobView", "QuotaChange", "Service", "ServiceBase"]



class Service(Jobs, Tenancy, Budgeting, Access, Operations, Replication):
    """The service: one part per concern over one state (``base.ServiceBase``); here, how it
    is set up, started, stepped by its loop and stopped."""

    def __init__(self, settings: Settings, store: ServiceStore, config: CenterConfig,
                 executor: Executor, clock: Clock, policy: Policy | None = None) -> None:
        self.settings = settings
        self.store = store
        self.config = config
        self.executor = executor
        self.clock = clock
        self.policy = policy or config.policy
        self.lock = threading.RLock()
        self.generated_admin_token: str | None = None
        with store.exclusive(2424240002):  # replicas starting together: one bootstraps
            self._bootstrap_tenants()
        #: High availability: who leads (None: one replica, always the leader).
        self.elector: Elector | None = None
        #: "leader", "follower", "taking-over" or "deposed"; one replica is always the leader
        self.role = "follower" if settings.ha else "leader"
        #: called once leadership is lost (``aicc serve`` exits: a fresh start rejoins)
        self.on_deposed: Callable[[str], None] | None = None
        if settings.ha:  # acts only while the lease is ours: a deposed leader starts nothing
            executor = LeaderOnlyExecutor(executor, self._may_act)
            self.executor = executor
        # Attached to a Ray cluster, the center is Ray's nodes as the executor found them.
        self._can = unwrapped(executor)  # what the executor can do besides, by isinstance
        self._center = (self._can.center if isinstance(self._can, KnowsCenter) else None) or config.center
        self.engine = self._new_engine()
        self._tokens: dict[str, TokenInfo] = {t.id: t for t in store.tokens()}
        self._admin_digest = (tok.digest(settings.admin_token.get_secret_value())
                              if settings.admin_token is not None else None)
        self._bootstrap_admin_token()
        self._idem: dict[tuple[str, str], tuple[JobRecord, str | None, Future[None]]] = {}
        #: Submissions take this lock, not ``lock``: a step never delays them.
        self._submit_lock = threading.Lock()
        self._inbox: deque[JobRecord] = deque()
        self._submits = 0  # how many so far: the loop tells a storm of them from quiet
        self._wake = threading.Condition()
        self._dirty = True
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._last_history_save = 0.0
        self.loop_errors = 0
        self.ready = False
        #: Jobs whose insert failed, to drop from the engine by the loop. Not done in the
        #: writer's callback: it must never wait for the lock (a step holding the lock
        #: may itself be waiting for the writer).
        self._unrecorded: list[str] = []
        #: one projection of expected starts at a time, outside ``lock`` (see ``expected_starts``)
        self._projection_lock = threading.Lock()
        #: signs each running job's own credential (``jobtoken``): one per database, so that a
        #: restarted service or another replica accepts what the last one handed out
        self._job_secret = self._job_token_secret()
        if isinstance(self._can, CarriesJobCredentials):  # the executor puts it in the job's environment
            self._can.job_credentials = self.job_env
        #: budgets (issue 22): the center's time zone starts their periods
        self.timezone = zone(config.timezone)
        self._budgets: dict[str, Budget] = {b.tenant: b for b in store.budgets()}
        self._budget_status: dict[str, BudgetStatus] = {}
        self._budgets_checked_at = -math.inf
        if self._budgets:
            self._refresh_budgets(force=True)

    # -- life ---------------------------------------------------------------------------

    def _bootstrap_tenants(self) -> None:
        """First start with an empty database: the tenants and quotas of the center file."""
        if self.store.get_meta("bootstrapped"):
            return
        if not self.store.load().tenants:
            with self.store.acting_as("bootstrap"):
                for tenant in self.config.tenants.values():
                    self.store.put_tenant(tenant)
            if self.config.tenants:
                self.store.audit("bootstrap", "tenants.bootstrap", self.config.center.name,
                                 {"tenants": sorted(self.config.tenants)})
        self.store.set_meta("bootstrapped", True)


    def _new_engine(self) -> Engine:
        """The engine as the store has it (a start, a takeover, a follower's refresh)."""
        return Engine(self._center, self.store, self.executor, self.clock, self.policy,
                      estimator=estimator_for(self.policy), preemption_notice_s=self.settings.preemption_notice_s)


    def start(self) -> list[str]:
        """Reconcile with the executor, then start the loop. Returns the repairs made.

        With ``settings.ha``: start as a follower; the loop starts once elected.
        """
        if self.settings.ha:
            self._start_replica()
            return []
        return self._lead()


    def _lead(self, role: str | None = None) -> list[str]:
        with self._locked():
            can = self._can  # the Ray executor: which run of each job is current
            if isinstance(can, Adopts):
                can.adopt(self.engine.live_jobs())
            repairs = self.engine.reconcile()
            self.engine.step()
            if role is not None:
                self.role = role
        self._thread = threading.Thread(target=self._loop, name="aicc-scheduler", daemon=True)
        self._thread.start()
        self.ready = True
        return repairs

    def stop(self) -> None:
        self.ready = False
        with self._wake:
            self._stopping = True
            self._wake.notify()
        if self._thread is not None:
            self._thread.join(10)
        if self.role == "leader":
            with self._locked():
                self._save_history(force=True)
        if self.elector is not None:  # the loop is over: a leader hands over at once
            self.elector.stop(resign=self.role == "leader")
        can = self._can  # the Ray executor: stops the embedded head
        if isinstance(can, Closes):
            can.close()

    def readiness(self) -> str | None:
        """None when ready; else why not (for /readyz)."""
        if not self.ready:
            return "starting"
        if self.elector is not None and self.role != "leader":  # a follower serves reads
            if not self.elector.alive:
                return "the leader election is not running"
            if self.role == "deposed":
                return "deposed: this replica lost the leader lease"
        elif self._thread is None or not self._thread.is_alive():
            return "the scheduling loop is not running"
        if not self.store.writer.alive:
            return "the store writer is not running"
        try:
            self.store.ping()
        except Exception as exc:
            return f"the database does not answer: {type(exc).__name__}"
        return None


    def _loop(self) -> None:
        s = self.settings
        last_step = time.monotonic()
        took = 0.0
        seen = self._submits
        while True:
            with self._wake:
                while not self._stopping:
                    wait = s.step_interval_s - (time.monotonic() - last_step)
                    due = self._executor_due()
                    if due is not None:
                        wait = min(wait, due)
                    if self._dirty or wait <= 0:
                        break
                    self._wake.wait(wait)
                if self._stopping:
                    return
                self._dirty = False
            # While submissions arrive, steps may take at most ``step_share`` of the
            # time: under a storm over a long queue the API keeps the rest. Otherwise
            # (jobs finishing) the next step comes at once: idle devices cost more.
            storm, seen = self._submits != seen, self._submits
            share = took * (1.0 / s.step_share - 1.0) if storm else 0.0
            gap = max(s.min_step_gap_s, share) - (time.monotonic() - last_step)
            if gap > 0:
                time.sleep(gap)
            began = time.monotonic()
            if self.elector is not None and not self.leads():
                self.elector.give_up("the lease term ran out before the next scheduling step")
                return
            try:
                with self._locked():
                    self.engine.sync()
                    self._mark_lost_nodes()
                    self._take_checkpoints()
                    self.engine.step()
                    self._save_history()
                    self._refresh_budgets()
            except Exception:
                self.loop_errors += 1
                log.exception("scheduling step failed")
                time.sleep(min(1.0, s.step_interval_s))
            last_step = time.monotonic()
            took = last_step - began

    def _mark_lost_nodes(self) -> None:
        """Nodes the executor lost are marked down, so nothing new is placed on them."""
        can = self._can
        if not isinstance(can, LosesNodes):
            return
        center = self.engine.center
        for name in can.lost_nodes():
            if center.has_node(name) and center.node(name).state is not NodeState.DOWN:
                log.warning("node %s is lost: marked down", name)
                self.engine.set_node_state(name, NodeState.DOWN)

    def _take_checkpoints(self) -> None:
        """Checkpoints the executor saw (isolated jobs report through a file, not the API)."""
        can = self._can
        if isinstance(can, ReportsCheckpoints):
            for job_id, at in can.checkpoints().items():
                self.engine.checkpoint(job_id, at)

    def _executor_due(self) -> float | None:
        """Seconds until the executor's next event; the poll interval if it cannot say."""
        can = self._can
        if not isinstance(can, KnowsNextEvent):
            return self.settings.poll_interval_s
        at = can.next_event_at()
        return None if at is None else max(0.0, at - self.clock.now())

    def _save_history(self, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self._last_history_save >= self.settings.history_save_interval_s:
            e = self.engine
            if e.history_at is not None:
                self.store.save_usage_history(e.history, e.history_at)
            self._last_history_save = now

    # -- tokens -------------------------------------------------------------------------


    # -- jobs ---------------------------------------------------------------------------


    # -- tenants and quotas ------------------------------------------------------------


    # -- budgets ------------------------------------------------------------------------


    # -- what-if ------------------------------------------------------------------------


    # -- nodes and the center ---------------------------------------------------------


    # -- usage --------------------------------------------------------------------------


