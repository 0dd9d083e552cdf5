"""Runtime estimates learned from each tenant's finished jobs (no oracle).

Users submit jobs in runs of similar work (sweeps, retries), so the best
guess for a job's runtime is what the tenant's recent jobs of the same gang
size took: the median of the last ``window`` of them; with fewer than
``min_samples``, the tenant's recent jobs of any size; failing that, every
tenant's. It plugs into the engine's ``RuntimeEstimator`` hook: ``estimate``
at submission, ``observe`` when a job finishes. The service and the simulator
use it wherever the policy orders shortest first (``estimator_for``); it learns
from the jobs that finish while it runs and, on start, from the store's most
recently finished ones, so that a restart does not forget what was learned.
"""

from __future__ import annotations

from collections import deque
from statistics import median

from scheduler.core import Policy
from scheduler.domain import JobRecord, JobSpec


class LearnedEstimator:
    def __init__(self, window: int = 8, min_samples: int = 2, default_s: float | None = 3600.0) -> None:
        self.window = window
        self.min_samples = min_samples
        self.default_s = default_s
        self._by_shape: dict[tuple[str, int], deque[float]] = {}
        self._by_tenant: dict[str, deque[float]] = {}
        self._all: deque[float] = deque(maxlen=window * 4)
        #: the median of each run list above, by its key (None: all), until it changes:
        #: jobs are estimated more often than jobs finish
        self._medians: dict[tuple[str, int] | str | None, float] = {}

    def estimate(self, spec: JobSpec) -> float | None:
        shape = (spec.tenant, spec.devices)
        for key, runs in ((shape, self._by_shape.get(shape)), (spec.tenant, self._by_tenant.get(spec.tenant)),
                          (None, self._all)):
            if runs is not None and len(runs) >= self.min_samples:
                value = self._medians.get(key)
                if value is None:
                    value = self._medians[key] = float(median(runs))
                return value
        return self.default_s

    def observe(self, job: JobRecord) -> None:
        if job.started_at is None or job.finished_at is None:
            return
        ran = job.finished_at - job.started_at
        spec = job.spec
        key = (spec.tenant, spec.devices)
        shape = self._by_shape.get(key)
        if shape is None:
            shape = self._by_shape[key] = deque(maxlen=self.window)
        shape.append(ran)
        tenant = self._by_tenant.get(spec.tenant)
        if tenant is None:
            tenant = self._by_tenant[spec.tenant] = deque(maxlen=self.window)
        tenant.append(ran)
        self._all.append(ran)
        for changed in (key, spec.tenant, None):
            self._medians.pop(changed, None)


def estimator_for(policy: Policy) -> LearnedEstimator | None:
    """Shortest-first needs runtimes: learned ones, where the policy orders by them."""
    return LearnedEstimator() if policy.shortest_first else None
