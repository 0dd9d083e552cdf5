"""The sandbox job code runs in, and the allow-list its environment comes from (no Ray needed).

Each test runs a real command in a real bubblewrap sandbox: what it can read, write, see
and reach is what the command reports, never what the code meant to build.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from scheduler.executors.ray.isolated import base_env, device_env
from scheduler.executors.ray.launcher import _driver_env, passed_to_jobs
from scheduler.executors.ray.sandbox import RAY_UID, Sandbox, own, tenant_uid
from tests import needs


@pytest.fixture(autouse=True)
def _bwrap() -> None:
    needs.bwrap("sandbox tests")


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    """A service's data directory outside /tmp (hidden by name, not by /tmp's tmpfs) when we can."""
    base = Path("/var/lib") if os.access("/var/lib", os.W_OK) else tmp_path
    d = Path(os.path.realpath(base)) / f"aicc-test-data-{os.getpid()}"
    d.mkdir(mode=0o700)
    (d / "admin-token").write_text("admin-secret-in-a-file")
    yield d
    shutil.rmtree(d, ignore_errors=True)


def run(sandbox: Sandbox, script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(sandbox.wrap([sys.executable, "-c", script]), capture_output=True, text=True,
                          timeout=60, env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")})


def test_the_data_directory_is_not_there(data_dir: Path) -> None:
    out = run(Sandbox(hidden=(data_dir,)), f"import os; print(os.listdir({str(data_dir)!r}))")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
    # Without it in ``hidden`` (and outside /tmp) the same command would read it: the test can fail.
    if data_dir.is_relative_to("/var/lib"):
        assert "admin-token" in run(Sandbox(), f"import os; print(os.listdir({str(data_dir)!r}))").stdout


def test_a_pid_namespace_of_its_own() -> None:
    out = run(Sandbox(), "import os; print(sorted(int(p) for p in os.listdir('/proc') if p.isdigit()))")
    pids = [int(p) for p in out.stdout.strip("[]\n").split(",")]
    # bwrap's init, the command: nothing of the host's (whose pids here run to the thousands)
    assert len(pids) <= 4 and max(pids) < 10, pids


def test_no_route_to_the_host_loopback_with_its_own_network() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        probe = f"import socket; s = socket.socket(); s.settimeout(2); print(s.connect_ex(('127.0.0.1', {port})))"
        assert run(Sandbox(), probe).stdout.strip() == "0"  # the shared head's sandbox: host loopback
        assert run(Sandbox(new_net=True), probe).stdout.strip() != "0"  # an isolated job's: its own


def test_it_writes_only_its_own_folder(tmp_path: Path) -> None:
    mine, other = tmp_path / "mine", tmp_path / "other"
    other.mkdir()
    uid = tenant_uid("bank") if os.geteuid() == 0 else None
    own(mine, uid)
    script = (f"from pathlib import Path\nPath({str(mine / 'ok')!r}).write_text('x')\n"
              f"try:\n    Path({str(other / 'x')!r}).write_text('x'); print('WROTE')\nexcept OSError as e: print(type(e).__name__)")
    out = run(Sandbox(uid=uid, writable=(mine,)), script)
    assert out.returncode == 0, out.stderr
    assert (mine / "ok").exists() and out.stdout.strip() != "WROTE"


@pytest.mark.skipif(os.geteuid() != 0, reason="uids are only dropped when aicc runs as root")
def test_as_root_job_code_runs_as_another_uid(data_dir: Path) -> None:
    out = run(Sandbox(uid=RAY_UID), "import os; print(os.getuid(), os.getgid(), os.getgroups())")
    assert out.stdout.split()[:2] == [str(RAY_UID), str(RAY_UID)]
    # Even with the data directory in view, the files of root's 0700 folder stay closed to it.
    out = run(Sandbox(uid=RAY_UID), f"print(open({str(data_dir / 'admin-token')!r}).read())")
    assert out.returncode != 0 and "PermissionError" in out.stderr


def test_tenant_uids_are_stable_and_apart() -> None:
    names = [f"tenant-{i}" for i in range(200)]
    uids = {tenant_uid(n) for n in names}
    assert len(uids) == len(names) and tenant_uid("bank") == tenant_uid("bank")
    assert RAY_UID not in uids and 0 not in uids


def test_only_the_allow_list_passes(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AICC_ADMIN_TOKEN", "DATABASE_URL", "AICC_DB_URL", "AWS_SECRET_ACCESS_KEY", "KUBECONFIG",
                 "RAY_ADDRESS", "RAY_AUTH_TOKEN", "RAY_JOB_CONFIG_JSON_ENV_VAR", "RAY_RAYLET_PID"):
        assert not passed_to_jobs(name), name
    for name in ("PATH", "HOME", "LANG", "LC_ALL", "CUDA_VISIBLE_DEVICES", "ASCEND_RT_VISIBLE_DEVICES",
                 "RAY_AUTH_MODE", "RAY_USAGE_STATS_ENABLED"):
        assert passed_to_jobs(name), name
    monkeypatch.setenv("AICC_ADMIN_TOKEN", "admin-secret")
    monkeypatch.setenv("DATABASE_URL", "postgresql://x")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2")
    driver = _driver_env()  # what the launcher starts every shared job with
    assert "AICC_ADMIN_TOKEN" not in driver and "DATABASE_URL" not in driver
    assert driver["CUDA_VISIBLE_DEVICES"] == "2" and driver["PATH"] == os.environ["PATH"]
    env = base_env(Path("/tmp/job/home"), "bank")
    assert "AICC_ADMIN_TOKEN" not in env and "DATABASE_URL" not in env
    assert env["HOME"] == "/tmp/job/home" and env["USER"] == "aicc-bank"
    assert device_env("GPU", [2, 3]) == {"CUDA_VISIBLE_DEVICES": "2,3"}
    assert device_env("NPU", [0]) == {"ASCEND_RT_VISIBLE_DEVICES": "0"}
