"""The engine's read side: why a job waits, expected starts, usage, live jobs.

Nothing here changes a decision; ``EngineReads`` is one of the ``Engine``'s parts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from scheduler.core import PendingJob, Policy, Snapshot
from scheduler.core.projection import Projection, first_pending, project
from scheduler.domain import JobRecord
from scheduler.engine.bookkeeping import JobBook


class EngineReads(JobBook):
    """Queries over the engine's picture, for the API, the metrics and the CLI."""

    def waiting(self, job_id: str) -> tuple[str, str, int] | None:
        """(reason, detail, position in its tenant's queue) from the last step."""
        if self._waiting is None:
            self._waiting = {}
            if self.last_decision is not None:
                for p in self.last_decision.pending:
                    self._waiting[p.job_id] = (p.reason.value, p.detail, p.position)
        return self._waiting.get(job_id)

    def projection_inputs(self, limit: int = 1000, include: Iterable[str] = ()
                          ) -> tuple[Snapshot, list[PendingJob], Policy, float]:
        """What ``project`` needs, copied (cheap: the running jobs and the first ``limit``
        pending ones), so that the projection itself runs without the engine's lock.

        The snapshot carries the projections' own memo (one projection at a time may use
        it: the caller serializes them), brought up to date with the changes since the last."""
        changes, self._projected_changes = self._projected_changes, {}
        snapshot = Snapshot(self.center, dict(self.tenants), tuple(self.holding.values()), dict(self.history),
                            memo=self._projection_memo, running_changes=changes)
        return snapshot, first_pending(self.queue, limit, include), self.policy, self.clock.now()

    def expected_starts(self, *, max_age_s: float = 5.0, limit: int = 1000,
                        include: Iterable[str] = ()) -> Projection:
        """The expected starts of the first ``limit`` pending jobs (and ``include``): the last
        projection while younger than ``max_age_s`` and it has them, else a fresh one."""
        wanted = list(include)
        cached = self.projection
        now = self.clock.now()
        if (cached is not None and now - cached.at <= max_age_s
                and all(j in cached.etas or j not in self.queue for j in wanted)):
            return cached
        snapshot, jobs, policy, now = self.projection_inputs(limit, wanted)
        self.projection = project(snapshot, jobs, policy, now, limit=len(jobs))
        self.projection.limit = limit
        return self.projection

    def usage(self) -> dict[str, dict[str, int]]:
        """Per tenant: devices held by accelerator type (terminating jobs included)."""
        out: dict[str, dict[str, int]] = {t: {} for t in sorted(self.tenants)}
        for a in self.holding.values():
            by_type = out.setdefault(a.spec.tenant, {})
            by_type[a.placement.accelerator] = by_type.get(a.placement.accelerator, 0) + a.placement.devices
        return out

    def live_jobs(self) -> Sequence[JobRecord]:
        return sorted(self.jobs.values(), key=lambda j: j.seq)

    def tenant_usage_gflops(self) -> Mapping[str, int]:
        gflops = {name: a.gflops for name, a in self.center.accelerators.items()}
        out = dict.fromkeys(self.tenants, 0)
        for a in self.holding.values():
            out[a.spec.tenant] = out.get(a.spec.tenant, 0) + gflops[a.placement.accelerator] * a.placement.devices
        return out
