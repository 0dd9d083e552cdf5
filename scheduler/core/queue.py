"""The pending queue, kept sorted as jobs come and go.

The engine keeps one of these across scheduling steps, so a step over a long
queue does not regroup and re-sort every job: jobs are held per tenant and
priority class in submission order, which is the order the decision walks
them in (aging only moves a prefix of each list up a level).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Iterator

from scheduler.core.model import PendingJob

QueueKey = tuple[str, str]  # tenant, priority class


class PendingQueue:
    def __init__(self, jobs: Iterable[PendingJob] = ()) -> None:
        self._lists: dict[QueueKey, list[PendingJob]] = {}
        #: beside each list, its jobs' shapes and ids: the decision reads them as columns
        self._shapes: dict[QueueKey, list[str]] = {}
        self._ids: dict[QueueKey, list[str]] = {}
        self._keys: dict[str, QueueKey] = {}
        self._seqs: dict[str, int] = {}
        #: per tenant, the devices its queued jobs ask for
        self.devices: dict[str, int] = {}
        for job in jobs:
            self.add(job)

    def add(self, job: PendingJob) -> None:
        if job.id in self._keys:
            raise ValueError(f"job {job.id} is already queued")
        key = (job.spec.tenant, job.spec.priority)
        jobs = self._lists.get(key)
        if jobs is None:
            self._lists[key], self._shapes[key], self._ids[key] = [job], [job.shape], [job.id]
        elif jobs[-1].seq < job.seq:
            jobs.append(job)
            self._shapes[key].append(job.shape)
            self._ids[key].append(job.id)
        else:  # a requeued job keeps its place by submission order
            i = bisect_left(jobs, job.seq, key=_seq)
            jobs.insert(i, job)
            self._shapes[key].insert(i, job.shape)
            self._ids[key].insert(i, job.id)
        self._keys[job.id] = key
        self._seqs[job.id] = job.seq
        tenant = job.spec.tenant
        self.devices[tenant] = self.devices.get(tenant, 0) + job.spec.devices

    def remove(self, job_id: str) -> PendingJob | None:
        key = self._keys.pop(job_id, None)
        if key is None:
            return None
        jobs = self._lists[key]
        i = self._find(jobs, job_id)
        job = jobs.pop(i)
        del self._shapes[key][i], self._ids[key][i]
        del self._seqs[job_id]
        tenant = job.spec.tenant
        left = self.devices[tenant] - job.spec.devices
        if left:
            self.devices[tenant] = left
        else:
            del self.devices[tenant]
        if not jobs:
            del self._lists[key], self._shapes[key], self._ids[key]
        return job

    def get(self, job_id: str) -> PendingJob | None:
        key = self._keys.get(job_id)
        if key is None:
            return None
        jobs = self._lists[key]
        return jobs[self._find(jobs, job_id)]

    def _find(self, jobs: list[PendingJob], job_id: str) -> int:
        seq = self._seqs[job_id]
        i = bisect_left(jobs, seq, key=_seq)
        while jobs[i].id != job_id:  # equal seqs are allowed; they are few
            i += 1
        return i

    def __contains__(self, job_id: object) -> bool:
        return job_id in self._keys

    def __len__(self) -> int:
        return len(self._keys)

    def __iter__(self) -> Iterator[PendingJob]:
        for key in sorted(self._lists):
            yield from self._lists[key]

    def lists(self) -> Iterator[tuple[QueueKey, list[PendingJob], list[str], list[str]]]:
        """Each (tenant, class) list in submission order, in a stable order of keys,
        with its jobs' shapes and ids (read-only)."""
        for key in sorted(self._lists):
            yield key, self._lists[key], self._shapes[key], self._ids[key]


def _seq(job: PendingJob) -> int:
    return job.seq
