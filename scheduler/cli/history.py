"""The center's finished jobs as a trace that ``aicc simulate`` replays.

Replaying one's own history under a proposed quota or policy shows what the
change would have done: ``aicc job export --since 30d > month.csv``, then
``aicc simulate --trace month.csv --center center.yaml --policy center --quota vision=40P``.
A job's ``duration_s`` is the time it actually ran, over all its attempts (the
simulator resumes a preempted job where it stopped, as checkpointing jobs do),
and ``queue_s`` the rest of its time from submission to end: what the replay's
``avg_queue_s`` is to be compared with (it includes the executor's start latency,
seconds on Ray, which the simulated executor does not have). Jobs that never ran
(cancelled while pending) and jobs still live are left out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime

from scheduler.api.models import JobEventOut, JobOut
from scheduler.cli.connect import parse_time

COLUMNS = ("job_id", "tenant", "submit_s", "duration_s", "devices", "workers", "accelerator",
           "cpus", "memory", "priority", "preemptible", "queue_s")
#: states in which a job no longer runs: a running stretch ends at the first of them
_NOT_RUNNING = frozenset({"pending", "succeeded", "failed", "cancelled"})


def _at(value: str) -> float:
    t = parse_time(value)
    assert t is not None, value  # the API writes RFC 3339
    return t.timestamp()


def ran_s(events: Iterable[JobEventOut]) -> float:
    """Seconds the job ran: each stretch from ``running`` to the next state it stops in
    (a preempted job runs on until it is stopped and requeued)."""
    total, since = 0.0, None
    for e in events:
        if e.state == "running":
            since = _at(e.at) if since is None else since
        elif since is not None and e.state in _NOT_RUNNING:
            total += _at(e.at) - since
            since = None
    return total


def trace_rows(jobs: Iterable[JobOut], events_of: Callable[[str], Sequence[JobEventOut]],
               since: datetime | None = None, until: datetime | None = None) -> tuple[list[dict[str, str]], int]:
    """Rows (``COLUMNS``) of the finished jobs submitted in [since, until) that ran, in
    submission order, ``submit_s`` counted from the first; and how many were left out.

    ``events_of`` is asked only for jobs that went back to the queue: for the others
    the run is from ``started_at`` to ``finished_at``.
    """
    picked: list[tuple[float, JobOut, float, float]] = []  # submitted, job, ran, finished
    skipped = 0
    for j in jobs:
        submitted = parse_time(j.submitted_at)
        if j.finished_at is None or submitted is None:
            continue  # live
        if (since is not None and submitted < since) or (until is not None and submitted >= until):
            continue
        if j.preemptions or j.node_losses:
            ran = ran_s(events_of(j.id))
        else:
            ran = 0.0 if j.started_at is None else _at(j.finished_at) - _at(j.started_at)
        if ran <= 0:
            skipped += 1
            continue
        picked.append((submitted.timestamp(), j, ran, _at(j.finished_at)))
    picked.sort(key=lambda p: p[0])  # (stable: submission order within a timestamp)
    origin = picked[0][0] if picked else 0.0
    rows = []
    for submitted_s, j, ran, finished_s in picked:
        r = j.resources
        rows.append({
            "job_id": j.id, "tenant": j.tenant, "submit_s": f"{submitted_s - origin:.3f}",
            "duration_s": f"{ran:.3f}", "devices": str(j.devices), "workers": str(j.workers),
            "accelerator": "|".join(r.accelerator_types), "cpus": str(r.cpus), "memory": r.memory,
            "priority": j.priority, "preemptible": "1" if j.preemptible else "0",
            "queue_s": f"{max(0.0, finished_s - submitted_s - ran):.3f}",
        })
    return rows, skipped
