"""A tenant's runtime_env may not read the scheduler host's files.

Ray's job client packages a *local* ``working_dir`` or ``py_modules`` path on
the machine that submits the job (the scheduler's) and uploads it to the
cluster, where the tenant's code can read it. An absolute path or one that
climbs out of the executor's base directory (``/var/lib/aicc``, ``../..``)
would hand a tenant the admin token file, the database, or anything else the
service can read. The API refuses such paths; the Ray executor, as a second
line, refuses to package anything outside its base directory.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from scheduler.domain import JobKind, JobSpec, Resources
from tests.security.conftest import Headers, assert_problem, job_body

Issue = Callable[[str], Headers]

ESCAPES = [
    {"working_dir": "/var/lib/aicc"},
    {"working_dir": "/"},
    {"working_dir": "../.."},
    {"working_dir": "jobs/../../../etc"},
    {"working_dir": "~/.ssh"},
    {"working_dir": "file:///etc"},
    {"py_modules": ["/root"]},
    {"py_modules": ["ok", "../secrets"]},
]


@pytest.mark.parametrize("env", ESCAPES, ids=lambda e: str(e))
def test_the_api_refuses_local_paths_outside_the_jobs_directory(client: TestClient, issue: Issue,
                                                                env: dict[str, object]) -> None:
    r = client.post("/v1/jobs", headers=issue("acme"), json=job_body(runtime_env={**env, "sleep_s": 1}))
    assert_problem(r, 422)


@pytest.mark.parametrize("env", [{"working_dir": "jobs/train"}, {"working_dir": "s3://bucket/code.zip"},
                                 {"working_dir": "https://example.org/code.zip"},
                                 {"py_modules": ["lib", "gs://bucket/mod.zip"]}, {"pip": ["torch"]}],
                         ids=lambda e: str(e))
def test_remote_uris_and_relative_paths_inside_are_accepted(client: TestClient, issue: Issue,
                                                            env: dict[str, object]) -> None:
    r = client.post("/v1/jobs", headers=issue("acme"), json=job_body(runtime_env={**env, "sleep_s": 1}))
    assert r.status_code == 201, r.text


@pytest.mark.parametrize("env", ESCAPES, ids=lambda e: str(e))
def test_the_ray_executor_never_packages_a_path_outside_its_base_dir(tmp_path: Path,
                                                                     env: dict[str, object]) -> None:
    launch = pytest.importorskip("scheduler.executors.ray.launch")
    (tmp_path / "jobs").mkdir()
    spec = JobSpec("acme", "x", JobKind.BATCH, 1, Resources(1), runtime_env=env)
    with pytest.raises(ValueError):
        launch.ray_runtime_env(spec, tmp_path / "jobs", {})


def test_the_ray_executor_resolves_a_relative_path_inside_its_base_dir(tmp_path: Path) -> None:
    launch = pytest.importorskip("scheduler.executors.ray.launch")
    spec = JobSpec("acme", "x", JobKind.BATCH, 1, Resources(1), runtime_env={"working_dir": "train"})
    env = launch.ray_runtime_env(spec, tmp_path, {"AICC_JOB_ID": "j1"})
    assert env["working_dir"] == str((tmp_path / "train").resolve())
    assert env["env_vars"]["AICC_JOB_ID"] == "j1"
