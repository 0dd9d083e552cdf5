"""A workload to replay: jobs in arrival order, the center they run on, the tenants.

Loaders (``itp``, ``openb``, ``synthetic``) all produce a ``Trace``; the
simulator turns each ``TraceJob`` into a ``JobSpec`` when it arrives. The true
duration stays with the trace: only the simulated executor (and the labelled
oracle) ever reads it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from scheduler.core import Policy
from scheduler.domain import Center, JobKind, JobSpec, Resources, Tenant

#: The traces folder beside the checkout: <repo>/../shared/traces.
DEFAULT_TRACES = Path(__file__).resolve().parents[3] / "shared" / "traces"


class TraceError(ValueError):
    """A trace that cannot be read; the message names the file."""


@dataclass(frozen=True, slots=True)
class TraceJob:
    id: str
    tenant: str
    submit_s: float
    duration_s: float  # as actually run: only the executor knows it
    workers: int
    per_worker: int
    accelerator_types: tuple[str, ...] = ()
    priority: str = "normal"
    preemptible: bool = True
    cpus: int = 0  # per worker
    memory_bytes: int = 0  # per worker

    @property
    def devices(self) -> int:
        return self.workers * self.per_worker

    def spec(self, *, oracle: bool = False) -> JobSpec:
        """What the tenant submits; ``oracle`` adds the true duration as its estimate."""
        return JobSpec(
            self.tenant, self.id, JobKind.TRAINING, self.workers,
            Resources(self.per_worker, self.accelerator_types, self.cpus, self.memory_bytes),
            priority=self.priority, preemptible=self.preemptible,
            estimated_runtime_s=self.duration_s if oracle else None,
        )


@dataclass(frozen=True)
class Trace:
    """Jobs sorted by submission time (ties keep file order)."""

    name: str
    jobs: Sequence[TraceJob]
    center: Center | None = None
    tenants: Mapping[str, Tenant] = field(default_factory=dict)
    priority_classes: Mapping[str, int] | None = None
    notes: tuple[str, ...] = ()
    #: the center file's policy (its priority classes and ``policy:`` knobs): every policy
    #: replayed starts from it; None: aicc's defaults with ``priority_classes``
    policy: Policy | None = None
    #: figures the trace's own run recorded (``avg_queue_s`` from ``aicc job export``), to
    #: compare a replay with
    observed: Mapping[str, float] = field(default_factory=dict)

    @property
    def base_policy(self) -> Policy:
        """Where every policy replayed starts: the center file's, else aicc's defaults."""
        if self.policy is not None:
            return self.policy
        return Policy() if self.priority_classes is None else Policy(priority_classes=dict(self.priority_classes))

    @property
    def span_s(self) -> float:
        if not self.jobs:
            return 0.0
        return max(j.submit_s + j.duration_s for j in self.jobs) - self.jobs[0].submit_s


def gpu_node_split(devices: int, node_size: int) -> tuple[int, int]:
    """A trace's gang of ``devices`` GPUs as (workers, devices per worker).

    One worker per node, as the trace's jobs ran: up to a node, one worker of
    all its devices; beyond, whole-node workers (a 64-GPU job is 8 x 8).
    """
    if devices <= node_size:
        return 1, devices
    if devices % node_size:
        raise TraceError(f"a gang of {devices} devices does not split into nodes of {node_size}")
    return devices // node_size, node_size


def load_csv_trace(path: str | Path, *, node_size: int = 8) -> Trace:
    """A trace of your own: a CSV with ``job_id, tenant, submit_s, duration_s, devices`` and
    optional ``workers`` (else one worker per ``node_size`` devices), ``accelerator`` (types
    joined by ``|``), ``cpus`` and ``memory`` per worker, ``priority``, ``preemptible`` (0/1)
    columns, as ``aicc job export`` writes them. Center and tenants come from the center file."""
    import csv

    from scheduler.domain.units import parse_memory

    p = Path(path)
    jobs = []
    waits: list[float] = []  # as observed, where the file says
    try:
        with p.open(newline="") as fh:
            for n, row in enumerate(csv.DictReader(fh)):
                try:
                    devices = int(row["devices"])
                    if row.get("workers"):
                        workers = int(row["workers"])
                        if workers < 1 or devices % workers:
                            raise ValueError(f"{devices} devices do not split into {workers} workers")
                        per = devices // workers
                    else:
                        workers, per = gpu_node_split(devices, node_size)
                    accel = tuple(a.strip() for a in (row.get("accelerator") or "").split("|") if a.strip())
                    jobs.append(TraceJob(
                        row.get("job_id") or f"job{n}", row["tenant"], float(row["submit_s"]),
                        float(row["duration_s"]), workers, per, accel,
                        (row.get("priority") or "normal").strip(),
                        (row.get("preemptible") or "1").strip() not in ("0", "false", "no"),
                        int(row.get("cpus") or 0), parse_memory((row.get("memory") or "0").strip())))
                    if row.get("queue_s"):
                        waits.append(float(row["queue_s"]))
                except (KeyError, ValueError) as exc:  # (UnitError is a ValueError)
                    raise TraceError(f"{p}: row {n + 2}: {exc}") from None
    except OSError as exc:
        raise TraceError(f"{p}: cannot read: {exc.strerror}") from None
    if not jobs:
        raise TraceError(f"{p}: no jobs")
    order = sorted(range(len(jobs)), key=lambda i: (jobs[i].submit_s, i))
    observed = {"avg_queue_s": sum(waits) / len(waits)} if len(waits) == len(jobs) else {}
    return Trace(p.stem, tuple(jobs[i] for i in order), observed=observed)
