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
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from scheduler.domain import AcceleratorType, Center, Isolation, JobRecord, JobSpec, Placement
from scheduler.domain import placement_codec as placements
from scheduler.engine.clock import Clock
from scheduler.engine.ports import DEFAULT_GRACE_S, EventKind, ExecutorEvent
from scheduler.executors.ray import launch
from scheduler.executors.ray.config import NAMESPACE, RaySettings, is_loopback, loopback_env
from scheduler.executors.ray.head import EmbeddedHead, sandbox_for_head, system_temp_dir
from scheduler.executors.ray.isolated import IsolatedRuns
from scheduler.executors.ray.launcher import launcher_handle
from scheduler.executors.ray.topology import Topology, discover_center, embedded_topology

log = logging.getLogger(__name__)

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


class RayExecutor:
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

    def _runs_isolated(self, job: JobRecord) -> bool:
        """Whether ``job`` runs apart; ValueError when its tenant is isolated and this executor cannot."""
        if self._isolation_of(job.spec.tenant) is not Isolation.ISOLATED:
            return False
        if self.isolated_runs is None:
            raise ValueError(f"tenant {job.spec.tenant} is isolated and this Ray executor cannot isolate jobs "
                             "(attached to a shared cluster, or no sandbox: apt-get install bubblewrap); "
                             "set the tenant's isolation to shared to run it here")
        return True

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

    def _run(self) -> None:
        while not self._closing.is_set():
            self._wake.wait(self.loop_interval_s)
            self._wake.clear()
            try:
                self._tick()
            except Exception:
                log.exception("ray executor monitor")
                time.sleep(1.0)

    def _tick(self) -> None:
        with self._lock:
            self._retired = [a for a in self._retired if a.phase is not Phase.DONE]
            live = [a for a in [*self._attempts.values(), *self._retired] if a.phase is not Phase.DONE]
        if not live:
            return
        self._check_nodes(live)
        self._handle_stops(live)
        self._place(live)
        self._watch_jobs(live)
        self._release(live)

    def _emit(self, a: Attempt, kind: EventKind, detail: str = "") -> None:
        with self._lock:
            if self._attempts.get(a.job_id) is not a:
                return  # a retired run
            self._events.append(ExecutorEvent(a.job_id, kind, self.clock.now(), detail))

    def _end(self, a: Attempt, outcome: EventKind, detail: str = "") -> None:
        with self._lock:
            if a.phase in (Phase.RELEASING, Phase.DONE):
                return
            a.outcome, a.detail, a.phase = outcome, detail, Phase.RELEASING

    # nodes

    def _check_nodes(self, live: list[Attempt], force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._nodes_checked < NODE_CHECK_S:
            return
        self._nodes_checked = now
        dead = {n["NodeID"] for n in self._ray.nodes() if not n.get("Alive")}
        self._dead_nodes = dead
        for a in live:
            lost = self._lost_node(a)
            if lost is not None and a.phase not in (Phase.RELEASING, Phase.DONE):
                if a.phase is Phase.SUBMITTED:
                    self._pool.submit(self._stop_job, a, 0.0)  # its gang is broken: end it now
                self._end(a, EventKind.LOST, f"node {lost} lost")

    def _lost_node(self, a: Attempt) -> str | None:
        for name in a.nodes:
            b = self.topology.bindings.get(name)
            if b is not None and b.ray_node_id in self._dead_nodes:
                return name
        return None

    # stops

    def _handle_stops(self, live: list[Attempt]) -> None:
        now = time.monotonic()
        for a in live:
            if a.stop_at is None or a.phase in (Phase.RELEASING, Phase.DONE):
                continue
            if a.phase is Phase.PLACING:
                self._end(a, EventKind.STOPPED, "stopped before it ran")
            elif a.phase is Phase.SUBMITTED:
                if not a.stop_sent:
                    a.stop_sent = True
                    self._pool.submit(self._stop_job, a, a.grace_s)
                elif now > a.stop_at + a.grace_s + STOP_MARGIN_S:
                    self._kill_driver(a)
                    self._end(a, EventKind.STOPPED, f"killed {a.grace_s + STOP_MARGIN_S:.0f} s after SIGTERM")

    def _stop_job(self, a: Attempt, grace_s: float) -> None:
        """SIGTERM now, SIGKILL after ``grace_s`` (0: now). The launcher keeps that time itself; Ray's
        supervisor was given it at submission, with the job's env."""
        try:
            if a.isolated and self.isolated_runs is not None:
                self.isolated_runs.stop(a.sid, grace_s)
            elif a.launched:
                self._ray.get(self._launcher.stop.remote(a.sid, grace_s))
            elif grace_s <= 0:
                self._kill_driver(a)
            else:
                self._client.stop_job(a.sid)
        except Exception as exc:
            log.info("stop %s: %s", a.sid, exc)

    def _kill_driver(self, a: Attempt) -> None:
        from ray.dashboard.modules.job.common import (
            JOB_ACTOR_NAME_TEMPLATE,
            SUPERVISOR_ACTOR_RAY_NAMESPACE,
        )

        with contextlib.suppress(Exception):
            if a.isolated and self.isolated_runs is not None:
                self.isolated_runs.kill(a.sid)
                return
            if a.launched:
                self._ray.get(self._launcher.kill.remote(a.sid))
                return
            actor = self._ray.get_actor(JOB_ACTOR_NAME_TEMPLATE.format(job_id=a.sid),
                                        namespace=SUPERVISOR_ACTOR_RAY_NAMESPACE)
            self._ray.kill(actor, no_restart=True)

    # placing and submitting

    def _place(self, live: list[Attempt]) -> None:
        placing = [a for a in live if a.phase is Phase.PLACING]
        if not placing:
            return
        for a in placing:
            if a.pg is None:
                self._create_pg(a)
        states = self._pg_states([a for a in placing if a.pg_hex])
        now = time.monotonic()
        for a in placing:
            state = states.get(a.pg_hex or "")
            if state == "CREATED":
                with self._lock:
                    if a.phase is not Phase.PLACING:
                        continue
                    a.phase = Phase.SUBMITTING
                    a.placed_at = time.monotonic()
                self._pool.submit(self._submit, a)
            elif now - a.created > PLACE_TIMEOUT_S:
                self._end(a, EventKind.FAILED, f"Ray could not place its placement group in {PLACE_TIMEOUT_S:.0f} s")

    def _create_pg(self, a: Attempt) -> None:
        assert a.job is not None
        util = self._ray.util
        try:
            pg = util.get_placement_group(a.sid)  # a retry after a crash: it exists already
        except ValueError:
            res, selectors = launch.bundles(a.job, self.topology)
            kwargs: dict[str, Any] = {}
            if any(selectors):
                kwargs["bundle_label_selector"] = selectors
            pg = util.placement_group(res, strategy="PACK", name=a.sid, lifetime="detached", **kwargs)
        a.pg, a.pg_hex = pg, pg.id.hex()

    def _submit(self, a: Attempt) -> None:
        job = a.job
        assert job is not None and job.placement is not None and a.pg_hex is not None
        accel = self.center.accelerators[job.placement.accelerator].ray_resource if self.center else \
            self.topology.binding(job.placement.workers[0].node).ray_resource
        env = launch.job_env(job, attempt=a.attempt, pg_id=a.pg_hex, pg_name=a.sid, namespace=self.namespace,
                             ray_resource=accel, grace_s=a.grace_s)
        if self.job_credentials is not None:  # the job's own credential, to report checkpoints
            env.update(self.job_credentials(job))
        try:
            runtime_env = launch.ray_runtime_env(job.spec, self.base_dir, env)
            if self._runs_isolated(job):
                assert self.isolated_runs is not None
                if launch.needs_built_env(job.spec):
                    raise ValueError("an isolated tenant's job takes env_vars only in its runtime_env "
                                     "(working_dir, pip, containers: not yet)")
                a.isolated = True
                self.isolated_runs.start(a.sid, job.spec.tenant, launch.entrypoint_of(job), runtime_env["env_vars"],
                                         accelerator=job.placement.accelerator, ray_resource=accel,
                                         nodes=launch.node_devices(job), metadata=launch.metadata(job, a.attempt))
            elif self._launcher is not None and not launch.needs_built_env(job.spec):
                a.launched = True
                self._ray.get(self._launcher.start.remote(
                    a.sid, launch.entrypoint_of(job), runtime_env["env_vars"], launch.metadata(job, a.attempt),
                    job.placement.accelerator))
            else:
                self._client.submit_job(entrypoint=launch.entrypoint_of(job), submission_id=a.sid,
                                        runtime_env=runtime_env, metadata=launch.metadata(job, a.attempt),
                                        entrypoint_num_cpus=0)
        except Exception as exc:
            if "already exists" not in str(exc):
                self._end(a, EventKind.FAILED, f"Ray refused the job: {str(exc).splitlines()[0][:300]}")
                self._wake.set()
                return
        with self._lock:
            a.submitted_at = time.monotonic()
            ended = a.phase is not Phase.SUBMITTING  # lost or failed while being submitted
            if not ended:
                a.phase = Phase.SUBMITTED
        if ended:
            self._stop_job(a, 0.0)
        self._wake.set()

    # watching

    def _watch_jobs(self, live: list[Attempt]) -> None:
        watched = [a for a in live if a.phase is Phase.SUBMITTED]
        if not watched:
            return
        infos = self._job_infos([a.sid for a in watched if not a.launched and not a.isolated])
        infos.update(self._launched_infos([a.sid for a in watched if a.launched]))
        infos.update(self._isolated_infos([a.sid for a in watched if a.isolated]))
        for a in watched:
            info = infos.get(a.sid)
            if info is None:
                continue
            status = str(info.status.value if hasattr(info.status, "value") else info.status)
            if status == "PENDING":
                continue
            if not a.started:
                a.started = True
                a.started_at = time.monotonic()
                self._emit(a, EventKind.STARTED)
            if status == "RUNNING":
                continue
            outcome = self._outcome(status)
            detail = launch.exit_reason(info) if outcome is EventKind.FAILED else ""
            if outcome is EventKind.FAILED:
                self._check_nodes(live, force=True)
                lost = self._lost_node(a)
                if lost is not None:
                    outcome, detail = EventKind.LOST, f"node {lost} lost"
            self._end(a, outcome, detail)

    @staticmethod
    def _outcome(status: str) -> EventKind:
        return {"SUCCEEDED": EventKind.SUCCEEDED, "STOPPED": EventKind.STOPPED}.get(status, EventKind.FAILED)

    # releasing

    def _release(self, live: list[Attempt]) -> None:
        releasing = [a for a in live if a.phase is Phase.RELEASING]
        if not releasing:
            return
        for a in releasing:
            if a.release_at is None:
                a.release_at = time.monotonic()
            if a.pg is not None and not a.pg_removed:
                with contextlib.suppress(Exception):
                    self._ray.util.remove_placement_group(a.pg)
                a.pg_removed = True
        states = self._pg_states([a for a in releasing if a.pg_hex])
        held = self._group_resources()
        now = time.monotonic()
        for a in releasing:
            gone = a.pg_hex is None or (states.get(a.pg_hex, "REMOVED") == "REMOVED" and a.pg_hex not in held)
            late = now - (a.release_at or now) > RELEASE_TIMEOUT_S
            if gone or late:
                detail = a.detail + ("; Ray did not confirm the release" if late and not gone else "")
                with self._lock:
                    a.phase = Phase.DONE
                    a.job = None
                assert a.outcome is not None
                if a.outcome is not EventKind.STARTED:
                    self._emit(a, a.outcome, detail)

    # Ray reads ------------------------------------------------------------------------------

    def _list_jobs(self) -> list[Any]:
        try:
            return list(self._client.list_jobs())
        except Exception as exc:
            log.warning("list_jobs: %s", exc)
            return []

    def _job_infos(self, sids: list[str]) -> dict[str, Any]:
        """The Ray job records of ``sids``: read straight from the GCS (one round trip, no
        load on the dashboard); through the Job Submission API if that is not possible."""
        try:
            from ray.dashboard.modules.job.common import JobInfo, JobInfoStorageClient
            from ray.experimental import internal_kv

            prefix = JobInfoStorageClient.JOB_DATA_KEY_PREFIX
            keys = [f"{prefix}{sid}".encode() for sid in sids]
            gcs: Any = internal_kv.global_gcs_client
            raw = gcs.internal_kv_multi_get(keys, b"job", timeout=10)
            out: dict[str, Any] = {}
            for key, value in raw.items():
                sid = key.decode()[len(prefix):]
                out[sid] = JobInfo.from_json(json.loads(value))
                out[sid].submission_id = sid
            return out
        except Exception as exc:
            log.debug("job records from the GCS: %s; using the Job Submission API", exc)
            return {i.submission_id: i for i in self._list_jobs()}

    def _launched_infos(self, sids: list[str] | None) -> dict[str, Any]:
        """The launcher's records of ``sids`` (of all its runs when None), shaped as Ray's job records."""
        if self._launcher is None or sids == []:
            return {}
        try:
            raw = self._ray.get(self._launcher.status.remote(sids), timeout=30)
        except self._ray.exceptions.RayActorError as exc:
            # Its runs are over (their shells died with it; the new one kills what they left): failed.
            log.warning("aicc's launcher died (%s); starting a new one", exc)
            self._launcher = launcher_handle(self._ray, self.namespace)
            lost: dict[str, Any] = {"status": "FAILED", "driver_exit_code": None, "message": "aicc's launcher died",
                    "metadata": {}, "accelerator": ""}
            raw = dict.fromkeys(sids or [], lost)
        except Exception as exc:
            log.warning("launcher status: %s", exc)
            return {}
        return {sid: SimpleNamespace(submission_id=sid, status=r["status"], driver_exit_code=r["driver_exit_code"],
                                     message=r["message"], error_type=None, metadata=r["metadata"], launched=True,
                                     runtime_env={"env_vars": {"AICC_ACCELERATOR": r["accelerator"]}})
                for sid, r in raw.items()}

    def _isolated_infos(self, sids: list[str]) -> dict[str, Any]:
        """The isolated runs' records of ``sids``, shaped as Ray's job records."""
        if self.isolated_runs is None or not sids:
            return {}
        return {sid: SimpleNamespace(submission_id=sid, status=r["status"], driver_exit_code=r["driver_exit_code"],
                                     message=r["message"], error_type=None, metadata=r["metadata"], launched=False,
                                     runtime_env={"env_vars": {"AICC_ACCELERATOR": r["accelerator"]}})
                for sid, r in self.isolated_runs.infos(sids).items()}

    def _pg_states(self, attempts: list[Attempt]) -> dict[str, str]:
        if not attempts:
            return {}
        if len(attempts) <= 4:
            out = {}
            for a in attempts:
                row = self._ray.util.placement_group_table(a.pg)
                out[a.pg_hex or ""] = str(row.get("state", ""))
            return out
        table = self._ray.util.placement_group_table()
        return {pg_id: str(row.get("state", "")) for pg_id, row in table.items()}

    def _aicc_pgs(self) -> dict[str, str]:
        """Live aicc placement groups: name -> id hex."""
        out = {}
        for pg_id, row in self._ray.util.placement_group_table().items():
            name = str(row.get("name", ""))
            if launch.parse_submission_id(name) and row.get("state") != "REMOVED":
                out[name] = pg_id
        return out

    def _pg_handle(self, pg_hex: str) -> Any:
        from ray.util.placement_group import PlacementGroup

        return PlacementGroup(self._ray.PlacementGroupID(bytes.fromhex(pg_hex)))

    def _group_resources(self) -> set[str]:
        """Ids of placement groups whose bundles still hold resources somewhere."""
        held = set()
        for key in self._ray.cluster_resources():
            if "_group_" in key:
                held.add(key.rsplit("_", 1)[-1])
        return held


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
