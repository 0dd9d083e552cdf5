"""The expected start the service would answer at each job's submission, in a replay.

Projected at the first step after the submission (within a tick), from the first
``limit`` pending jobs and the new ones; scored later against the real start.
"""

from __future__ import annotations

import time

from scheduler.core import Decision
from scheduler.core.projection import project
from scheduler.engine import Engine
from scheduler.sim.metrics import Recorder


class EtaTracker:
    """The jobs submitted since the last step, and what projecting their starts cost."""

    def __init__(self, recorder: Recorder, *, limit: int = 1000, grow: float = 0.25) -> None:
        self.recorder = recorder
        self.limit = limit
        self.grow = grow
        self.new: list[str] = []
        self.seconds = 0.0  # wall time spent projecting
        self.projections = self.cycles = self.queue_max = 0

    def figures(self) -> dict[str, float]:
        return {"eta_wall_s": self.seconds, "eta_projections": self.projections,
                "eta_cycles": self.cycles, "eta_queue_max": self.queue_max}

    def project(self, engine: Engine, decision: Decision, now: float) -> None:
        """Record the expected start of the jobs submitted since the last step.

        The projection's first cycle is the step just taken: a job it admitted, or preempted
        for, is expected now; the others are projected from the state the step left (as the
        projection would go on), which spares a projection wherever all new jobs started."""
        began = time.perf_counter()
        new = self.new
        self.new = []
        starting = {a.job_id for a in decision.admits} | {p.for_job for p in decision.preempts}
        for job_id in new:
            if job_id in starting:
                self.recorder.predicted(job_id, now)
        new = [j for j in new if j in engine.queue and j not in starting]
        if new:
            projection = project(*engine.projection_inputs(self.limit, new), limit=self.limit + len(new),
                                 only=new, grow=self.grow)
            self.queue_max = max(self.queue_max, len(engine.queue))
            self.cycles += projection.cycles
            self.projections += 1
            for job_id in new:
                self.recorder.predicted(job_id, projection.get(job_id).start)
        self.seconds += time.perf_counter() - began
