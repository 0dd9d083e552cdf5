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

import heapq
import math
import random
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from scheduler.core import Decision
from scheduler.core.projection import project
from scheduler.domain import Center, JobRecord, JobState, NodeState, Tenant, parents_of
from scheduler.domain.budget import Budget
from scheduler.engine import Engine, EventKind, ManualClock
from scheduler.engine.estimates import LearnedEstimator
from scheduler.executors.sleep import SleepExecutor
from scheduler.sim.budgets import SimBudgets
from scheduler.sim.events import Event, EventHeap, Kind
from scheduler.sim.metrics import Recorder
from scheduler.sim.partition import separate_clusters
from scheduler.sim.policies import PolicySpec, make_policy
from scheduler.sim.trace import Trace
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
        self.tick_s = tick_s
        self.rng = random.Random(seed)
        self.failures = failures
        self.progress = progress
        self.durations = {j.id: j.duration_s for j in trace.jobs}
        durations = self.durations
        self.clock = ManualClock(trace.jobs[0].submit_s if trace.jobs else 0.0)
        self.store = LeanStore(tenants)
        #: work done before a preemption or a node loss: with ``resume`` (jobs checkpoint, as
        #: training jobs do) a restarted job runs only what is left, less the ``restart_cost_s``
        #: each restart loses (its start again, the work since its last checkpoint); without
        #: ``resume``, all of it again
        self.done: dict[str, float] = {}
        if restart_cost_s < 0 or not math.isfinite(restart_cost_s):
            raise ValueError(f"restart cost {restart_cost_s}: must be finite and not negative")
        self.restart_cost_s = restart_cost_s if resume else math.inf
        #: with ``checkpoint_every_s``, a job keeps only the work up to its last checkpoint (taken
        #: every so many seconds of progress, after its restart cost) and reports each one to the
        #: engine, as a job does through the API; 0: it keeps all it did (``resume``). With
        #: ``checkpoint_on_notice`` a preempted job checkpoints when asked, before it stops.
        if checkpoint_every_s < 0 or not math.isfinite(checkpoint_every_s):
            raise ValueError(f"checkpoint interval {checkpoint_every_s}: must be finite and not negative")
        self.checkpoint_every_s = checkpoint_every_s
        self.checkpoint_on_notice = checkpoint_on_notice
        self._checkpoints: list[tuple[float, str, float]] = []  # (next checkpoint, job, its start)
        if restart_cost_s and resume and self.spec.policy.restart_cost_s == 0:  # the scheduler knows it
            self.spec = replace(self.spec, policy=replace(self.spec.policy, restart_cost_s=restart_cost_s))
        done = self.done
        self.executor = SleepExecutor(  # (without resume, nothing is ever done)
            self.clock, runtime_of=lambda job: durations[job.id] - done.get(job.id, 0.0),
            stop_delay_s=stop_delay_s)
        parents = parents_of(tenants)  # (they run no jobs: the figures are the leaves')
        self.recorder = Recorder(center, {n: t for n, t in tenants.items() if n not in parents}, durations,
                                 grace_s=grace_s, samples=samples,
                                 span_s=trace.span_s)
        estimator = LearnedEstimator() if self.spec.learned_estimates else None
        self.budgets = SimBudgets(budgets, tenants) if budgets else None
        self.gflops_of = {name: a.gflops for name, a in center.accelerators.items()}
        self.engine = Engine(center, self.store, self.executor, self.clock, self.spec.policy,
                             journal=journal, estimator=estimator, observers=[self.recorder, self])
        self.journal = journal
        p = self.spec.policy
        self._victims_age = p.quotas and (p.reclaim or p.priority_preemption)
        self._classes = len({j.priority for j in trace.jobs[:10_000]}) > 1
        #: the expected start the service would answer at each job's submission: projected at
        #: the first step after it (within a tick), from the first ``eta_limit`` pending jobs and it
        self.eta = eta
        self.eta_limit = eta_limit
        self.eta_grow = eta_grow
        self._eta_new: list[str] = []
        self.eta_seconds = 0.0  # wall time spent projecting
        self.eta_projections = self.eta_cycles = self.eta_queue_max = 0

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
                         self.journal, extra={"eta_wall_s": self.eta_seconds, "eta_projections": self.eta_projections,
                                "eta_cycles": self.eta_cycles, "eta_queue_max": self.eta_queue_max}
                         if self.eta else {},
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
        self._bar = _progress(len(self.trace.jobs), self.progress)
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
            if self.eta:
                self._eta_new.append(job.id)
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
        if self._checkpoints:
            self._report_checkpoints(t)
        if self.budgets is not None:
            self.engine.budget_exhausted = self.budgets.advance(t)
            fresh = self.budgets.next_period(t)
            if fresh is not None and self.engine.queue:
                self.events.wake(fresh)  # held jobs may start when the period turns
        decision = self.engine.step()
        if self._eta_new:
            self._project(decision)
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

    def _report_checkpoints(self, t: float) -> None:
        """Tell the engine of the checkpoints running jobs took up to ``t`` (the last of each)."""
        heap, every, engine = self._checkpoints, self.checkpoint_every_s, self.engine
        first = self.restart_cost_s + every
        while heap and heap[0][0] <= t:
            _, job_id, started = heapq.heappop(heap)
            job = engine.jobs.get(job_id)
            if job is None or job.state is not JobState.RUNNING or job.started_at != started:
                continue  # ended or stopped since
            at = started + first + math.floor((t - started - first) / every) * every
            engine.checkpoint(job_id, at)
            heapq.heappush(heap, (at + every, job_id, started))

    def _project(self, decision: Decision) -> None:
        """Record the expected start of the jobs submitted since the last step.

        The projection's first cycle is the step just taken: a job it admitted, or preempted
        for, is expected now; the others are projected from the state the step left (as the
        projection would go on), which spares a projection wherever all new jobs started."""
        began = time.perf_counter()
        engine, now = self.engine, self.clock.now()
        new = self._eta_new
        self._eta_new = []
        starting = {a.job_id for a in decision.admits} | {p.for_job for p in decision.preempts}
        for job_id in new:
            if job_id in starting:
                self.recorder.predicted(job_id, now)
        new = [j for j in new if j in engine.queue and j not in starting]
        if new:
            projection = project(*engine.projection_inputs(self.eta_limit, new), limit=self.eta_limit + len(new),
                                 only=new, grow=self.eta_grow)
            self.eta_queue_max = max(self.eta_queue_max, len(engine.queue))
            self.eta_cycles += projection.cycles
            self.eta_projections += 1
            for job_id in new:
                self.recorder.predicted(job_id, projection.get(job_id).start)
        self.eta_seconds += time.perf_counter() - began

    # -- EngineObserver: the work a stopped job had done ---------------------------------

    def submitted(self, job: JobRecord) -> None:
        pass

    def stepped(self, decision: Decision, seconds: float, at: float) -> None:
        pass

    def changed(self, before: JobRecord, after: JobRecord) -> None:
        every = self.checkpoint_every_s
        if after.state is JobState.RUNNING and every > 0 and after.started_at is not None:
            heapq.heappush(self._checkpoints, (after.started_at + self.restart_cost_s + every, after.id,
                                               after.started_at))
        if self.budgets is not None:
            took = after.state.holds_devices and not before.state.holds_devices
            if took or (before.state.holds_devices and not after.state.holds_devices):
                placement = after.placement if took else before.placement
                if placement is not None:
                    gflops = placement.devices * self.gflops_of[placement.accelerator]
                    self.budgets.hold(self.clock.now(), after.spec.tenant, gflops if took else -gflops)
        if after.state is JobState.PENDING and before.started_at is not None:
            ran = max(0.0, self.clock.now() - before.started_at)
            done = self.done.get(after.id, 0.0)
            progress = max(0.0, ran - self.restart_cost_s)
            if every > 0 and not (self.checkpoint_on_notice and after.reason != "NodeLost"):
                progress = math.floor(progress / every) * every  # what its last checkpoint kept
            now_done = min(done + progress, self.durations[after.id])
            self.done[after.id] = now_done
            self.recorder.lost_device_s += after.spec.devices * (ran - (now_done - done))

    def repaired(self, repairs: object) -> None:
        pass

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


def _progress(total: int, enabled: bool | Callable[[int], None] | None):  # type: ignore[no-untyped-def]
    """A tqdm bar on stderr for long runs (``None``: only when there are many jobs); a
    callable is told the jobs replayed instead (another process draws the bar)."""
    if callable(enabled):
        return _Reported(enabled)
    return progress_bar(total) if show_progress(total, enabled) else None


def progress_bar(total: int):  # type: ignore[no-untyped-def]
    """A tqdm bar of jobs replayed, on stderr; None without tqdm (the sim extra)."""
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total, unit="job", desc="replay", leave=False, mininterval=0.5)


def show_progress(jobs: int, enabled: bool | None) -> bool:
    return bool(enabled) or (enabled is None and jobs >= 20_000)


class _Reported:
    """A bar's ``update`` and ``close`` that report the jobs replayed to a callable."""

    def __init__(self, report: Callable[[int], None]) -> None:
        self.update = report

    def close(self) -> None:
        pass
