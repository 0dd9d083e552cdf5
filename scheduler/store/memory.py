"""A store in memory: for the simulator and for tests of the engine itself."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from scheduler.domain import JobRecord, NodeState, Tenant
from scheduler.domain.job import FINISHED_STATES
from scheduler.engine.ports import RECENT_FINISHED, StoredState


class MemoryStore:
    def __init__(self, tenants: Mapping[str, Tenant] | None = None) -> None:
        self.tenants: dict[str, Tenant] = dict(tenants or {})
        self.node_states: dict[str, NodeState] = {}
        self.jobs: dict[str, JobRecord] = {}
        self.history: dict[str, float] = {}
        self.history_at: float | None = None

    def load(self) -> StoredState:
        live = [j for j in self.jobs.values() if not j.state.terminal]
        live.sort(key=lambda j: j.seq)
        next_seq = max((j.seq for j in self.jobs.values()), default=0) + 1
        finished = sorted((j for j in self.jobs.values()
                           if j.state in FINISHED_STATES and j.finished_at is not None), key=_finish_order)
        return StoredState(dict(self.tenants), dict(self.node_states), live, next_seq,
                           dict(self.history), self.history_at, finished[-RECENT_FINISHED:])

    def add_job(self, job: JobRecord) -> None:
        self.jobs[job.id] = job

    def update_jobs(self, jobs: Sequence[JobRecord]) -> None:
        for job in jobs:
            self.jobs[job.id] = job

    def put_tenant(self, tenant: Tenant) -> None:
        self.tenants[tenant.name] = tenant

    def delete_tenant(self, name: str) -> None:
        self.tenants.pop(name, None)

    def set_node_state(self, name: str, state: NodeState) -> None:
        self.node_states[name] = state

    def save_usage_history(self, history: Mapping[str, float], at: float) -> None:
        self.history = dict(history)
        self.history_at = at


def _finish_order(job: JobRecord) -> tuple[float, int]:
    return job.finished_at or 0.0, job.seq
