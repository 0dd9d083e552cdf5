"""The use cases: the engine under one lock, the scheduling loop, tokens, admin actions.

Everything that changes state goes through ``Service`` (the API is a thin
layer over it). The engine is not thread safe: every call into it holds
``lock``. The loop runs in a background thread: it polls the executor and
steps when something changed (submit, cancel, finish, quota or node change),
at most every ``min_step_gap_s`` and at least every ``step_interval_s``.
"""

from __future__ import annotations

import logging
import math
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

from scheduler.centerfile import CenterConfig
from scheduler.core import Policy
from scheduler.core.projection import Eta, Projection, project
from scheduler.domain import (
    Center,
    Isolation,
    JobRecord,
    JobSpec,
    JobState,
    Node,
    NodeState,
    Quota,
    Tenant,
    ancestors,
    check_tree,
    parents_of,
    sold,
)
from scheduler.domain.budget import Budget, BudgetStatus, OnExhausted
from scheduler.domain.errors import Conflict, Invalid, NotFound, Unavailable
from scheduler.engine import Clock, Engine, Executor
from scheduler.engine.estimates import estimator_for
from scheduler.engine.periods import period_bounds, zone
from scheduler.engine.ports import (
    Adopts,
    CarriesJobCredentials,
    Closes,
    KnowsCenter,
    KnowsNextEvent,
    LosesNodes,
    OffersLogs,
    unwrapped,
)
from scheduler.service import jobtoken
from scheduler.service import tokens as tok
from scheduler.service.budgets import estimated_cost, would_hold
from scheduler.service.budgets import exhausted as budget_exhausted
from scheduler.service.budgets import statuses as budget_statuses
from scheduler.service.leadership import Elector, LeaderOnlyExecutor
from scheduler.service.ledger import LedgerLine, ledger
from scheduler.service.ports import ServiceStore
from scheduler.service.settings import Settings
from scheduler.service.whatif import WhatIf, what_if
from scheduler.store import Run, TokenInfo

log = logging.getLogger(__name__)

#: expected starts: how many of the first pending jobs a projection covers (besides those
#: asked for), and how long one is reused before it is projected afresh
ETA_JOBS = 1000
ETA_REFRESH_S = 5.0



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


class Service:
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

    def _job_token_secret(self) -> bytes:
        """The key job credentials are signed with, made on first start and kept in the database
        (which no job can reach), so that every replica and every restart shares it."""
        with self.store.exclusive(2424240003):
            kept = self.store.get_meta("job_token_secret")
            if kept is None:
                kept = secrets.token_hex(32)
                self.store.set_meta("job_token_secret", kept)
        return bytes.fromhex(kept)

    def _bootstrap_admin_token(self) -> None:
        """No AICC_ADMIN_TOKEN and no admin token yet: make one, write it 0600, keep it to print."""
        if self._admin_digest is not None or any(t.tenant is None for t in self._tokens.values()):
            return
        token_id, token = tok.new_token()
        info = TokenInfo(token_id, None, "bootstrap-admin", tok.digest(token), self.clock.now(),
                         "bootstrap", None)
        path = self.settings.resolved_admin_token_file()
        path.parent.mkdir(parents=True, exist_ok=True)
        import os

        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.fchmod(fd, 0o600)
            os.write(fd, (token + "\n").encode())
        finally:
            os.close(fd)
        self.store.add_token(info)
        self._tokens[info.id] = info
        self.generated_admin_token = token

    def _new_engine(self) -> Engine:
        """The engine as the store has it (a start, a takeover, a follower's refresh)."""
        return Engine(self._center, self.store, self.executor, self.clock, self.policy,
                      estimator=estimator_for(self.policy), preemption_notice_s=self.settings.preemption_notice_s)

    def leads(self) -> bool:
        """This replica may decide and act now."""
        if self.elector is None:
            return self.role == "leader"
        return self.role == "leader" and self.elector.leading()

    def _may_act(self) -> bool:
        """The executor may be told to start or stop jobs (leading, or taking over)."""
        return (self.role in ("leader", "taking-over") and self.elector is not None
                and self.elector.leading())

    def leader_address(self) -> str | None:
        """Where the leader answers (followers forward writes there); None: nobody leads now."""
        if self.elector is None:
            return None
        seen = self.elector.seen
        return seen.address if seen is not None and seen.held else None

    def leadership(self) -> dict[str, Any]:
        """Who leads, for the API and ``aicc center show``."""
        if self.elector is None:
            return {"mode": "single", "role": self.role, "leader": self.settings.replica_name,
                    "epoch": None, "address": None, "changes": 0}
        seen = self.elector.seen
        return {"mode": "ha", "role": self.role,
                "leader": seen.holder if seen is not None and seen.held else None,
                "epoch": seen.epoch if seen is not None else None,
                "address": seen.address if seen is not None and seen.held else None,
                "changes": self.elector.changes}

    def start(self) -> list[str]:
        """Reconcile with the executor, then start the loop. Returns the repairs made.

        With ``settings.ha``: start as a follower; the loop starts once elected.
        """
        if self.settings.ha:
            self._start_replica()
            return []
        return self._lead()

    def _start_replica(self) -> None:
        import os
        import socket
        import uuid

        s = self.settings
        name = s.replica_name or socket.gethostname()
        address = s.advertise_url or f"http://{socket.gethostname()}:{s.port}"
        holder = f"{name}/{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.holder = holder
        self.store.refuse_writes("this replica is a follower: the leader writes")
        lease = self.store.lease(holder, address, s.lease_ttl_s)
        self.elector = Elector(lease, renew_s=s.lease_renew_s, retry_s=s.lease_retry_s,
                               on_elected=self._take_over, on_lost=self._deposed)
        self._follower = threading.Thread(target=self._follow, name="aicc-follower", daemon=True)
        self._follower.start()
        self.elector.start()
        self.ready = True

    def _follow(self) -> None:
        """A follower's view: the engine reloaded from the store every ``follower_refresh_s``."""
        while self.role == "follower" and not self._stopping:
            time.sleep(self.settings.follower_refresh_s)
            try:
                engine = self._new_engine()
                tokens = {t.id: t for t in self.store.tokens()}
            except Exception as exc:
                log.warning("follower refresh failed: %s", str(exc).splitlines()[0])
                continue
            with self.lock:
                if self.role != "follower":
                    return
                self.engine = engine
                self._tokens = tokens

    def _take_over(self, epoch: int) -> None:
        """Elected: fence the store by this epoch, rebuild the engine from it, reconcile, lead."""
        with self.lock:
            self.role = "taking-over"
            self.store.fence_to(self.holder, epoch)
            self._inbox.clear()
            self._unrecorded.clear()
            self._idem.clear()
            self._tokens = {t.id: t for t in self.store.tokens()}
            self.engine = self._new_engine()
        repairs = self._lead(role="leader")
        log.warning("leading (epoch %d): reconciled with the executor, %d repairs", epoch, len(repairs))

    def _deposed(self, why: str) -> None:
        """The lease is lost: refuse every write, stop the loop, and tell ``on_deposed``."""
        self.role = "deposed"
        self.ready = False
        self.store.refuse_writes(f"deposed: {why}")
        with self._wake:
            self._stopping = True
            self._wake.notify()
        if self.on_deposed is not None:
            self.on_deposed(why)

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

    def kick(self) -> None:
        """Something changed: step soon."""
        with self._wake:
            if not self._dirty:
                self._dirty = True
                self._wake.notify()

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

    def authenticate(self, token: str) -> tok.Principal | None:
        digest = tok.digest(token)
        token_id = tok.token_id_of(token)
        info = self._tokens.get(token_id) if token_id is not None else None
        if info is None and token_id is not None and self.elector is not None and self.role != "leader":
            # a follower: the token may have been issued by the leader since the last reload
            info = self.store.token(token_id)
            if info is not None:
                self._tokens[token_id] = info
        if info is not None and info.revoked_at is None and tok.same(digest, info.sha256):
            if info.tenant is None:
                return tok.Principal("admin", None, info.id)
            return tok.Principal(f"tenant:{info.tenant}", info.tenant, info.id)
        if self._admin_digest is not None and tok.same(digest, self._admin_digest):
            return tok.Principal("admin", None, None)
        return None

    def issue_token(self, actor: str, tenant: str | None, name: str) -> tuple[TokenInfo, str]:
        with self._locked():
            if tenant is not None and tenant not in self.engine.tenants:
                raise NotFound("tenant-not-found", f"tenant {tenant!r} not found")
            token_id, token = tok.new_token()
            info = TokenInfo(token_id, tenant, name, tok.digest(token), self.clock.now(), actor, None)
            self.store.add_token(info)
            self._tokens[token_id] = info
            self.store.audit(actor, "token.issue", tenant or "admin", {"token_id": token_id, "name": name})
        return info, token

    def list_tokens(self, tenant: str | None = None) -> list[TokenInfo]:
        return self.store.tokens(tenant)

    def revoke_token(self, actor: str, token_id: str, tenant: str | None = None) -> TokenInfo:
        with self._locked():
            info = self._tokens.get(token_id)
            if info is None or (tenant is not None and info.tenant != tenant):
                raise NotFound("token-not-found", f"token {token_id!r} not found")
            if info.revoked_at is None:
                self.store.revoke_token(token_id)
                info = replace(info, revoked_at=self.clock.now())
                self._tokens[token_id] = info
                self.store.audit(actor, "token.revoke", info.tenant or "admin", {"token_id": token_id})
            return info

    # -- jobs ---------------------------------------------------------------------------

    def submit(self, spec: JobSpec, idempotency_key: str | None = None,
               request_sha256: str | None = None) -> tuple[JobRecord, Future[None], bool]:
        """Queue a job. Returns (job, commit future, created); answer only once the future is done.

        Never waits for a scheduling step: the job gets its sequence number and its
        insert is queued under a small lock of its own; the loop hands it to the
        engine before the next step (the insert is committed first: the writer
        keeps order).
        """
        if self.role != "leader":
            raise Unavailable("not-leader", "this replica does not lead; send writes to the leader")
        with self._submit_lock:
            if idempotency_key is not None:
                hit = self._idempotent(spec.tenant, idempotency_key)
                if hit is not None:
                    job, sha, future = hit
                    if sha != request_sha256:
                        raise Invalid("idempotency-key-reused",
                                           "this Idempotency-Key was used with another request body")
                    return self.engine.jobs.get(job.id, job), future, False
            self._check_accelerator_types(spec)
            job = self.engine.prepare_submit(spec)
            future = self.store.add_job_deferred(job, idempotency_key, request_sha256)
            self._inbox.append(job)
            self._submits += 1
            if idempotency_key is not None:
                if len(self._idem) > 10_000:
                    self._idem = {k: v for k, v in self._idem.items() if not v[2].done()}
                self._idem[(spec.tenant, idempotency_key)] = (job, request_sha256, future)
        future.add_done_callback(lambda f: self._committed(job.id, f))
        self.kick()
        return job, future, True

    def _check_accelerator_types(self, spec: JobSpec) -> None:
        """A type the center does not have could never run: refused at submission rather
        than left waiting forever (a known type that no node can hold is ``Unsatisfiable``).
        The simulator keeps such jobs, which never start, as its traces have them."""
        catalog = self.engine.center.accelerators
        unknown = [t for t in spec.resources.accelerator_types if t not in catalog]
        if unknown:
            raise Invalid("unknown-accelerator",
                               f"accelerator type {', '.join(map(repr, unknown))} is not one of this "
                               f"center's: {', '.join(catalog)}")

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """The engine, with every submitted job handed to it."""
        with self.lock:
            while self._inbox:
                self.engine.accept(self._inbox.popleft())
            while self._unrecorded:
                self.engine.forget(self._unrecorded.pop())
            yield

    def _committed(self, job_id: str, future: Future[None]) -> None:
        if future.exception() is not None:
            self._unrecorded.append(job_id)
            self.kick()

    def _idempotent(self, tenant: str, key: str) -> tuple[JobRecord, str | None, Future[None]] | None:
        hit = self._idem.get((tenant, key))
        if hit is not None:
            return hit
        stored = self.store.find_idempotent(tenant, key)
        if stored is None:
            return None
        job = self.store.get_job(stored[0])
        assert job is not None
        done: Future[None] = Future()
        done.set_result(None)
        return job, stored[1], done

    def current(self, job: JobRecord) -> JobRecord:
        """The freshest record of a job: memory for live jobs, else what is stored."""
        return self.engine.jobs.get(job.id, job)

    def quick_view(self, job: JobRecord) -> JobView:
        """The freshest record without taking the lock (no queue position)."""
        job = self.engine.jobs.get(job.id, job)
        return JobView(job, job.reason, job.detail, None, self.budget_warning(job))

    def view(self, job: JobRecord) -> JobView:
        projection = self.expected_starts([job.id]) if job.id in self.engine.queue else None
        with self._locked():
            return self._view(job, projection)

    def _view(self, job: JobRecord, projection: Projection | None = None) -> JobView:
        live = self.engine.jobs.get(job.id)
        if live is not None:
            job = live
        pending = job.state is JobState.PENDING
        eta = projection.get(job.id) if pending and projection is not None else None
        waiting = self.engine.waiting(job.id) if pending else None
        warning = self.budget_warning(job)
        if waiting is not None:
            return JobView(job, waiting[0], waiting[1], waiting[2], warning, eta)
        if pending:
            return JobView(job, job.reason or "Queued", job.detail or "not yet considered", None, warning, eta)
        return JobView(job, job.reason, job.detail, None)

    def expected_starts(self, include: Sequence[str] = ()) -> Projection:
        """The expected starts of the first pending jobs and ``include``: the engine's last
        projection while it is fresh (``eta_refresh_s``), else a new one, projected outside
        the engine's lock so that no step waits for it."""
        limit, max_age = ETA_JOBS, ETA_REFRESH_S
        with self._projection_lock:
            with self._locked():
                engine = self.engine
                cached = engine.projection
                if (cached is not None and self.clock.now() - cached.at <= max_age
                        and all(j in cached.etas or j not in engine.queue for j in include)):
                    return cached
                inputs = engine.projection_inputs(limit, include)
            projection = project(*inputs, limit=len(inputs[1]))
            projection.limit = limit
            engine.projection = projection
            return projection

    def get_job(self, job_id: str, tenant: str | None = None) -> JobView:
        job = self.engine.jobs.get(job_id) or self.store.get_job(job_id)
        if job is None or (tenant is not None and job.spec.tenant != tenant):
            raise NotFound("job-not-found", f"job {job_id!r} not found")
        return self.view(job)

    def list_jobs(self, *, tenant: str | None, states: Sequence[str], kinds: Sequence[str],
                  after_seq: int | None, limit: int) -> list[JobView]:
        jobs = self.store.list_jobs(tenant=tenant, states=states, kinds=kinds, after_seq=after_seq,
                                    limit=limit)
        queue = self.engine.queue
        waiting = [j.id for j in jobs if j.id in queue]
        projection = self.expected_starts(waiting) if waiting else None
        with self._locked():
            return [self._view(j, projection) for j in jobs]

    def cancel(self, actor: str, job_id: str, tenant: str | None = None) -> JobView:
        self.get_job(job_id, tenant)  # 404 for another tenant's job
        with self._locked():
            if job_id in self.engine.jobs:
                self.engine.cancel(job_id)
                if tenant is None:
                    self.store.audit(actor, "job.cancel", job_id, {})
        self.kick()
        return self.get_job(job_id, tenant)

    def job_env(self, job: JobRecord) -> dict[str, str]:
        """What a starting job's environment gets to report its checkpoints."""
        stamp = job.admitted_at if job.admitted_at is not None else job.submitted_at
        env = {"AICC_JOB_TOKEN": jobtoken.mint(self._job_secret, job.id, stamp)}
        host = self.settings.host if self.settings.host not in ("0.0.0.0", "::") else "127.0.0.1"
        env["AICC_URL"] = self.settings.advertise_url or f"http://{host}:{self.settings.port}"
        return env

    def job_of_credential(self, token: str) -> str | None:
        """The job a job credential is for, if it is good and its attempt still runs."""
        found = jobtoken.read(self._job_secret, token)
        if found is None:
            return None
        job = self.engine.jobs.get(found[0])
        if job is None or not job.state.holds_devices or not jobtoken.same_attempt(job.admitted_at, found[1]):
            return None
        return job.id

    def checkpoint(self, job_id: str, tenant: str | None = None, at: float | None = None) -> float:
        """The job (its credential, or its tenant) reports a checkpoint: the work before it
        survives a preemption, so the scheduler prefers other victims. Returns its time."""
        self.get_job(job_id, tenant)  # 404 for another tenant's job
        with self._locked():
            now = self.clock.now()
            when = now if at is None else min(at, now)
            if not self.engine.checkpoint(job_id, when):
                raise Conflict("job-not-running", f"job {job_id!r} holds no devices: nothing to checkpoint")
        return when

    def stop_requested(self, job_id: str, tenant: str | None = None) -> tuple[bool, float | None, float | None]:
        """Whether the job is being preempted, when it is to be stopped (with a notice), and its
        last checkpoint: a job polls this to checkpoint before SIGTERM."""
        job = self.get_job(job_id, tenant).job
        with self._locked():
            alloc = self.engine.holding.get(job_id)
            return (job.state is JobState.PREEMPTED, self.engine.stop_notice(job_id),
                    alloc.checkpointed_at if alloc is not None else None)

    def job_events(self, job_id: str, tenant: str | None = None) -> list[dict[str, Any]]:
        """Every state change of a job, oldest first (404 for another tenant's job)."""
        self.get_job(job_id, tenant)
        return self.store.job_events(job_id)

    def live_job(self, job_id: str) -> JobRecord | None:
        """The job if the engine holds it (not finished long ago), without the lock."""
        return self.engine.jobs.get(job_id)

    def logs(self, job_id: str, tenant: str | None = None) -> str:
        job = self.get_job(job_id, tenant).job
        can = self._can
        if isinstance(can, OffersLogs):
            return str(can.logs(job_id))
        runtime = job.spec.runtime_env.get("sleep_s") if job.spec.runtime_env else None
        lines = [f"[aicc] job {job.id} ({job.spec.name}) is {job.state.value}",
                 f"[aicc] the sleep executor runs no process: a job sleeps for its runtime"
                 f" ({runtime if runtime is not None else job.spec.estimated_runtime_s or job.spec.max_runtime_s or 60}"
                 " s) and succeeds"]
        if job.placement is not None:
            lines.append(f"[aicc] placed on {', '.join(job.placement.nodes)} ({job.placement.devices}"
                         f" x {job.placement.accelerator})")
        return "\n".join(lines) + "\n"

    # -- tenants and quotas ------------------------------------------------------------

    def tenants(self) -> list[Tenant]:
        with self._locked():
            return [self.engine.tenants[n] for n in sorted(self.engine.tenants)]

    def tenant(self, name: str) -> Tenant:
        t = self.engine.tenants.get(name)
        if t is None:
            raise NotFound("tenant-not-found", f"tenant {name!r} not found")
        return t

    def live_job_counts(self) -> dict[str, dict[str, int]]:
        """Per tenant: live jobs by state."""
        with self._locked():
            out: dict[str, dict[str, int]] = {t: {} for t in self.engine.tenants}
            for j in self.engine.jobs.values():
                if not j.state.terminal:
                    by = out.setdefault(j.spec.tenant, {})
                    by[j.state.value] = by.get(j.state.value, 0) + 1
            return out

    def create_tenant(self, actor: str, tenant: Tenant, *, allow_overcommit: bool = False) -> Tenant:
        with self._locked():
            if tenant.name in self.engine.tenants:
                raise Conflict("tenant-exists", f"tenant {tenant.name!r} exists")
            self._check_caps(tenant.quota)
            self._check_tree({**self.engine.tenants, tenant.name: tenant})
            self._check_capacity({**self.engine.tenants, tenant.name: tenant}, allow_overcommit)
            with self.store.acting_as(actor), self._submit_lock:
                self.engine.put_tenant(tenant)
            self.store.audit(actor, "tenant.create", tenant.name, _quota_detail(tenant))
        self.kick()
        return tenant

    def update_tenant(self, actor: str, change: QuotaChange, *, allow_overcommit: bool = False,
                      action: str = "quota.set") -> Tenant:
        with self._locked():
            tenant = self._changed(self.tenant(change.tenant), change)
            self._check_caps(tenant.quota)
            self._check_tree({**self.engine.tenants, tenant.name: tenant})
            self._check_capacity({**self.engine.tenants, tenant.name: tenant}, allow_overcommit)
            with self.store.acting_as(actor), self._submit_lock:
                self.engine.put_tenant(tenant)
            self.store.audit(actor, action, tenant.name, _quota_detail(tenant))
        self.kick()
        return tenant

    def delete_tenant(self, actor: str, name: str, *, force: bool = False) -> list[str]:
        with self._locked():
            self.tenant(name)
            children = sorted(t.name for t in self.engine.tenants.values() if t.parent == name)
            if children:
                raise Conflict("tenant-has-children", f"tenant {name!r} is the parent of "
                                   f"{', '.join(children)}: move or delete them first")
            try:
                with self.store.acting_as(actor), self._submit_lock:
                    cancelled = self.engine.delete_tenant(name, force=force)
            except Conflict as exc:
                raise Conflict(exc.code, f"{exc}; delete with force to cancel them") from None
            for token_id, info in list(self._tokens.items()):
                if info.tenant == name and info.revoked_at is None:
                    self._tokens[token_id] = replace(info, revoked_at=self.clock.now())
            self.store.audit(actor, "tenant.delete", name, {"force": force, "cancelled": cancelled})
        self.kick()
        return cancelled

    def quota_history(self, name: str) -> list[dict[str, Any]]:
        return self.store.quota_history(name)

    @staticmethod
    def _changed(t: Tenant, c: QuotaChange) -> Tenant:
        q = t.quota
        lending = None if c.clear_lending_limit else (
            c.lending_limit if c.lending_limit is not None else q.lending_limit)
        quota = Quota(c.guaranteed if c.guaranteed is not None else q.guaranteed,  # QuotaError: Invalid
                      c.limit if c.limit is not None else max(q.limit, c.guaranteed or 0),
                      lending, dict(c.caps) if c.caps is not None else dict(q.caps))
        grace = None if c.clear_grace_period else (
            c.grace_period_s if c.grace_period_s is not None else t.grace_period_s)
        parent = None if c.clear_parent else (c.parent if c.parent is not None else t.parent)
        return Tenant(t.name, quota, c.weight if c.weight is not None else t.weight, grace, parent,
                      c.isolation if c.isolation is not None else t.isolation)

    def _check_caps(self, quota: Quota) -> None:
        for accel in quota.caps:
            if accel not in self.config.center.accelerators:
                raise Invalid("invalid-quota", f"caps.{accel}: unknown accelerator type")

    def _check_tree(self, tenants: Mapping[str, Tenant]) -> None:
        """The tree as a whole after a change: parents exist, no cycle, children's guarantees
        fit in their parent's, and a tenant with live jobs does not become a parent."""
        check_tree(tenants)  # TreeError is Invalid: 422 invalid-quota, naming both
        for parent in sorted(parents_of(tenants) - parents_of(self.engine.tenants)):
            live = sum(1 for j in self.engine.jobs.values() if j.spec.tenant == parent and not j.state.terminal)
            if live:
                raise Conflict("tenant-has-jobs", f"tenant {parent!r} has {live} live jobs: a parent "
                                   "holds quota and children, not jobs")

    def _check_capacity(self, tenants: Mapping[str, Tenant], allow_overcommit: bool) -> None:
        total = sold(tenants)
        capacity = self.engine.center.capacity_gflops()
        if total > capacity and not allow_overcommit:
            from scheduler.domain.units import format_compute

            raise Invalid("overcommitted",
                               f"guarantees would sum to {format_compute(total)}, beyond the center's "
                               f"capacity of {format_compute(capacity)} (set allow_overcommit to accept)")

    # -- budgets ------------------------------------------------------------------------

    def budgets(self) -> list[Budget]:
        return [self._budgets[n] for n in sorted(self._budgets)]

    def budget_anchor(self, tenant: str, given: float | None) -> float:
        """When a budget began: as given, else as it was, else now."""
        if given is not None:
            return given
        kept = self._budgets.get(tenant)
        return kept.anchor if kept is not None else self.clock.now()

    def set_budget(self, actor: str, budget: Budget) -> BudgetStatus:
        with self._locked():
            self.tenant(budget.tenant)
            self.store.put_budget(budget)
            self._budgets[budget.tenant] = budget
            self.store.audit(actor, "budget.set", budget.tenant, _budget_detail(budget))
            self._refresh_budgets(force=True)
            found = self._budget_status[budget.tenant]
        self.kick()
        return found

    def delete_budget(self, actor: str, tenant: str) -> None:
        with self._locked():
            if tenant not in self._budgets:
                raise NotFound("budget-not-found", f"tenant {tenant!r} has no budget")
            self.store.delete_budget(tenant)
            del self._budgets[tenant]
            self.store.audit(actor, "budget.delete", tenant, {})
            self._refresh_budgets(force=True)
        self.kick()

    def budget_statuses(self, *, fresh: bool = True) -> dict[str, BudgetStatus]:
        """Where every budget stands (``fresh``: read from the ledger now)."""
        with self._locked():
            if fresh:
                self._refresh_budgets(force=True)
            return dict(self._budget_status)

    def _refresh_budgets(self, force: bool = False) -> None:
        """Read the budgets' spending from the ledger (every few seconds in the loop) and tell
        the engine whose new jobs a spent budget stops."""
        now = time.monotonic()
        if not force and now - self._budgets_checked_at < self.settings.budget_check_interval_s:
            return
        self._budgets_checked_at = now
        tenants = self.engine.tenants
        if not self._budgets:
            self._budget_status = {}
            self.engine.budget_exhausted, self.engine.budget_figures = {}, {}
            return
        gflops = {n: a.gflops for n, a in self.config.center.accelerators.items()}
        self._budget_status = budget_statuses(self._budgets.values(), tenants, self.clock.now(), self.timezone,
                                              lambda lo, hi: self.store.runs(lo, hi, None), gflops)
        self.engine.budget_exhausted = budget_exhausted(self._budget_status, tenants)
        self.engine.budget_figures = {n: (st.available, st.spent) for n, st in self._budget_status.items()}

    def budget_what_if(self, tenant: str, pflops_hours: float) -> tuple[float, float | None, list[Run]]:
        """Had the tenant's budget been ``pflops_hours`` this period: (period start, when it would
        have been spent, the runs of its subtree that began after and would have been held)."""
        with self._locked():
            tenants = self.engine.tenants
            self.tenant(tenant)
            kept = self._budgets.get(tenant)
            budget = Budget(tenant, pflops_hours, kept.period, 0.0, OnExhausted.HOLD, kept.period_s,
                            kept.anchor) if kept is not None else Budget(tenant, pflops_hours)
        now = self.clock.now()
        start, _ = period_bounds(budget, now, self.timezone)
        runs = [r for r in self.store.runs(start, now, None)
                if r.tenant == tenant or tenant in ancestors(tenants, r.tenant)]
        gflops = {n: a.gflops for n, a in self.config.center.accelerators.items()}
        spent_at, held = would_hold(runs, pflops_hours, start, now, gflops)
        return start, spent_at, held

    def budget_warning(self, job: JobRecord) -> str | None:
        """For a job that waits: says so if its estimated cost is more than its tenant's (or an
        ancestor's) budget has left."""
        found = self._budget_status
        if not found or job.state is not JobState.PENDING:
            return None
        spec = job.spec
        accels = self.config.center.accelerators
        types = spec.resources.accelerator_types or tuple(accels)
        per_device = min((accels[t].gflops for t in types if t in accels), default=0)
        cost = estimated_cost(spec.devices, per_device, spec.estimated_runtime_s or spec.max_runtime_s)
        if cost is None:
            return None
        for node in (spec.tenant, *ancestors(self.engine.tenants, spec.tenant)):
            st = found.get(node)
            if st is not None and cost > st.left:
                return (f"estimated cost {cost:.1f} PFLOPS-hours is more than the {max(0.0, st.left):.1f} left "
                        f"of {node}'s budget this period")
        return None

    # -- what-if ------------------------------------------------------------------------

    def what_if(self, changes: Sequence[QuotaChange]) -> WhatIf:
        with self._locked():
            e = self.engine
            proposed = dict(e.tenants)
            for c in changes:
                proposed[c.tenant] = self._changed(self.tenant(c.tenant), c)
                self._check_caps(proposed[c.tenant].quota)
            check_tree(proposed)
            return what_if(e.center, dict(e.tenants), proposed, list(e.holding.values()),
                           list(e.queue), dict(e.history), self.policy, self.clock.now())

    # -- nodes and the center ---------------------------------------------------------

    def center(self) -> Center:
        """The center as the engine sees it now (node states included)."""
        return self.engine.center

    def node(self, name: str) -> Node:
        center = self.engine.center
        if not center.has_node(name):
            raise NotFound("node-not-found", f"node {name!r} not found")
        return center.node(name)

    def node_allocations(self) -> dict[str, int]:
        """Devices held per node."""
        with self._locked():
            out: dict[str, int] = {}
            for a in self.engine.holding.values():
                for w in a.placement.workers:
                    out[w.node] = out.get(w.node, 0) + len(w.devices)
            return out

    def node_jobs(self, name: str) -> list[str]:
        with self._locked():
            return [j.id for j in self.engine.jobs_on_node(name)]

    def set_node_state(self, actor: str, name: str, state: NodeState) -> None:
        with self._locked():
            self.engine.set_node_state(name, state)
            self.store.audit(actor, f"node.{'cordon' if state is NodeState.CORDONED else 'uncordon'}",
                             name, {"state": state.value})
        self.kick()

    def drain(self, actor: str, name: str, *, preempt: bool) -> tuple[list[str], list[str]]:
        """Cordon and, with ``preempt``, stop what runs there. Returns (stopped, still running)."""
        with self._locked():
            if preempt:
                stopped = self.engine.drain(name)
            else:
                self.engine.set_node_state(name, NodeState.CORDONED)
                stopped = []
            left = [j.id for j in self.engine.jobs_on_node(name) if j.id not in stopped]
            self.store.audit(actor, "node.drain", name, {"preempt": preempt, "stopped": stopped})
        self.kick()
        return stopped, left

    # -- usage --------------------------------------------------------------------------

    def usage(self) -> dict[str, dict[str, Any]]:
        """Per tenant: devices and GFLOPS in use, GFLOPS borrowed, by type; live job counts."""
        with self._locked():
            e = self.engine
            gflops = {n: a.gflops for n, a in e.center.accelerators.items()}
            out: dict[str, dict[str, Any]] = {
                t: {"devices": {}, "in_use": 0, "borrowed": 0, "pending": 0, "running": 0}
                for t in sorted(e.tenants)}
            for a in e.holding.values():
                u = out.setdefault(a.spec.tenant, {"devices": {}, "in_use": 0, "borrowed": 0,
                                                   "pending": 0, "running": 0})
                g = gflops[a.placement.accelerator] * a.placement.devices
                u["devices"][a.placement.accelerator] = u["devices"].get(a.placement.accelerator, 0) + a.placement.devices
                u["in_use"] += g
                if e.jobs[a.id].borrowing:
                    u["borrowed"] += g
            for j in e.jobs.values():
                t = out.get(j.spec.tenant)
                if t is None:
                    continue
                if j.state is JobState.PENDING:
                    t["pending"] += 1
                elif j.state in (JobState.ADMITTED, JobState.RUNNING):
                    t["running"] += 1
            return subtree_usage(e.tenants, out)

    def ledger(self, start: float, end: float, tenant: str | None) -> list[LedgerLine]:
        """What was consumed in the window; a parent's ledger is its subtree's (by leaf)."""
        gflops = {n: a.gflops for n, a in self.config.center.accelerators.items()}
        tenants = self.engine.tenants
        if tenant is not None and tenant in parents_of(tenants):
            runs = [r for r in self.store.runs(start, end, None)
                    if r.tenant == tenant or tenant in ancestors(tenants, r.tenant)]
        else:
            runs = self.store.runs(start, end, tenant)
        return ledger(runs, start, end, self.clock.now(), gflops)

    def subtree_totals(self, lines: Sequence[LedgerLine]) -> dict[str, tuple[float, float]]:
        """Per parent with consumption in ``lines``: its subtree's device-hours and PFLOPS-hours."""
        tenants = self.engine.tenants
        out: dict[str, tuple[float, float]] = {}
        for x in lines:
            for a in ancestors(tenants, x.tenant):
                dev, pf = out.get(a, (0.0, 0.0))
                out[a] = (dev + x.device_hours, pf + x.pflops_hours)
        return dict(sorted(out.items()))

    def audit(self, actor: str, action: str, target: str, detail: Mapping[str, Any]) -> None:
        self.store.audit(actor, action, target, detail)

    def audit_log(self, *, after_id: int | None, limit: int, actor: str | None,
                  target: str | None) -> list[dict[str, Any]]:
        return self.store.audit_log(after_id=after_id, limit=limit, actor=actor, target=target)


def _budget_detail(b: Budget) -> dict[str, Any]:
    return {"pflops_hours": b.pflops_hours, "period": b.period.value, "period_s": b.period_s,
            "carryover": b.carryover, "on_exhausted": b.on_exhausted.value}


def _quota_detail(t: Tenant) -> dict[str, Any]:
    q = t.quota
    return {"weight": t.weight, "guaranteed": q.guaranteed, "limit": q.limit,
            "lending_limit": q.lending_limit, "caps": dict(q.caps), "grace_period_s": t.grace_period_s,
            "parent": t.parent}


def subtree_usage(tenants: Mapping[str, Tenant], per_tenant: dict[str, dict[str, Any]]
                  ) -> dict[str, dict[str, Any]]:
    """A parent's usage is its subtree's: each leaf's numbers are added to its ancestors'."""
    inner = parents_of(tenants)
    for leaf in [n for n in sorted(per_tenant) if n in tenants and n not in inner and tenants[n].parent]:
        u = per_tenant[leaf]
        for a in ancestors(tenants, leaf):
            total = per_tenant[a]
            for key in ("in_use", "borrowed", "pending", "running"):
                total[key] += u[key]
            for accel, n in u["devices"].items():
                total["devices"][accel] = total["devices"].get(accel, 0) + n
    return per_tenant
