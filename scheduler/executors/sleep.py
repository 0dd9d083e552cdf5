"""An executor that runs nothing: a job "runs" for its runtime, then succeeds.

Driven by a clock, so the same class serves demos and benchmarks of the live
service (system clock) and the simulator (a manual clock it advances to
``next_event_at``). A job's runtime is what ``runtime_of`` says: by default
``runtime_env["sleep_s"]``, else the estimate, else the max runtime, else 60 s.
A job that ended is remembered (for ``known`` and an idempotent ``start``) until
``KEEP_ENDED`` later attempts have ended, not for ever: a demo center runs for months.
"""

from __future__ import annotations

import heapq
import threading
from collections import deque
from collections.abc import Callable, Mapping, Sequence

from scheduler.domain import JobRecord
from scheduler.engine.clock import Clock
from scheduler.engine.ports import EventKind, ExecutorEvent

DEFAULT_RUNTIME_S = 60.0
KEEP_ENDED = 10_000


def spec_runtime(job: JobRecord) -> float:
    spec = job.spec
    sleep = spec.runtime_env.get("sleep_s") if spec.runtime_env else None
    if isinstance(sleep, int | float):
        return float(sleep)
    return spec.estimated_runtime_s or spec.max_runtime_s or DEFAULT_RUNTIME_S


class SleepExecutor:
    def __init__(self, clock: Clock, runtime_of: Callable[[JobRecord], float] = spec_runtime,
                 *, start_delay_s: float = 0.0, stop_delay_s: float = 0.0,
                 outlives_service: bool = False) -> None:
        self.clock = clock
        #: the jobs "run" on a cluster that outlives the service, as Ray jobs do: a new
        #: leader (``adopt``) finds the ones its store says run, ending when they would have
        self.outlives_service = outlives_service
        self.runtime_of = runtime_of
        self.start_delay_s = start_delay_s
        self.stop_delay_s = stop_delay_s
        self._events: list[tuple[float, int, ExecutorEvent, int]] = []
        self._seq = 0
        self._state: dict[str, EventKind] = {}
        #: the job's current attempt, unique to it: a requeued job runs again under the same
        #: id, and the events of its earlier attempts (or of a forgotten job) are stale
        self._attempt: dict[str, int] = {}
        self._ended: deque[tuple[str, int]] = deque()  # (job, attempt) in the order attempts ended
        self._lock = threading.Lock()

    def _push(self, at: float, job_id: str, kind: EventKind, detail: str = "") -> None:
        self._seq += 1
        heapq.heappush(self._events, (at, self._seq, ExecutorEvent(job_id, kind, at, detail), self._attempt[job_id]))

    def start(self, job: JobRecord, grace_s: float = 0.0) -> None:
        job_id = job.id
        with self._lock:
            state = self._state.get(job_id)
            if state is EventKind.STARTED or state is EventKind.SUCCEEDED:
                return
            self._seq += 1
            self._attempt[job_id] = self._seq
            started = self.clock.now() + self.start_delay_s
            self._state[job_id] = EventKind.STARTED
            self._push(started, job_id, EventKind.STARTED)
            self._push(started + max(0.0, self.runtime_of(job)), job_id, EventKind.SUCCEEDED)

    def adopt(self, jobs: Sequence[JobRecord]) -> None:
        """After a takeover (``outlives_service``): the running jobs the store knows go on
        running here, to the end their runtime gives from when they started. A job only
        admitted is not adopted: reconcile starts it (the Ray executor, by its submission id,
        would not start it twice either)."""
        if not self.outlives_service:
            return
        with self._lock:
            for job in jobs:
                if job.id in self._state or job.started_at is None or not job.state.holds_devices:
                    continue
                self._seq += 1
                self._attempt[job.id] = self._seq
                self._state[job.id] = EventKind.STARTED
                self._push(job.started_at + max(0.0, self.runtime_of(job)), job.id, EventKind.SUCCEEDED)

    def stop(self, job_id: str, grace_s: float) -> None:
        with self._lock:
            if self._state.get(job_id) is not EventKind.STARTED:
                return
            self._state[job_id] = EventKind.STOPPED
            self._push(self.clock.now() + self.stop_delay_s, job_id, EventKind.STOPPED)

    def lose(self, job_id: str, detail: str = "node lost") -> None:
        """Test hook: the job's node went away."""
        with self._lock:
            if self._state.get(job_id) is EventKind.STARTED:
                self._state[job_id] = EventKind.LOST
                self._push(self.clock.now(), job_id, EventKind.LOST, detail)

    def next_event_at(self) -> float | None:
        with self._lock:
            while self._events and self._stale(self._events[0][2], self._events[0][3]):
                heapq.heappop(self._events)
            return self._events[0][0] if self._events else None

    def _stale(self, event: ExecutorEvent, attempt: int) -> bool:
        if attempt != self._attempt.get(event.job_id):
            return True
        state = self._state.get(event.job_id)
        if event.kind is EventKind.SUCCEEDED:
            return state is not EventKind.STARTED  # stopped or lost before it finished
        return False

    def poll(self) -> Sequence[ExecutorEvent]:
        now = self.clock.now()
        out = []
        with self._lock:
            while self._events and self._events[0][0] <= now:
                _, _, event, attempt = heapq.heappop(self._events)
                if self._stale(event, attempt):
                    continue
                if event.kind is not EventKind.STARTED:
                    self._state[event.job_id] = event.kind
                    self._ended.append((event.job_id, attempt))
                out.append(event)
            while len(self._ended) > KEEP_ENDED:
                job_id, attempt = self._ended.popleft()
                if self._attempt.get(job_id) == attempt:  # not started again since (nothing is due)
                    del self._state[job_id], self._attempt[job_id]
        return out

    def known(self) -> Mapping[str, EventKind]:
        with self._lock:
            return dict(self._state)
