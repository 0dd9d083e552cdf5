"""Tenants' jobs as attackers, on the embedded default: what each isolation mode keeps from them.

One child process plays ``aicc serve --executor ray`` (the session's Ray is another
cluster, and a process talks to one Ray): the admin token in its environment, a database
URL, a data directory with the admin-token file and the SQLite database, mode 0600 as the
service writes them. Four tenants: ``bank`` and ``rival`` isolated, ``lab`` and ``lab2``
shared. The victims (``rival``, ``lab2``) run jobs holding a secret in their environment
and in a file of their home; then ``bank`` and ``lab`` run ``probe_job.py``, which reads
its own environment, the data directory, every file and every ``/proc/<pid>/environ`` it
can see, the center's Ray cluster (and through it the other jobs), and (``bank``) kills
every process it can see. What each found is checked here for the secrets.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests import needs
from tests.ray_cluster import free_block

pytestmark = pytest.mark.slow

ADMIN = "admin-secret-c0ffee-4242"
DB_URL = "postgresql://aicc:db-password-5150@db/aicc"

SCRIPT = r'''
import json, os, sqlite3, sys, time
from pathlib import Path
port, data = int(sys.argv[1]), Path(sys.argv[2])
os.environ.update(AICC_ADMIN_TOKEN=sys.argv[3], DATABASE_URL=sys.argv[4])
data.mkdir(mode=0o700, parents=True)
(data / "admin-token").write_text(sys.argv[3]); (data / "admin-token").chmod(0o600)
db = sqlite3.connect(data / "aicc.db"); db.execute("create table t (secret text)")
db.execute("insert into t values ('db-row-secret-77')"); db.commit(); db.close(); (data / "aicc.db").chmod(0o600)
from scheduler.centerfile import build_center
from scheduler.core import Policy
from scheduler.domain import JobKind, JobSpec, Resources
from scheduler.engine import Engine
from scheduler.engine.clock import SystemClock
from scheduler.store.memory import MemoryStore
from scheduler.executors.ray import RayPorts, RaySettings, make_ray_executor
def tenant(name, isolation):
    return {"name": name, "guaranteed": "0.5P", "limit": "2P", "isolation": isolation}
cfg = build_center({"name": "mini", "accelerators": [
    {"name": "a800", "vendor_resource": "nvidia.com/gpu", "ray_resource": "GPU", "memory": "80Gi", "tflops": {"fp16": 312}}],
  "pools": [{"name": "a800", "accelerator": "a800", "racks": 1, "nodes_per_rack": 2, "devices_per_node": 4,
             "cpus_per_node": 8, "memory_per_node": "64Gi"}],
  "tenants": [tenant("bank", "isolated"), tenant("rival", "isolated"), tenant("lab", "shared"), tenant("lab2", "shared")]})
ex = make_ray_executor(SystemClock(), center=cfg.center, settings=RaySettings(ports=RayPorts(port)), protect=[data])
engine = Engine(cfg.center, MemoryStore(cfg.tenants), ex, SystemClock(), Policy())
def run_until(ids, states, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline and not all(engine.store.jobs[i].state.value in states for i in ids):
        engine.step(); engine.sync(); time.sleep(0.1)
    return {i: engine.store.jobs[i].state.value for i in ids}
victim = ("sh -c 'echo file-secret-$SECRET > $HOME/secret.txt; echo log-secret-$SECRET; exec sleep 600'")
def submit(tenant, entrypoint, devices=1, env=None):
    spec = JobSpec(tenant, "j", JobKind.BATCH, 1, Resources(devices, ("a800",)), entrypoint=entrypoint,
                   runtime_env={"env_vars": env} if env else None)
    return engine.submit(spec).id
victims = {"rival": submit("rival", victim, env={"SECRET": "rival-env-secret"}),
           "lab2": submit("lab2", victim, env={"SECRET": "lab2-env-secret"})}
out = {"victims_running": run_until(list(victims.values()), ("running",), 240)}
probe = (f"python -c \"import base64; exec(base64.b64decode('{sys.argv[5]}'))\" "
         f"{{mode}} {data} {ex.head.ports.gcs} {ex.head.ports.dashboard} {ex.head.temp_dir.parent}")
probes = {"bank": submit("bank", probe.format(mode="attack"), devices=2),
          "lab": submit("lab", probe.format(mode="shared"))}
out["probes_done"] = run_until(list(probes.values()), ("succeeded", "failed"), 240)
out["logs"] = {t: ex.logs(i) for t, i in probes.items()}
out["victims_after"] = {t: engine.store.jobs[i].state.value for t, i in victims.items()}
out["victim_logs"] = {t: ex.logs(i) for t, i in victims.items()}
out["pwned"] = (data / "pwned").exists()
out["placements"] = {t: [[w.node, list(w.devices)] for w in engine.store.jobs[i].placement.workers]
                     for t, i in {**probes, **victims}.items()}
ex.close()
print("RESULT " + json.dumps(out), flush=True)
'''


def _line(log: str, prefix: str) -> Any:
    lines = [ln for ln in log.splitlines() if ln.startswith(prefix)]
    assert lines, log[-3000:]
    return json.loads(lines[-1].removeprefix(prefix))


@pytest.fixture(scope="module")
def attack(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    try:
        import ray  # noqa: F401
    except ImportError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"Ray is required under CI: {exc}")
        pytest.skip(f"Ray not installed: {exc}")
    needs.bwrap("job isolation tests")
    data = tmp_path_factory.mktemp("svc") / "data"
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env["RAY_AUTH_MODE"] = "disabled"
    # The probe goes inline: a job sees no test files (a checkout under /tmp is hidden from it).
    probe = base64.b64encode(Path(__file__).with_name("probe_job.py").read_bytes()).decode()
    run = subprocess.run([sys.executable, "-c", SCRIPT, str(free_block(20800)), str(data), ADMIN, DB_URL, str(probe)],
                         capture_output=True, text=True, timeout=560, env=env, cwd=Path(__file__).resolve().parents[2])
    lines = [ln for ln in run.stdout.splitlines() if ln.startswith("RESULT ")]
    assert run.returncode == 0 and lines, run.stdout[-3000:] + run.stderr[-3000:]
    out: dict[str, Any] = json.loads(lines[-1].removeprefix("RESULT "))
    assert out["victims_running"] == {k: "running" for k in out["victims_running"]}, out
    assert out["probes_done"] == {k: "succeeded" for k in out["probes_done"]}, {**out["probes_done"], **out["logs"]}
    out["found"] = {t: _line(log, "PROBE ") for t, log in out["logs"].items()}
    out["data"] = str(data)
    return out


SERVICE_SECRETS = (ADMIN, "db-password-5150", "db-row-secret-77")
OTHER_TENANTS = ("rival-env-secret", "file-secret-rival", "log-secret-rival", "lab2-env-secret", "file-secret-lab2",
                 "log-secret-lab2")


@pytest.mark.parametrize("tenant", ["bank", "lab"])
def test_no_job_reaches_the_admin_token_or_the_database(attack: dict[str, Any], tenant: str) -> None:
    found = attack["found"][tenant]
    text = json.dumps(found)
    for secret in SERVICE_SECRETS:
        assert secret not in text, f"{tenant}'s job found {secret!r}"
    assert "AICC_ADMIN_TOKEN" not in found["env"] and "DATABASE_URL" not in found["env"]
    assert found["data_dir_listing"] in ("<absent>", []) or "admin-token" not in found["data_dir_listing"]
    assert all(v.startswith("<") for v in found["files"].values()), found["files"]
    assert found["wrote_data_dir"] is not True and attack["pwned"] is False
    # Not root: the files were out of reach by the sandbox, not by luck.
    assert found["uid"] != 0


def test_an_isolated_job_sees_nothing_of_other_tenants(attack: dict[str, Any]) -> None:
    found = attack["found"]["bank"]
    text = json.dumps(found)
    for secret in OTHER_TENANTS:
        assert secret not in text, f"the isolated job found {secret!r}"
    # Its own PID namespace: only its sandbox's processes (its runner, its Ray), none of the service's.
    cmdlines = " ".join(p["cmdline"] for p in found["procs"].values())
    assert "sleep 600" not in cmdlines and "--block" not in cmdlines, cmdlines
    # No route to the center's Ray cluster: neither its GCS nor its dashboard (so no job list, no stop).
    assert found["shared_gcs_reachable"] is False and found["shared_dashboard_reachable"] is False
    assert found["shared_jobs"] == "<unreachable>"


def test_an_isolated_job_has_a_ray_of_its_own_with_its_devices(attack: dict[str, Any]) -> None:
    found = attack["found"]["bank"]
    res = found["own_ray_resources"]
    (node, devices), = attack["placements"]["bank"]
    assert found["own_ray_nodes"] == 1
    assert res["GPU"] == 2 and res[f"aicc_node:{node}"] == 2
    assert not any(k.startswith("aicc_node:") and k != f"aicc_node:{node}" for k in res), res
    assert found["env"]["CUDA_VISIBLE_DEVICES"] == ",".join(map(str, devices))
    assert found["env"]["RAY_AUTH_MODE"] == "token" and len(found["env"]["RAY_AUTH_TOKEN"]) >= 32
    if os.geteuid() == 0:  # a uid of its tenant's, not the shared head's nor root
        assert found["uid"] not in (0, attack["found"]["lab"]["uid"])


def test_an_isolated_job_cannot_stop_other_jobs(attack: dict[str, Any]) -> None:
    # bank's job SIGKILLed every process it could see: only its own sandbox's.
    assert attack["victims_after"] == {"rival": "running", "lab2": "running"}
    assert "log-secret-rival-env-secret" in attack["victim_logs"]["rival"]


def test_a_shared_job_gets_nothing_of_the_service_but_shares_the_cluster(attack: dict[str, Any]) -> None:
    found = attack["found"]["lab"]
    # It runs on the center's cluster, as the shared head's user (not root when aicc is root) ...
    assert found["shared_gcs_reachable"] is True
    if os.geteuid() == 0:
        assert found["uid"] not in (0,)
    # ... and sees nothing of the isolated tenants' (their sandboxes and Ray instances are apart).
    text = json.dumps(found)
    for secret in ("rival-env-secret", "file-secret-rival", "log-secret-rival"):
        assert secret not in text
