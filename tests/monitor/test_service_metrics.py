"""The real service, wired as ``aicc serve`` wires it (build_service, Monitor, create_app):
jobs submitted over its API show up in /metrics, routes by template, promtool accepts it."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from fastapi.testclient import TestClient

from monitor import Monitor
from scheduler.api import create_app
from scheduler.service import Settings, build_service
from tests.monitor.helpers import need_binary, samples, value

ADMIN = "admin-token-for-monitor-tests-0123456789"


def test_serve_exposes_the_metrics_of_its_engine_and_api(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, admin_token=ADMIN)  # type: ignore[arg-type]
    monitor = Monitor()
    service = build_service(settings, wrap_executor=monitor.wrap_executor)
    monitor.attach(service.engine, lock=service.lock)
    service.start()
    try:
        app = create_app(settings, service)
        monitor.mount(app)
        with TestClient(app) as client:
            admin = {"Authorization": f"Bearer {ADMIN}"}
            r = client.post("/v1/admin/tenants/vr/tokens", headers=admin, json={"name": "t"})
            assert r.status_code == 201, r.text
            vr = {"Authorization": f"Bearer {r.json()['token']}"}
            ids = []
            for _ in range(3):
                r = client.post("/v1/jobs", headers=vr, json={
                    "name": "x", "kind": "training", "workers": 1, "resources": {"accelerators": 8},
                    "runtime_env": {"sleep_s": 0.2}})
                assert r.status_code == 201, r.text
                ids.append(r.json()["id"])
            assert client.get(f"/v1/jobs/{ids[0]}", headers=vr).status_code == 200
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                body = client.get("/metrics").content
                s = samples(body)
                if value(s, "aicc_jobs_completed_total", tenant="vr", state="succeeded") == 3:
                    break
                time.sleep(0.2)
    finally:
        service.stop()
        service.store.close()
    assert value(s, "aicc_jobs_submitted_total", tenant="vr", priority="normal") == 3
    assert value(s, "aicc_jobs_completed_total", tenant="vr", state="succeeded") == 3
    assert value(s, "aicc_tenant_limit_flops", tenant="large-models", precision="fp16") == 400e15
    assert value(s, "aicc_scheduler_step_duration_seconds_count") >= 1
    assert value(s, "aicc_http_requests_total", method="POST", route="/v1/jobs", status="201") == 3
    assert value(s, "aicc_http_requests_total", method="GET", route="/v1/jobs/{job_id}", status="200") == 1
    assert not any(v in ids for k in s for _, v in k[1]), "a job id became a label value"
    run = subprocess.run([need_binary("promtool"), "check", "metrics"], input=body,
                         capture_output=True, timeout=30)
    assert run.returncode == 0, run.stdout.decode() + run.stderr.decode()
