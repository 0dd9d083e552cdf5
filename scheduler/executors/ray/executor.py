"""The Ray executor: the engine's Executor port on a Ray cluster.

``start`` records the attempt and returns; a monitor thread does the Ray work:
it creates the job's placement group (detached, named after the submission
id, one bundle per worker pinned to the scheduler's node), starts the
entrypoint once the group is placed, watches job states and node liveness,
and on every ending removes the group and waits until Ray has given its
resources back before it reports the final event. ``poll`` hands over the
events it found, in order.

The entrypoint starts in aicc's launcher actor (``launcher.py``: one process
for every job, milliseconds a start) unless Ray must build the job's runtime
env (working_dir, pip, a container): then it is a Ray Job Submission API job,
which builds it (a new Ray worker a job, about 2 s).

The parts: ``attempt.py`` (an attempt and its phases), ``monitor.py`` (the thread that moves
attempts on), ``ray_state.py`` (what it asks Ray); this module is the port and its set-up.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from scheduler.domain import AcceleratorType, Center, Isolation, JobRecord
from scheduler.domain import placement_codec as placements
from scheduler.engine.clock import Clock
from scheduler.engine.ports import DEFAULT_GRACE_S, EventKind, ExecutorEvent
from scheduler.executors.ray import launch
from scheduler.executors.ray.attempt import Attempt, Phase
from scheduler.executors.ray.config import NAMESPACE, RaySettings, is_loopback, loopback_env
from scheduler.executors.ray.head import EmbeddedHead, sandbox_for_head, system_temp_dir
from scheduler.executors.ray.isolated import IsolatedRuns
from scheduler.executors.ray.launcher import launcher_handle
from scheduler.executors.ray.monitor import AttemptMonitor
from scheduler.executors.ray.topology import Topology, discover_center, embedded_topology

log = logging.getLogger(__name__)

class RayExecutor(AttemptMonitor):
    """Runs admitted jobs as Ray jobs in placement groups. Thread-safe; every call idempotent per job."""

    def __init__(self, clock: Clock, *, address: str, dashboard_url: str, topology: Topology | None = None,
                 catalog: Mapping[str, AcceleratorType] | None = None, namespace: str = NAMESPACE, auth_token: str | None = None, base_dir: Path | None = None,
                 head: EmbeddedHead | None = None, center: Center | None = None,
                 loop_interval_s: float = 0.1, submit_threads: int = 8, launcher: bool = True,
                 isolated_runs: IsolatedRuns | None = None) -> None:
        self.clock = clock
        self.address = address
        self.dashboard_url = dashboard_url
        self.namespace = namespace
        self.auth_token = auth_token
        self.base_dir = base_dir or Path.cwd()
        self.head = head
        self.center = center
        #: extra environment of each job's attempt: the service sets it to the job's own
        #: credential for reporting checkpoints (``Service.job_env``)
        self.job_credentials: Callable[[JobRecord], dict[str, str]] | None = None
        self.loop_interval_s = loop_interval_s
        self._lock = threading.RLock()
        self._wake = threading.Event()
        #: Where isolated tenants' jobs run; None: every job on this cluster (shared).
        self.isolated_runs = isolated_runs
        self._isolation_of: Callable[[str], Isolation | None] = lambda _tenant: None
        self._closing = threading.Event()
        self._attempts: dict[str, Attempt] = {}
        self._retired: list[Attempt] = []  # earlier runs being ended; their events are not reported
        self._events: list[ExecutorEvent] = []
        self._expected: dict[str, int] = {}
        self._dead_nodes: set[str] = set()
        self._nodes_checked = 0.0
        self._we_connected = False
        self._ray: Any = self._connect()
        from ray.job_submission import JobSubmissionClient

        # Ray's job SDK logs every working_dir upload at INFO (it sets that level when imported).
        logging.getLogger("ray.dashboard.modules.dashboard_sdk").setLevel(logging.WARNING)

        headers = {"Authorization": f"Bearer {auth_token}"} if auth_token else None
        self._client = JobSubmissionClient(dashboard_url, headers=headers)
        self._launcher: Any = launcher_handle(self._ray, namespace) if launcher else None
        self._pool = ThreadPoolExecutor(max_workers=submit_threads, thread_name_prefix="aicc-ray-submit")
        if topology is None:  # attached: the center is what Ray has
            if catalog is None:
                raise ValueError("attaching to Ray needs the accelerator catalog")
            self.center, topology = discover_center(self._ray.nodes(), catalog,
                                                    name=center.name if center else "ray")
        self.topology = self._bind(topology)
        self._recover()
        self._thread = threading.Thread(target=self._run, name="aicc-ray-monitor", daemon=True)
        self._thread.start()

    # -- connection ----------------------------------------------------------------------

    def _connect(self) -> Any:
        if is_loopback(self.address):
            os.environ.update(loopback_env())
        if self.auth_token:  # the driver (this process) authenticates too; Ray reads this at import
            os.environ["RAY_AUTH_MODE"] = "token"
            os.environ["RAY_AUTH_TOKEN"] = self.auth_token
        import ray

        if is_loopback(self.address):
            ray._private.ray_constants.ENABLE_RAY_CLUSTER = False
        if not ray.is_initialized():
            ray.init(address=self.address, namespace=self.namespace, logging_level=logging.WARNING,
                     log_to_driver=False)
            self._we_connected = True
        return ray

    def _bind(self, topology: Topology) -> Topology:
        if not topology.embedded:
            return topology
        head = next((n["NodeID"] for n in self._ray.nodes() if n.get("Alive")
                     and "node:__internal_head__" in (n.get("Resources") or {})), None)
        return topology.with_head(head) if head else topology

    def close(self) -> None:
        """Stop watching; disconnect; stop the embedded head if this executor started one."""
        self._closing.set()
        self._wake.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(10)
        self._pool.shutdown(wait=False, cancel_futures=True)
        if self._we_connected:
            with contextlib.suppress(Exception):
                self._ray.shutdown()
        if self.isolated_runs is not None:
            self.isolated_runs.close()
        if self.head is not None:
            self.head.stop()

    def __enter__(self) -> RayExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def bind_tenants(self, isolation_of: Callable[[str], Isolation | None]) -> None:
        """The engine's tenants: each job runs as its tenant's isolation says (None: shared)."""
        self._isolation_of = isolation_of

    # -- the Executor port -----------------------------------------------------------------

    def start(self, job: JobRecord, grace_s: float = DEFAULT_GRACE_S) -> None:
        attempt = launch.attempt_of(job)
        with self._lock:
            current = self._attempts.get(job.id)
            if current is not None and current.attempt >= attempt:
                return
            if current is not None and current.phase is not Phase.DONE:
                # An earlier run is still in Ray (seen after a restart): end it, quietly.
                current.stop_at = current.stop_at or time.monotonic()
                self._retired.append(current)
            sid = launch.submission_id(job.id, attempt)
            a = Attempt(job.id, attempt, sid, job.placement, job.spec, Phase.PLACING, time.monotonic(), job=job,
                        grace_s=max(0.0, grace_s))
            self._attempts[job.id] = a
            missing = [n for n in a.nodes if n not in self.topology.bindings]
            if job.placement is None or missing:
                a.outcome = EventKind.FAILED
                a.detail = f"node {missing[0]} is not known to Ray" if missing else "no placement"
                a.phase = Phase.RELEASING
        self._wake.set()

    def stop(self, job_id: str, grace_s: float) -> None:
        with self._lock:
            a = self._attempts.get(job_id)
            if a is None or a.phase in (Phase.RELEASING, Phase.DONE) or a.stop_at is not None:
                return
            a.stop_at = time.monotonic()
            a.grace_s = max(0.0, grace_s)
        self._wake.set()

    def poll(self) -> Sequence[ExecutorEvent]:
        with self._lock:
            out, self._events = self._events, []
        return out

    def known(self) -> Mapping[str, EventKind]:
        """Started jobs report STARTED until their devices are back, then how they ended."""
        with self._lock:
            out: dict[str, EventKind] = {}
            for job_id, a in self._attempts.items():
                expected = self._expected.get(job_id)
                if expected is not None and a.attempt < expected:
                    continue  # an earlier run; this one has not started
                if a.phase is Phase.DONE and a.outcome is not None:
                    out[job_id] = a.outcome
                elif a.started:
                    out[job_id] = EventKind.STARTED
            return out

    def adopt(self, jobs: Iterable[JobRecord]) -> None:
        """Before reconcile: the store's live jobs, so runs of an earlier attempt are not mistaken for theirs."""
        with self._lock:
            for job in jobs:
                self._expected[job.id] = launch.attempt_of(job)

    def logs(self, job_id: str) -> str:
        """The job's output; after a preemption or a node loss, every run's, oldest first."""
        with self._lock:
            a = self._attempts.get(job_id)
            if a is None:
                return ""
            latest = a.attempt if a.phase not in (Phase.PLACING, Phase.SUBMITTING) else a.attempt - 1
        parts = []
        for attempt in range(latest + 1):
            sid = launch.submission_id(job_id, attempt)
            try:
                launched = self._ray.get(self._launcher.logs.remote(sid)) if self._launcher is not None else None
                if self.isolated_runs is not None and launched is None:
                    launched = self.isolated_runs.logs(sid)
                text = launched if launched is not None else str(self._client.get_job_logs(sid))
            except Exception as exc:
                if attempt < latest:
                    continue  # that run never reached Ray (stopped while being placed)
                text = f"[aicc] logs unavailable: {exc}\n"
            parts.append(text if latest == 0 else f"[aicc] run {attempt + 1}\n{text}")
        return "".join(parts)

    def timeline(self) -> dict[str, tuple[float, float | None, float | None, float | None]]:
        """Per job (time.monotonic()): asked to start, gang placed by Ray, job accepted, seen running."""
        with self._lock:
            return {j: (a.created, a.placed_at, a.submitted_at, a.started_at) for j, a in self._attempts.items()}

    def checkpoints(self) -> dict[str, float]:
        """When each isolated job last checkpointed (the file it touches in its run folder);
        a shared job reports over the API."""
        if self.isolated_runs is None:
            return {}
        found = self.isolated_runs.checkpoints()
        with self._lock:
            return {a.job_id: found[a.sid] for a in self._attempts.values() if a.isolated and a.sid in found}

    def lost_nodes(self) -> list[str]:
        """aicc nodes whose Ray node is dead: the service marks them down so nothing new lands there."""
        with self._lock:
            dead = set(self._dead_nodes)
        return sorted(n for n, b in self.topology.bindings.items() if b.ray_node_id in dead)

    def wait_idle(self, timeout_s: float = 60.0) -> bool:
        """True once no attempt is placing, running or releasing (tests, demos)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self._lock:
                if all(a.phase is Phase.DONE for a in self._attempts.values()):
                    return True
            time.sleep(0.1)
        return False

    # -- after a restart ----------------------------------------------------------------------

    def _recover(self) -> None:
        """Re-attach to what Ray still runs for aicc; remove placement groups nobody owns."""
        latest: dict[str, tuple[int, Any]] = {}
        for info in [*self._list_jobs(), *self._launched_infos(None).values()]:
            parsed = launch.parse_submission_id(info.submission_id or "")
            if parsed is None:
                continue
            job_id, attempt = parsed
            if job_id not in latest or latest[job_id][0] < attempt:
                latest[job_id] = (attempt, info)
        pgs = self._aicc_pgs()
        for job_id, (attempt, info) in latest.items():
            meta = info.metadata or {}
            sid = launch.submission_id(job_id, attempt)
            accel = (info.runtime_env or {}).get("env_vars", {}).get("AICC_ACCELERATOR", "")
            placement = placements.from_bundles_json(meta.get("aicc_placement", "[]"), accel)
            a = Attempt(job_id, attempt, sid, placement, None, Phase.SUBMITTED, time.monotonic(),
                        launched=getattr(info, "launched", False))
            status = str(info.status.value if hasattr(info.status, "value") else info.status)
            a.started = status != "PENDING"
            if sid in pgs:
                a.pg_hex = pgs.pop(sid)
                a.pg = self._pg_handle(a.pg_hex)
            if status in ("SUCCEEDED", "FAILED", "STOPPED"):
                a.started = True
                a.outcome = self._outcome(status)
                a.detail = launch.exit_reason(info) if status == "FAILED" else "finished while aicc was down"
                a.phase = Phase.RELEASING
            self._attempts[job_id] = a
        for name, pg_hex in pgs.items():  # groups with no Ray job: nobody owns them
            log.info("removing orphan placement group %s", name)
            with contextlib.suppress(Exception):
                self._ray.util.remove_placement_group(self._pg_handle(pg_hex))
        # Runs that ended while aicc was away: give their devices back now, so that
        # known() reports how they ended rather than "still started".
        deadline = time.monotonic() + 15.0
        while time.monotonic() < deadline:
            ending = [a for a in self._attempts.values() if a.phase is Phase.RELEASING]
            if not ending:
                break
            self._release(ending)
            time.sleep(0.1)

    # -- the monitor -----------------------------------------------------------------------


    # nodes


    # stops


    # placing and submitting


    # watching


    # releasing


    # Ray reads ------------------------------------------------------------------------------


def make_ray_executor(clock: Clock, *, center: Center, settings: RaySettings | None = None,
                      base_dir: Path | None = None, protect: Sequence[Path] = (),
                      on_head: Callable[[EmbeddedHead], None] | None = None) -> RayExecutor:
    """The executor ``aicc serve --executor ray`` uses.

    No address (``RAY_ADDRESS`` unset): start an embedded head declaring ``center``'s nodes,
    and stop it on close; it runs in a sandbox without ``protect`` (the service's data
    directory, token files) and, when aicc is root, as a uid of its own (``sandbox.py``);
    isolated tenants' jobs each run in a sandbox and Ray instance of their own. With an
    address: attach, and build the center from Ray's nodes (``executor.center``), with
    ``center``'s accelerator catalog; every job then runs on that cluster.
    """
    settings = settings or RaySettings.from_env()
    if settings.address is None:
        iso_root = system_temp_dir() / f"aicc-iso-{settings.ports.base}"
        for folder in (*protect, iso_root):  # a sandbox hides what exists when it starts
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        # The shared head's jobs see neither the service's files nor the isolated jobs' folders.
        sandbox = sandbox_for_head([*protect, iso_root], settings.sandbox)
        head = EmbeddedHead.for_center(center, ports=settings.ports, auth_mode=settings.auth_mode,
                                       auth_token=settings.auth_token, sandbox=sandbox)
        head.start()
        if on_head is not None:
            on_head(head)
        try:
            runs = IsolatedRuns(iso_root, hidden=tuple(protect)) if sandbox is not None else None
            return RayExecutor(clock, address=head.address, dashboard_url=head.dashboard_url,
                               topology=embedded_topology(center), auth_token=head.auth_token,
                               base_dir=base_dir, head=head, center=center, launcher=settings.launcher,
                               isolated_runs=runs)
        except BaseException:
            head.stop()
            raise
    executor = RayExecutor(clock, address=settings.address, dashboard_url=settings.resolved_dashboard_url(),
                           catalog=center.accelerators, auth_token=settings.auth_token, base_dir=base_dir,
                           center=center, launcher=settings.launcher)
    return executor
