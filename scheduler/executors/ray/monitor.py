"""The Ray executor's monitor thread: it takes each attempt through its phases (placing,
submitting, submitted, releasing), stops what was asked to stop after its grace period, and
turns what Ray says into the executor's events."""

from __future__ import annotations

import contextlib
import logging
import time
from typing import Any

from scheduler.domain import Isolation, JobRecord
from scheduler.engine.ports import EventKind, ExecutorEvent
from scheduler.executors.ray import launch
from scheduler.executors.ray.attempt import (
    NODE_CHECK_S,
    PLACE_TIMEOUT_S,
    RELEASE_TIMEOUT_S,
    STOP_MARGIN_S,
    Attempt,
    Phase,
)
from scheduler.executors.ray.ray_state import RayState

log = logging.getLogger(__name__)


class AttemptMonitor(RayState):
    """Moves every attempt on, one tick at a time (``_tick``), in the executor's thread."""

    def _runs_isolated(self, job: JobRecord) -> bool:
        """Whether ``job`` runs apart; ValueError when its tenant is isolated and this executor cannot."""
        if self._isolation_of(job.spec.tenant) is not Isolation.ISOLATED:
            return False
        if self.isolated_runs is None:
            raise ValueError(f"tenant {job.spec.tenant} is isolated and this Ray executor cannot isolate jobs "
                             "(attached to a shared cluster, or no sandbox: apt-get install bubblewrap); "
                             "set the tenant's isolation to shared to run it here")
        return True

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
                working_dir = launch.isolated_working_dir(runtime_env)
                a.isolated = True
                env_vars = {k: v for k, v in runtime_env["env_vars"].items() if k not in launch.SHARED_CLUSTER_ENV}
                self.isolated_runs.start(a.sid, job.spec.tenant, launch.entrypoint_of(job), env_vars,
                                         accelerator=job.placement.accelerator, ray_resource=accel,
                                         nodes=launch.node_devices(job), metadata=launch.metadata(job, a.attempt),
                                         working_dir=working_dir, excludes=runtime_env.get("excludes") or ())
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
