"""What a job becomes in Ray, without Ray: names, bundles, environment, settings, discovery."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scheduler.centerfile import load_center
from scheduler.domain import (
    AcceleratorType,
    JobKind,
    JobRecord,
    JobSpec,
    JobState,
    Placement,
    Resources,
    WorkerPlacement,
)
from scheduler.executors.ray import launch
from scheduler.executors.ray.config import RayPorts, RaySettings
from scheduler.executors.ray.head import EmbeddedHead, center_resources
from scheduler.executors.ray.topology import discover_center, embedded_topology

A800 = AcceleratorType("a800", "nvidia.com/gpu", "GPU", {"fp16": 312.0}, 80 << 30)
NPU = AcceleratorType("ascend910b", "huawei.com/Ascend910", "NPU", {"fp16": 320.0}, 64 << 30)


def job(preemptions: int = 0, **spec_kw: object) -> JobRecord:
    spec_kw.setdefault("entrypoint", "python train.py")
    spec = JobSpec("finance", "bert", JobKind.FINETUNE, 2, Resources(2, ("a800",), cpus=4),
                   **spec_kw)  # type: ignore[arg-type]
    placement = Placement("a800", (WorkerPlacement("a800-r01-n01", (0, 1)), WorkerPlacement("a800-r02-n03", (6, 7))))
    return JobRecord("j42", 42, spec, JobState.ADMITTED, 0.0, placement=placement, preemptions=preemptions)


def test_the_submission_id_is_the_job_id_and_its_attempt() -> None:
    assert launch.submission_id("j42", launch.attempt_of(job())) == "aicc-j42-0"
    assert launch.submission_id("j42", launch.attempt_of(job(preemptions=3))) == "aicc-j42-3"
    assert launch.parse_submission_id("aicc-my-job-7-2") == ("my-job-7", 2)
    assert launch.parse_submission_id("raysubmit_abc") is None
    assert launch.parse_submission_id("aicc-j1-x") is None


def test_embedded_bundles_hold_exactly_the_devices_on_the_chosen_virtual_node() -> None:
    center = load_center().center
    bundles, selectors = launch.bundles(job(), embedded_topology(center))
    assert bundles == [{"GPU": 2.0, "aicc_node:a800-r01-n01": 2.0}, {"GPU": 2.0, "aicc_node:a800-r02-n03": 2.0}]
    assert selectors == [{}, {}]


def test_the_whole_610p_center_is_declared_to_one_ray_node() -> None:
    center = load_center().center
    gpus, resources = center_resources(center)
    assert gpus == 1024 and resources["NPU"] == 912
    assert resources["aicc_node:a800-r01-n01"] == 8
    assert sum(1 for r in resources if r.startswith("aicc_node:")) == len(center.nodes) == 242
    cmd = EmbeddedHead(num_gpus=gpus, resources=resources, ports=RayPorts(20700)).command()
    assert "--node-ip-address=127.0.0.1" in cmd and "--port=20700" in cmd and "--num-gpus=1024" in cmd
    assert all(int(a.split("=")[1]) in range(20700, 20800) for a in cmd if a.endswith("port") is False
               and "-port=" in a)


def test_the_head_sets_the_auth_mode_explicitly_and_binds_to_loopback() -> None:
    head = EmbeddedHead(auth_mode="disabled")
    env = head.env()
    assert env["RAY_AUTH_MODE"] == "disabled"
    assert env["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] == "0"
    assert "--dashboard-host=127.0.0.1" in head.command()
    token = EmbeddedHead(auth_mode="token")
    assert token.env()["RAY_AUTH_MODE"] == "token" and len(token.env()["RAY_AUTH_TOKEN"]) >= 32
    with pytest.raises(ValueError, match="auth_mode"):
        EmbeddedHead(auth_mode="none")


def test_attached_bundles_are_pinned_by_ray_node_id_and_carry_cpus() -> None:
    rows = [
        {"NodeID": "aa" * 28, "Alive": True, "Resources": {"CPU": 8.0}, "Labels": {}},  # the head: no devices
        {"NodeID": "bb" * 28, "Alive": True, "Resources": {"GPU": 8.0, "CPU": 64.0, "memory": 1e12},
         "Labels": {"aicc.io/node": "a800-r01-n01", "aicc.io/rack": "r01"}},
        {"NodeID": "cc" * 28, "Alive": True, "Resources": {"GPU": 8.0, "CPU": 64.0},
         "Labels": {"aicc.io/node": "a800-r02-n03", "aicc.io/rack": "r02"}},
        {"NodeID": "dd" * 28, "Alive": True, "Resources": {"NPU": 8.0, "CPU": 96.0}, "Labels": {}},
        {"NodeID": "ee" * 28, "Alive": False, "Resources": {"GPU": 8.0}, "Labels": {}},
    ]
    center, topology = discover_center(rows, {"a800": A800, "ascend910b": NPU})
    assert {(n.name, n.accelerator, n.rack, n.devices) for n in center.nodes} == {
        ("a800-r01-n01", "a800", "r01", 8), ("a800-r02-n03", "a800", "r02", 8),
        ("ray-" + "dd" * 6, "ascend910b", "rack-0", 8)}
    bundles, selectors = launch.bundles(job(), topology)
    assert bundles == [{"GPU": 2.0, "CPU": 4.0}, {"GPU": 2.0, "CPU": 4.0}]
    assert selectors == [{"ray.io/node-id": "bb" * 28}, {"ray.io/node-id": "cc" * 28}]
    assert topology.aicc_nodes_on("bb" * 28) == ("a800-r01-n01",)


def test_a_cluster_without_devices_of_the_catalog_is_refused() -> None:
    with pytest.raises(ValueError, match="no alive node"):
        discover_center([{"NodeID": "aa", "Alive": True, "Resources": {"CPU": 4.0}}], {"a800": A800})


def test_the_job_sees_its_tenant_placement_and_device_ids() -> None:
    env = launch.job_env(job(), attempt=0, pg_id="ff" * 18, pg_name="aicc-j42-0", namespace="aicc",
                         ray_resource="GPU", grace_s=12.5)
    assert env["AICC_TENANT"] == "finance" and env["AICC_JOB_ID"] == "j42"
    assert env["AICC_NODE_DEVICES"] == "a800-r01-n01:0,1;a800-r02-n03:6,7"
    assert json.loads(env["AICC_PLACEMENT"]) == [{"bundle": 0, "node": "a800-r01-n01", "devices": [0, 1]},
                                                 {"bundle": 1, "node": "a800-r02-n03", "devices": [6, 7]}]
    assert env["RAY_JOB_STOP_WAIT_TIME_S"] == "13"  # the grace period, for Ray's SIGTERM-then-SIGKILL


def test_the_runtime_env_keeps_rays_keys_and_resolves_the_working_dir(tmp_path: Path) -> None:
    spec = job(runtime_env={"working_dir": "examples", "env_vars": {"A": 1}, "sleep_s": 3,
                            "grace_period_s": 5, "pip": ["numpy"]}).spec
    env = launch.ray_runtime_env(spec, tmp_path, {"AICC_TENANT": "finance"})
    assert env == {"working_dir": str(tmp_path / "examples"), "pip": ["numpy"],
                   "env_vars": {"A": "1", "AICC_TENANT": "finance"}}
    assert launch.entrypoint_of(job()) == "python train.py"
    assert "time.sleep(60.000)" in launch.entrypoint_of(job(entrypoint=""))  # type: ignore[arg-type]


def test_the_exit_reason_names_the_code_and_the_last_line() -> None:
    class Info:
        driver_exit_code = 3
        error_type = "JOB_ENTRYPOINT_COMMAND_ERROR"
        message = "Job entrypoint command failed with exit code 3, last logs:\nTraceback\nValueError: bad lr"

    assert launch.exit_reason(Info()) == "exit code 3: job_entrypoint_command_error: ValueError: bad lr"


def test_settings_come_from_the_environment() -> None:
    assert RaySettings.from_env({}).address is None
    s = RaySettings.from_env({"RAY_ADDRESS": "10.0.0.5:6379", "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": "t"})
    assert s.address == "10.0.0.5:6379" and s.auth_mode == "token"
    assert s.resolved_dashboard_url() == "http://10.0.0.5:8265"
    assert RaySettings.from_env({"AICC_RAY_PORT_BASE": "20500"}).resolved_dashboard_url() == "http://127.0.0.1:20501"
    with pytest.raises(ValueError, match="ray://"):
        RaySettings.from_env({"RAY_ADDRESS": "ray://h:10001"})
    with pytest.raises(ValueError, match="RAY_AUTH_MODE"):
        RaySettings.from_env({"RAY_AUTH_MODE": "off"})
