"""Discrete-event replay of a trace through the live engine and core.

The same ``Engine`` the service runs, with a ``ManualClock``, a store in
memory and the ``SleepExecutor``, whose ``runtime_of`` is the trace's true
duration (only the executor knows it). Events are taken in (time, sequence)
order: arrivals, executor events (starts, finishes, stops), node failures and
repairs, and wake-ups. All events at one timestamp are applied first; the
engine then steps, only if something changed while jobs wait; a step that
admitted or preempted is followed by one more (a step is not a fixpoint: jobs
admitted in a cycle count differently from those already running), as the
live loop's next tick would.
Wake-ups cover what changes with time alone: a running job becomes a possible
preemption victim ``min_runtime_s`` after it started (a step then, if a tenant
below its guarantee waits), and a backfill reservation's start passing (a job
that ran past its estimate no longer holds it).

With ``tick_s`` the engine steps at most once per tick (at tick boundaries),
like a live loop with that period; 0 steps at every event time.
"""

from __future__ import annotations

import math
import random
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from scheduler.core import Decision
from scheduler.domain import Center, JobRecord, JobState, NodeState, Tenant, parents_of
from scheduler.domain.budget import Budget
from scheduler.engine import Engine, EngineObserver, EventKind, ManualClock
from scheduler.engine.estimates import LearnedEstimator
from scheduler.executors.sleep import SleepExecutor
from scheduler.sim.budget_meter import BudgetMeter
from scheduler.sim.budgets import SimBudgets
from scheduler.sim.eta import EtaTracker
from scheduler.sim.events import Event, EventHeap, Kind
from scheduler.sim.metrics import Recorder
from scheduler.sim.partition import separate_clusters
from scheduler.sim.policies import PolicySpec, make_policy
from scheduler.sim.progress import replay_progress
from scheduler.sim.trace import Trace
from scheduler.sim.work import WorkLedger
from scheduler.store.memory import MemoryStore


class LeanStore(MemoryStore):
    """A memory store that forgets finished jobs: a million-job replay keeps only live ones.

    The recorder keeps what the reports need of each job.
    """

    def add_job(self, job: JobRecord) -> None:
        self.jobs[job.id] = job

    def update_jobs(self, jobs: Sequence[JobRecord]) -> None:
        for job in jobs:
            if job.state.terminal:
                self.jobs.pop(job.id, None)
            else:
                self.jobs[job.id] = job


@dataclass
class Failures:
    """Seeded node failures: each node fails after an exponential time, is down ``repair_s``."""

    mtbf_s: float
    repair_s: float = 3600.0


@dataclass
class SimResult:
    policy: PolicySpec
    recorder: Recorder
    wall_s: float
    steps: int
    journal: list[str] | None = None
    extra: dict[str, float] = field(default_factory=dict)
    #: False when ``run(max_wall_s=...)`` stopped early; ``done`` is the share of jobs submitted
    complete: bool = True
    done: float = 1.0
    #: per budget (``--budget``): periods, periods it ran out in, PFLOPS-hours spent
    budgets: dict[str, dict[str, float]] = field(default_factory=dict)


class Simulation:
    """One replay of a trace under one policy; ``run`` gives its ``SimResult``."""

    spec: PolicySpec
    trace: Trace

    def __init__(
        self,
        trace: Trace,
        policy: PolicySpec | str = "aicc",
        *,
        center: Center | None = None,
        tenants: Mapping[str, Tenant] | None = None,
        seed: int = 0,
        journal: list[str] | None = None,
        tick_s: float = 0.0,
        stop_delay_s: float = 30.0,
        failures: Failures | None = None,
        grace_s: float = 120.0,
        resume: bool = True,
        restart_cost_s: float = 0.0,
        progress: bool | Callable[[int], None] | None = None,
        samples: int = 2000,
        checkpoint_every_s: float = 0.0,
        checkpoint_on_notice: bool = False,
        eta: bool = True,
        eta_limit: int = 1000,
        eta_grow: float = 0.25,
        budgets: Sequence[Budget] = (),
    ) -> None:
        center, tenants = self._world(trace, policy, center, tenants)
        self.tick_s = tick_s
        self.rng = random.Random(seed)
        self.failures = failures
        self.progress = progress
        self.durations = {j.id: j.duration_s for j in self.trace.jobs}
        self.clock = ManualClock(self.trace.jobs[0].submit_s if self.trace.jobs else 0.0)
        self.store = LeanStore(tenants)
        parents = parents_of(tenants)  # (they run no jobs: the figures are the leaves')
        self.recorder = Recorder(center, {n: t for n, t in tenants.items() if n not in parents}, self.durations,
                                 grace_s=grace_s, samples=samples, span_s=self.trace.span_s)
        self.work = WorkLedger(self.durations, self.recorder, self.clock.now, resume=resume,
                               restart_cost_s=restart_cost_s, checkpoint_every_s=checkpoint_every_s,
                               checkpoint_on_notice=checkpoint_on_notice)
        if restart_cost_s and resume and self.spec.policy.restart_cost_s == 0:  # the scheduler knows it
            self.spec = replace(self.spec, policy=replace(self.spec.policy, restart_cost_s=restart_cost_s))
        self.executor = SleepExecutor(self.clock, runtime_of=self.work.left, stop_delay_s=stop_delay_s)
        self.budgets = SimBudgets(budgets, tenants) if budgets else None
        observers: list[EngineObserver] = [self.recorder, self.work]
        if self.budgets is not None:
            gflops_of = {name: a.gflops for name, a in center.accelerators.items()}
            observers.append(BudgetMeter(self.budgets, gflops_of, self.clock.now))
        estimator = LearnedEstimator() if self.spec.learned_estimates else None
        self.engine = Engine(center, self.store, self.executor, self.clock, self.spec.policy,
                             journal=journal, estimator=estimator, observers=observers)
        self.journal = journal
        p = self.spec.policy
        self._victims_age = p.quotas and (p.reclaim or p.priority_preemption)
        self._classes = len({j.priority for j in self.trace.jobs[:10_000]}) > 1
        #: the expected start the service would answer at each job's submission
        self.eta = EtaTracker(self.recorder, limit=eta_limit, grow=eta_grow) if eta else None

    def _world(self, trace: Trace, policy: PolicySpec | str, center: Center | None,
               tenants: Mapping[str, Tenant] | None) -> tuple[Center, dict[str, Tenant]]:
        """The policy, and the center, tenants and trace it replays (split by cluster if it says so)."""
        center = center or trace.center
        if center is None:
            raise ValueError(f"trace {trace.name} names no center: pass one")
        tenants = dict(tenants if tenants is not None else trace.tenants)
        if not tenants:
            raise ValueError(f"trace {trace.name} names no tenants: pass them")
        self.spec = make_policy(policy, trace.base_policy) if isinstance(policy, str) else policy
        if self.spec.separate:
            center, tenants, jobs = separate_clusters(center, tenants, trace.jobs)
            trace = replace(trace, jobs=jobs, center=center, tenants=tenants)
        self.trace = trace
        return center, tenants

    @property
    def eta_seconds(self) -> float:
        """Wall time spent projecting expected starts."""
        return self.eta.seconds if self.eta is not None else 0.0

    def run(self, on_step: Callable[[Decision], None] | None = None, *,
            max_wall_s: float | None = None) -> SimResult:
        """Replay to the end; with ``max_wall_s``, stop after that much wall time (a partial result)."""
        began = time.perf_counter()
        deadline = began + max_wall_s if max_wall_s is not None else math.inf
        self._start_events()
        complete = True
        while self._next_batch():
            if not self._take_batch():
                continue
            if deadline < math.inf and time.perf_counter() > deadline:
                complete = False
                break
            self._step(on_step)
        n = len(self.trace.jobs)
        if self._bar is not None:
            self._bar.update(n - self._reported)
            self._bar.close()
        self.recorder.advance_to(self.clock.now())
        return SimResult(self.spec, self.recorder, time.perf_counter() - began, self.engine.steps,
                         self.journal, extra=self.eta.figures() if self.eta is not None else {},
                         complete=complete, done=self._next_job / n if n else 1.0,
                         budgets=self.budgets.report if self.budgets is not None else {})

    # -- the event loop -------------------------------------------------------------------

    def _start_events(self) -> None:
        self.events = EventHeap()
        self._next_job = 0  # the trace's next job to submit
        self._node_seq = 0
        if self.failures is not None:
            for node in self.engine.center.nodes:
                self._node_seq += 1
                self.events.push(Event(self.clock.now() + self.rng.expovariate(1 / self.failures.mtbf_s),
                                       Kind.NODE, self._node_seq, node.name, False))
        if self.trace.jobs:
            self.events.push(Event(self.trace.jobs[0].submit_s, Kind.ARRIVAL, 0))
        self._restep = False  # the last step admitted or preempted
        self._last_step = -math.inf
        self._step_due: float | None = None  # with a tick: when the next step is due
        self._admitted_at: deque[float] = deque()  # times of steps that admitted jobs
        self._bar = replay_progress(len(self.trace.jobs), self.progress)
        self._reported = 0  # jobs told to the bar
        self._handlers: dict[Kind, Callable[[Event], bool]] = {
            Kind.NODE: self._on_node, Kind.ARRIVAL: self._on_arrival, Kind.EXECUTOR: self._on_executor,
            Kind.WAKE: self._on_wake, Kind.TICK: self._on_tick, Kind.RESTEP: self._on_restep,
        }

    def _next_batch(self) -> bool:
        """Move the clock to the next event's time; False when the replay is over."""
        nxt = self.executor.next_event_at()
        self.events.executor_at(nxt)
        t = self.events.next_at()
        if t is None:
            return False
        if self._next_job >= len(self.trace.jobs) and not self.engine.queue and nxt is None:
            return False  # only failures or wake-ups left, and nothing to run
        self.clock.advance_to(t)
        self.recorder.advance_to(t)
        self._due = nxt is not None and nxt <= t  # an executor event to poll
        self._polled = False
        return True

    def _take_batch(self) -> bool:
        """Handle every event at the clock's time; True if the engine should step now."""
        t = self.clock.now()
        changed = self._step_now = False
        while (event := self.events.pop_until(t)) is not None:
            changed = self._handlers[event.kind](event) or changed
        if self._restep:  # the last step admitted or preempted: step once more, as a live loop would
            changed = True
            self._restep = False
        tick = self.tick_s
        if tick > 0:
            if changed and self._step_due is None:
                due = math.ceil(t / tick) * tick
                if due <= self._last_step:
                    due += tick
                self._step_due = due
                if due > t:
                    self.events.push(Event(due, Kind.TICK, 0))
                else:
                    self._step_now = True
            if not self._step_now:
                return False
            self._step_due = None
            changed = True
        return changed and bool(self.engine.queue)

    def _on_node(self, event: Event) -> bool:
        self._node_event(event.node, event.up, self._node_seq)
        self._node_seq += 1
        self._due = True  # a node lost may stop jobs now: the executor is polled at this time
        self.events.push(Event(event.at, Kind.EXECUTOR, 0, up=True))
        return True

    def _on_arrival(self, event: Event) -> bool:
        jobs, oracle, i = self.trace.jobs, self.spec.oracle, self._next_job
        t = event.at
        while i < len(jobs) and jobs[i].submit_s <= t:
            job = jobs[i]
            self.engine.submit(job.spec(oracle=oracle), job.id)
            if self.eta is not None:
                self.eta.new.append(job.id)
            i += 1
        self._next_job = i
        if i < len(jobs):
            self.events.push(Event(jobs[i].submit_s, Kind.ARRIVAL, 0))
        if self._bar is not None and i - self._reported >= 1000:
            self._bar.update(i - self._reported)
            self._reported = i
        return True

    def _on_executor(self, event: Event) -> bool:
        if self._polled or not self._due:
            return False
        self._polled = True
        events = self.executor.poll()
        if not events:
            return False
        self.engine.handle(events)
        return any(e.kind is not EventKind.STARTED for e in events)

    def _on_wake(self, event: Event) -> bool:
        return True

    def _on_tick(self, event: Event) -> bool:
        self._step_now = True
        return False

    def _on_restep(self, event: Event) -> bool:
        return False

    def _step(self, on_step: Callable[[Decision], None] | None) -> None:
        """Step the engine, and wake up when what it decided changes with time alone."""
        t = self.clock.now()
        if self.work.checkpoints:
            self.work.report_checkpoints(self.engine, t)
        if self.budgets is not None:
            self.engine.budget_exhausted = self.budgets.advance(t)
            fresh = self.budgets.next_period(t)
            if fresh is not None and self.engine.queue:
                self.events.wake(fresh)  # held jobs may start when the period turns
        decision = self.engine.step()
        if self.eta is not None and self.eta.new:
            self.eta.project(self.engine, decision, t)
        self._last_step = t
        self._restep = bool(decision.admits or decision.preempts)
        if self._restep and self.tick_s == 0:
            self.events.push(Event(t, Kind.RESTEP, 0))
        if on_step is not None:
            on_step(decision)
        for r in decision.reservations:  # backfill's picture changes when a reserved start passes
            if r.start > t:
                self.events.wake(r.start)
        if self._victims_age and self.engine.queue:
            admitted_at, min_runtime = self._admitted_at, self.spec.policy.min_runtime_s
            if decision.admits:
                admitted_at.append(t)
            while admitted_at and admitted_at[0] + min_runtime <= t:
                admitted_at.popleft()
            if admitted_at and self._wants_victims():
                self.events.wake(admitted_at[0] + min_runtime)

    def _wants_victims(self) -> bool:
        """Could a waiting job preempt once young jobs age: a tenant below its guarantee waits."""
        if self._classes:
            return True
        return any(ts.pending_jobs and ts.held_gflops < ts.guaranteed_gflops
                   for ts in self.recorder.tenants.values())

    def _node_event(self, name: str, up: bool, seq: int) -> None:
        engine, failures = self.engine, self.failures
        assert failures is not None
        now = self.clock.now()
        if up:
            engine.set_node_state(name, NodeState.READY)
            self.recorder.node_state(name, True)
            self.events.push(Event(now + self.rng.expovariate(1 / failures.mtbf_s), Kind.NODE, seq, name, False))
        else:
            engine.set_node_state(name, NodeState.DOWN)
            self.recorder.node_state(name, False)
            for job in sorted(engine.jobs_on_node(name), key=lambda j: j.seq):
                if job.state in (JobState.ADMITTED, JobState.RUNNING, JobState.PREEMPTED):
                    self.executor.lose(job.id, f"node {name} failed")
            self.events.push(Event(now + failures.repair_s, Kind.NODE, seq, name, True))
