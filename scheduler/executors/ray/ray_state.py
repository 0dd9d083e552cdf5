"""What the Ray executor asks Ray: its jobs (Job API, launcher, isolated runs) and its
placement groups, each in one call for every attempt."""

from __future__ import annotations

import json
import logging
from types import SimpleNamespace
from typing import Any

from scheduler.executors.ray import launch
from scheduler.executors.ray.attempt import Attempt, ExecutorState
from scheduler.executors.ray.launcher import launcher_handle

log = logging.getLogger(__name__)


class RayState(ExecutorState):
    """Queries of Ray, batched: one call for every attempt."""

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
