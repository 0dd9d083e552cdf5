"""The work a replayed job keeps across preemptions and node losses, and its checkpoints.

``WorkLedger`` is an ``EngineObserver``: when a running job goes back to the queue
it books what the job had done (all of it with ``resume``, less the restart cost;
only up to its last checkpoint with ``checkpoint_every_s``) and the device time
lost; the executor then runs only what is left. It also reports each running
job's periodic checkpoints to the engine, as a job does through the API.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Mapping

from scheduler.core import Decision
from scheduler.domain import JobRecord, JobState
from scheduler.engine import Engine
from scheduler.sim.metrics import Recorder


class WorkLedger:
    """Per job, the work done before its last stop; the checkpoints due."""

    def __init__(self, durations: Mapping[str, float], recorder: Recorder, now: Callable[[], float], *, resume: bool,
                 restart_cost_s: float, checkpoint_every_s: float, checkpoint_on_notice: bool) -> None:
        if restart_cost_s < 0 or not math.isfinite(restart_cost_s):
            raise ValueError(f"restart cost {restart_cost_s}: must be finite and not negative")
        if checkpoint_every_s < 0 or not math.isfinite(checkpoint_every_s):
            raise ValueError(f"checkpoint interval {checkpoint_every_s}: must be finite and not negative")
        self.durations = durations
        self.recorder = recorder
        self.now = now  # the replay's clock
        #: work done before a preemption or a node loss: with ``resume`` (jobs checkpoint, as
        #: training jobs do) a restarted job runs only what is left, less the ``restart_cost_s``
        #: each restart loses (its start again, the work since its last checkpoint); without
        #: ``resume``, all of it again
        self.done: dict[str, float] = {}
        self.restart_cost_s = restart_cost_s if resume else math.inf
        #: with ``checkpoint_every_s``, a job keeps only the work up to its last checkpoint (taken
        #: every so many seconds of progress, after its restart cost) and reports each one to the
        #: engine; 0: it keeps all it did (``resume``). With ``checkpoint_on_notice`` a preempted
        #: job checkpoints when asked, before it stops.
        self.checkpoint_every_s = checkpoint_every_s
        self.checkpoint_on_notice = checkpoint_on_notice
        self.checkpoints: list[tuple[float, str, float]] = []  # (next checkpoint, job, its start)

    def left(self, job: JobRecord) -> float:
        """What the job has left to run (without resume, nothing is ever done)."""
        return self.durations[job.id] - self.done.get(job.id, 0.0)

    def report_checkpoints(self, engine: Engine, t: float) -> None:
        """Tell the engine of the checkpoints running jobs took up to ``t`` (the last of each)."""
        heap, every = self.checkpoints, self.checkpoint_every_s
        first = self.restart_cost_s + every
        while heap and heap[0][0] <= t:
            _, job_id, started = heapq.heappop(heap)
            job = engine.jobs.get(job_id)
            if job is None or job.state is not JobState.RUNNING or job.started_at != started:
                continue  # ended or stopped since
            at = started + first + math.floor((t - started - first) / every) * every
            engine.checkpoint(job_id, at)
            heapq.heappush(heap, (at + every, job_id, started))

    # -- EngineObserver ----------------------------------------------------------------

    def submitted(self, job: JobRecord) -> None:
        pass

    def stepped(self, decision: Decision, seconds: float, at: float) -> None:
        pass

    def changed(self, before: JobRecord, after: JobRecord) -> None:
        every = self.checkpoint_every_s
        if after.state is JobState.RUNNING and every > 0 and after.started_at is not None:
            heapq.heappush(self.checkpoints, (after.started_at + self.restart_cost_s + every, after.id,
                                              after.started_at))
        if after.state is JobState.PENDING and before.started_at is not None:
            ran = max(0.0, self.now() - before.started_at)
            done = self.done.get(after.id, 0.0)
            progress = max(0.0, ran - self.restart_cost_s)
            if every > 0 and not (self.checkpoint_on_notice and after.reason != "NodeLost"):
                progress = math.floor(progress / every) * every  # what its last checkpoint kept
            now_done = min(done + progress, self.durations[after.id])
            self.done[after.id] = now_done
            self.recorder.lost_device_s += after.spec.devices * (ran - (now_done - done))

    def repaired(self, repairs: object) -> None:
        pass
