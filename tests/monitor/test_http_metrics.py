"""HTTP request rate and latency by route template and status, and GET /metrics, as the
service mounts them: ``monitor.mount(app)``."""

from __future__ import annotations

from fastapi import FastAPI, HTTPException
from fastapi.testclient import TestClient

from monitor import Monitor, mount
from tests.monitor.helpers import samples, small_center, value


def app_with_monitor() -> tuple[FastAPI, Monitor]:
    app = FastAPI()

    @app.get("/v1/jobs/{job_id}")
    def get(job_id: str) -> dict[str, str]:
        if job_id == "missing":
            raise HTTPException(404, "no such job")
        return {"id": job_id}

    @app.post("/v1/boom")
    def boom() -> None:
        raise RuntimeError("a bug")

    monitor = mount(app, lambda: None)
    return app, monitor


def test_requests_are_counted_by_route_template_and_status() -> None:
    app, monitor = app_with_monitor()
    client = TestClient(app, raise_server_exceptions=False)
    for job in ("j1", "j2", "j3", "missing"):
        client.get(f"/v1/jobs/{job}")
    assert client.post("/v1/boom").status_code == 500
    assert client.get("/nowhere/j4").status_code == 404
    assert client.delete("/v1/jobs/j1").status_code == 405
    s = samples(monitor.exposition()[0])
    assert value(s, "aicc_http_requests_total", method="GET", route="/v1/jobs/{job_id}", status="200") == 3
    assert value(s, "aicc_http_requests_total", method="GET", route="/v1/jobs/{job_id}", status="404") == 1
    assert value(s, "aicc_http_requests_total", method="POST", route="/v1/boom", status="500") == 1
    assert value(s, "aicc_http_requests_total", method="GET", route="unmatched", status="404") == 1
    assert value(s, "aicc_http_requests_total", method="DELETE", route="/v1/jobs/{job_id}", status="405") == 1
    assert value(s, "aicc_http_request_duration_seconds_count", method="GET", route="/v1/jobs/{job_id}") == 4
    # Never a raw path (job ids are not label values).
    assert not any(v in ("/v1/jobs/j1", "j1", "/nowhere/j4") for k in s for _, v in k[1])


def test_metrics_route_serves_text_or_openmetrics() -> None:
    cfg = small_center()
    from scheduler.core import Policy
    from scheduler.engine import Engine, ManualClock
    from scheduler.executors.sleep import SleepExecutor
    from scheduler.store.memory import MemoryStore

    clock = ManualClock(0.0)
    engine = Engine(cfg.center, MemoryStore(cfg.tenants), SleepExecutor(clock), clock, Policy())
    app = FastAPI()
    monitor = mount(app, engine)
    client = TestClient(app)
    r = client.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert "aicc_tenant_limit_flops" in r.text
    r = client.get("/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"})
    assert r.headers["content-type"].startswith("application/openmetrics-text")
    assert r.text.rstrip().endswith("# EOF")
    # the scrape itself is counted under its route
    s = samples(monitor.exposition()[0])
    assert value(s, "aicc_http_requests_total", method="GET", route="/metrics", status="200") == 2
    assert monitor.observer in engine.observers
