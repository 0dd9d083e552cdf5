"""``aicc job``, ``aicc usage`` and ``aicc top`` against a live server, as a tenant and as the admin."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import yaml

from scheduler.client import Client
from tests.cli.conftest import Cli

NewTenant = Callable[..., tuple[str, str]]

JOB_YAML = """\
name: {name}
kind: finetune
workers: {workers}
resources: {{accelerators: {devices}, accelerator_types: [a800], cpus: 8, memory: 64Gi}}
priority: normal
estimated_runtime_s: 3600
entrypoint: python train.py
runtime_env: {{sleep_s: {sleep_s}}}
"""


def spec_file(tmp: Path, name: str, *, workers: int = 1, devices: int = 1, sleep_s: float = 600) -> str:
    path = tmp / f"{name}.yaml"
    path.write_text(JOB_YAML.format(name=name, workers=workers, devices=devices, sleep_s=sleep_s))
    return str(path)


def wait_state(c: Client, job_id: str, state: str, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while c.job(job_id).state != state:
        assert time.monotonic() < deadline, f"{job_id} never {state}"
        time.sleep(0.05)


def test_submit_list_get_as_a_queue(cli: Cli, admin: Client, new_tenant: NewTenant, tmp_path: Path) -> None:
    name, token = new_tenant(guaranteed="1.248P", limit="2.496P")  # 4 devices, up to 8
    out = cli.ok("job", "submit", "-f", spec_file(tmp_path, "bert", workers=2, devices=2), token=token).stdout
    assert out.startswith("submitted job j") and f"(bert) for {name}" in out
    running = out.split()[2]
    big = json.loads(cli.ok("job", "submit", "-f", spec_file(tmp_path, "llama", workers=4, devices=8),
                            "-o", "json", token=token).stdout)
    assert big["name"] == "llama" and big["devices"] == 32 and big["tenant"] == name
    wait_state(admin, running, "running")
    rows = cli.ok("job", "list", token=token).stdout.splitlines()
    assert rows[0].split() == ["ID", "TENANT", "NAME", "STATE", "DEVICES", "AGE", "ETA", "NODES(REASON)"]
    by_id = {r.split()[0]: r.split() for r in rows[1:]}
    assert by_id[running][1:5] == [name, "bert", "RUNNING", "4"] and by_id[running][6].startswith("a800-")
    assert by_id[big["id"]][1:5] == [name, "llama", "PENDING", "32"]
    assert by_id[big["id"]][6:8] == ["?", "(QuotaExhausted)"]  # no start foreseen: over its limit
    # the admin: across tenants, filtered, and the JSON is the API's
    listed = json.loads(cli.ok("job", "list", "--tenant", name, "--state", "pending", "-o", "json").stdout)
    assert listed == {"items": admin.request("GET", "/v1/admin/jobs", params={"tenant": name,
                                                                              "state": "pending"})["items"]}
    assert [j["id"] for j in listed["items"]] == [big["id"]]
    got = yaml.safe_load(cli.ok("job", "get", big["id"], "-o", "yaml").stdout)
    assert got == admin.request("GET", f"/v1/jobs/{big['id']}")
    text = cli.ok("job", "get", big["id"], token=token).stdout
    assert "Reason:            QuotaExhausted" in text and "Queue position:    1" in text
    assert "Expected start:    unknown (?; unknown: held by quota (QuotaExhausted: limit)" in text
    assert "Resources:         4 x 8 a800, 8 cpus, 64Gi memory per worker" in text
    assert "Ran:" not in text  # it never ran
    # the tenant's queue in order, with when each job is expected to start and how that was found
    rows = cli.ok("job", "queue", token=token).stdout.splitlines()
    assert rows[0].split() == ["TENANT", "POS", "ID", "NAME", "DEVICES", "WAITED", "ETA", "HOW", "REASON"]
    assert [r.split()[:3] for r in rows[1:]] == [[name, "1", big["id"]]]
    assert rows[1].split()[-3:] == ["?", "unknown", "QuotaExhausted"]


def test_list_hides_finished_jobs_unless_asked(cli: Cli, new_tenant: NewTenant, tmp_path: Path) -> None:
    _name, token = new_tenant()
    job = cli.ok("job", "submit", "-f", spec_file(tmp_path, "short"), token=token).stdout.split()[2]
    assert "pass --yes" in cli.fails("job", "cancel", job, token=token)
    assert cli.ok("job", "cancel", job, "--yes", token=token).stdout.strip() == f"job {job} (short): cancelled"
    assert cli.ok("job", "list", token=token).stdout.splitlines()[1:] == []
    rows = cli.ok("job", "list", "--all", token=token).stdout.splitlines()[1:]
    assert [r.split()[3] for r in rows] == ["CANCELLED"]
    assert json.loads(cli.ok("job", "list", "--state", "cancelled", "-o", "json", token=token).stdout)[
        "items"][0]["id"] == job


def test_job_bad_input(cli: Cli, new_tenant: NewTenant, tmp_path: Path) -> None:
    _, token = new_tenant()
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nresources: {accelerators: 1}\ngpus: 8\n")
    assert cli.fails("job", "submit", "-f", str(bad), token=token) == \
        "error: gpus: Extra inputs are not permitted"
    bad.write_text("name: x\nresources: {accelerators: 1, memory: 12X}\n")
    assert "resources.memory: cannot read memory '12X'" in cli.fails("job", "submit", "-f", str(bad), token=token)
    bad.write_text("name: [unclosed\n")
    assert "not YAML" in cli.fails("job", "submit", "-f", str(bad), token=token)
    assert "cannot read" in cli.fails("job", "submit", "-f", str(tmp_path / "missing.yaml"), token=token)
    assert "unknown-priority" in cli.fails(
        "job", "submit", "-f", "-", token=token, input="name: x\nresources: {accelerators: 1}\npriority: urgent\n")
    typo = cli.fails("job", "submit", "-f", "-", token=token,
                     input="name: x\nresources: {accelerators: 1, accelerator_types: [quantum-9000]}\n")
    assert "unknown-accelerator" in typo and "'quantum-9000'" in typo and "a800" in typo
    assert "tenant-token-required" in cli.fails("job", "submit", "-f", spec_file(tmp_path, "adm"))
    assert "job-not-found" in cli.fails("job", "get", "j999999", token=token)
    assert "state: 'sleeping' is not one of" in cli.fails("job", "list", "--state", "sleeping", token=token)


def test_logs_and_follow_until_the_job_ends(cli: Cli, admin: Client, new_tenant: NewTenant, tmp_path: Path) -> None:
    _, token = new_tenant()
    job = cli.ok("job", "submit", "-f", spec_file(tmp_path, "quick", sleep_s=1.0), token=token).stdout.split()[2]
    assert f"[aicc] job {job} (quick)" in cli.ok("job", "logs", job, token=token).stdout
    assert json.loads(cli.ok("job", "logs", job, "-o", "json", token=token).stdout)["job_id"] == job
    started = time.monotonic()
    out = cli.ok("job", "logs", job, "--follow", "--interval", "0.2", token=token).stdout
    assert time.monotonic() - started < 15
    assert admin.job(job).state == "succeeded"  # it followed until the end, then returned
    assert f"job {job}" in out and "succeeded" in out  # the final text, printed before it returned


def test_usage_report_and_show(cli: Cli, admin: Client, new_tenant: NewTenant, tmp_path: Path) -> None:
    name, token = new_tenant()
    job = cli.ok("job", "submit", "-f", spec_file(tmp_path, "used", devices=2), token=token).stdout.split()[2]
    wait_state(admin, job, "running")
    time.sleep(0.2)
    cli.ok("job", "cancel", job, "--yes", token=token)
    out = cli.ok("usage", "report", "--tenant", name, "--start", "7d").stdout.splitlines()
    assert out[2].split() == ["TENANT", "ACCELERATOR", "KIND", "JOBS", "DEVICE-HOURS", "PFLOPS-HOURS"]
    assert out[3].split()[:4] == [name, "a800", "finetune", "1"] and out[4].startswith("total")
    window = ["--start", "2020-01-01", "--end", "2030-01-01T00:00:00Z"]
    got = json.loads(cli.ok("usage", "report", *window, "-o", "json", token=token).stdout)
    api = admin.request("GET", "/v1/usage/ledger", params={"tenant": name, "start": "2020-01-01",
                                                           "end": "2030-01-01T00:00:00Z"})
    assert got == api and got["items"][0]["device_hours"] > 0
    assert "--start: cannot read time 'yesterday'" in cli.fails("usage", "report", "--start", "yesterday")
    assert "forbidden" in cli.fails("usage", "report", "--tenant", "acme", token=token)
    mine = cli.ok("usage", "show", token=token).stdout.splitlines()
    assert mine[0].split()[:5] == ["TENANT", "GUARANTEED", "LIMIT", "IN", "USE"] and mine[1].split()[:3] == [
        name, "1.25P", "2.5P"]
    everyone = json.loads(cli.ok("usage", "show", "-o", "json").stdout)
    assert name in [u["tenant"] for u in everyone["items"]]


def test_top_once(cli: Cli, admin: Client, new_tenant: NewTenant, tmp_path: Path) -> None:
    name, token = new_tenant()
    cli.ok("job", "submit", "-f", spec_file(tmp_path, "pending", workers=8, devices=8), token=token)
    out = cli.ok("top", "--once").stdout.splitlines()
    assert out[0].startswith("aicc top - test-center - ")
    assert out[3].split()[:5] == ["TENANT", "GUARANTEED", "LIMIT", "IN", "USE"]
    mine = next(line.split() for line in out if line.startswith(name + " "))
    assert mine[1:3] == ["1.2", "2.5"] and mine[-1] == "1"  # one queued
    accel = next(line.split() for line in out if line.startswith("ascend910b"))
    assert accel[4] == "16"
    data = json.loads(cli.ok("top", "--once", "-o", "json").stdout)
    assert data["center"]["name"] == "test-center" and name in [u["tenant"] for u in data["usage"]]
    as_tenant = cli.ok("top", "--once", token=token).stdout
    assert name in as_tenant and "acme " not in as_tenant
