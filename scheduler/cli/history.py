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

from collections.abc import Iterable
from datetime import datetime

from scheduler.api.models import JobOut
from scheduler.cli.connect import parse_time

COLUMNS = ("job_id", "tenant", "submit_s", "duration_s", "devices", "workers", "accelerator",
           "cpus", "memory", "priority", "preemptible", "queue_s")


def _at(value: str) -> float:
    t = parse_time(value)
    assert t is not None, value  # the API writes RFC 3339
    return t.timestamp()


def trace_rows(jobs: Iterable[JobOut], since: datetime | None = None, until: datetime | None = None
               ) -> tuple[list[dict[str, str]], int]:
    """Rows (``COLUMNS``) of the finished jobs submitted in [since, until) that ran, in
    submission order, ``submit_s`` counted from the first; and how many were left out."""
    picked: list[tuple[float, JobOut, float, float]] = []  # submitted, job, ran, finished
    skipped = 0
    for j in jobs:
        submitted = parse_time(j.submitted_at)
        if j.finished_at is None or submitted is None:
            continue  # live
        if (since is not None and submitted < since) or (until is not None and submitted >= until):
            continue
        ran = j.ran_s  # over all its attempts
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
