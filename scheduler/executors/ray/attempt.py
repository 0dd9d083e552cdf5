"""One run of one job on Ray (an attempt), the phases it goes through, and the executor's timeouts."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from scheduler.domain import Center, Isolation, JobRecord, JobSpec, Placement
from scheduler.engine.clock import Clock
from scheduler.engine.ports import EventKind, ExecutorEvent
from scheduler.executors.ray.head import EmbeddedHead
from scheduler.executors.ray.isolated import IsolatedRuns
from scheduler.executors.ray.topology import Topology

#: Beyond the grace period, how long Ray's own SIGTERM-then-SIGKILL may take before aicc kills the driver.
STOP_MARGIN_S = 10.0
#: How long to wait for Ray to give a removed group's resources back before reporting anyway.
RELEASE_TIMEOUT_S = 60.0
#: A placement group Ray cannot place in this long means Ray's view and the scheduler's differ.
PLACE_TIMEOUT_S = 300.0
NODE_CHECK_S = 1.0


class Phase(StrEnum):
    PLACING = "placing"  # placement group asked for, not placed yet
    SUBMITTING = "submitting"  # placed; the Ray job is being submitted
    SUBMITTED = "submitted"  # Ray has the job (pending or running)
    RELEASING = "releasing"  # ended; waiting for Ray to give the devices back
    DONE = "done"


@dataclass
class Attempt:
    """One run of one job: its Ray names, its placement, where it is."""

    job_id: str
    attempt: int
    sid: str
    placement: Placement | None
    spec: JobSpec | None
    phase: Phase
    created: float
    job: JobRecord | None = None
    pg: Any = None
    pg_hex: str | None = None
    started: bool = False
    stop_at: float | None = None
    grace_s: float = 0.0
    stop_sent: bool = False
    outcome: EventKind | None = None
    detail: str = ""
    release_at: float | None = None
    pg_removed: bool = False
    launched: bool = False  # started in the launcher, not as a Ray job
    isolated: bool = False  # started in a sandbox and Ray instance of its own (isolated.py)
    placed_at: float | None = None  # monotonic: when Ray placed the whole gang
    submitted_at: float | None = None  # ... when Ray accepted the job
    started_at: float | None = None  # ... when the executor saw it running

    @property
    def nodes(self) -> tuple[str, ...]:
        return self.placement.nodes if self.placement is not None else ()


class ExecutorState:
    """The Ray executor's state, set up by ``RayExecutor.__init__``, which its parts share
    (``ray_state``: what Ray is asked; ``monitor``: the thread that moves attempts on)."""

    clock: Clock
    namespace: str
    auth_token: str | None
    base_dir: Path
    head: EmbeddedHead | None
    center: Center | None
    topology: Topology
    #: extra environment of each job's attempt (the job's own credential to report checkpoints)
    job_credentials: Callable[[JobRecord], dict[str, str]] | None
    loop_interval_s: float
    isolated_runs: IsolatedRuns | None
    _isolation_of: Callable[[str], Isolation | None]
    _lock: threading.RLock
    _wake: threading.Event
    _closing: threading.Event
    _attempts: dict[str, Attempt]
    _retired: list[Attempt]
    _events: list[ExecutorEvent]
    _expected: dict[str, int]
    _dead_nodes: set[str]
    _nodes_checked: float
    _ray: Any
    _client: Any
    _launcher: Any
    _pool: ThreadPoolExecutor
