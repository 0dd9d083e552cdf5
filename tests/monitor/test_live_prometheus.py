"""A live system, as an operator runs it: a real HTTP server (uvicorn) serving /metrics over a
live engine with jobs flowing, a real Prometheus (Debian's package) scraping it every second
with the shipped recording and alerting rules, and every panel query of every dashboard
answered with data.

The engine runs the shipped 610P center on a clock 60 times faster than life, stepped in a
thread; a client thread submits, reads and cancels jobs over HTTP (so the HTTP panels have
data); the service starts as after a restart (reconcile repairs). A fake device exporter
serves DCGM and Ascend npu-exporter series for every device, as the real exporters would, so
the utilization join of the recording rules is exercised end to end.
"""

from __future__ import annotations

import json
import random
import re
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI, HTTPException
from pydantic import BaseModel

from monitor import Monitor
from monitor.local_prometheus import start_prometheus, stop
from scheduler.centerfile import load_center
from scheduler.core import Policy
from scheduler.domain import Center, JobKind, JobSpec, Resources
from scheduler.domain.errors import AiccError
from scheduler.engine import Engine, ScaledClock
from scheduler.executors.sleep import SleepExecutor
from scheduler.store.memory import MemoryStore
from tests.monitor.helpers import DASHBOARDS, finite_values, free_port, get_json, need_binary

pytestmark = pytest.mark.slow

SPEED = 60.0  # simulated seconds per real second


class Submit(BaseModel):
    tenant: str
    workers: int
    devices: int
    priority: str = "normal"
    runtime_s: float = 300.0


def make_app(engine: Engine, lock: threading.Lock, monitor: Monitor) -> FastAPI:
    app = FastAPI()

    @app.post("/v1/jobs", status_code=201)
    def submit(body: Submit) -> dict[str, str]:
        spec = JobSpec(body.tenant, "live", JobKind.TRAINING, body.workers,
                       Resources(body.devices), priority=body.priority,
                       estimated_runtime_s=body.runtime_s, runtime_env={"sleep_s": body.runtime_s})
        with lock:
            try:
                job = engine.submit(spec)
            except AiccError as exc:
                raise HTTPException(422, str(exc)) from None
        return {"id": job.id}

    @app.get("/v1/jobs/{job_id}")
    def get(job_id: str) -> dict[str, str]:
        with lock:
            job = engine.jobs.get(job_id)
        if job is None:
            raise HTTPException(404, "no such job")
        return {"id": job.id, "state": job.state.value}

    @app.delete("/v1/jobs/{job_id}")
    def cancel(job_id: str) -> dict[str, str]:
        with lock:
            try:
                job = engine.cancel(job_id)
            except AiccError:
                raise HTTPException(404, "no such job") from None
        return {"id": job.id, "state": job.state.value}

    monitor.mount(app)
    return app


def exporter_body(center: Center) -> bytes:
    """What dcgm-exporter and npu-exporter would serve for every device of the center."""
    rnd = random.Random(1)
    lines = ["# HELP DCGM_FI_DEV_GPU_UTIL GPU utilization (in %).", "# TYPE DCGM_FI_DEV_GPU_UTIL gauge",
             "# HELP npu_chip_info_utilization the ai core utilization",
             "# TYPE npu_chip_info_utilization gauge"]
    for node in center.nodes:
        for d in range(node.devices):
            util = rnd.randint(30, 100)
            if node.accelerator == "a800":
                lines.append(f'DCGM_FI_DEV_GPU_UTIL{{gpu="{d}",UUID="GPU-{node.name}-{d}",'
                             f'Hostname="{node.name}",modelName="NVIDIA A800-SXM4-80GB"}} {util}')
            else:
                lines.append(f'npu_chip_info_utilization{{id="{d}",model_name="Ascend910B",'
                             f'node="{node.name}"}} {util}')
    return ("\n".join(lines) + "\n").encode()


@dataclass
class Live:
    app_url: str
    prom_url: str
    started: float
    engine: Engine
    lock: threading.Lock


def _serve_exporter(body: bytes, port: int) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _traffic(url: str, tenants: list[str], stop_at: threading.Event) -> None:
    rnd = random.Random(7)
    shapes = [(1, 1), (1, 4), (1, 8), (2, 8), (4, 8), (8, 8), (16, 8)]
    with httpx.Client(base_url=url, timeout=5) as client:
        ids: list[str] = []
        while not stop_at.is_set():
            workers, devices = rnd.choice(shapes)
            r = client.post("/v1/jobs", json={
                "tenant": rnd.choice(tenants), "workers": workers, "devices": devices,
                "priority": rnd.choice(["low", "normal", "normal", "high"]),
                "runtime_s": rnd.choice([120, 300, 600, 1200])})
            if r.status_code == 201:
                ids.append(r.json()["id"])
            if ids and rnd.random() < 0.3:
                client.get(f"/v1/jobs/{rnd.choice(ids)}")
            if rnd.random() < 0.1:
                client.get("/v1/jobs/no-such-job")  # a 404
            if ids and rnd.random() < 0.05:
                client.delete(f"/v1/jobs/{ids.pop(rnd.randrange(len(ids)))}")
            stop_at.wait(0.05)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    need_binary("prometheus")
    cfg = load_center()
    clock = ScaledClock(SPEED, start=time.time())
    policy = Policy(priority_classes=cfg.priority_classes, min_runtime_s=60)
    store = MemoryStore(cfg.tenants)
    # Before a restart: jobs admitted and recorded by an earlier process.
    before = Engine(cfg.center, store, SleepExecutor(clock), clock, policy)
    for i, tenant in enumerate(sorted(cfg.tenants)):
        before.submit(JobSpec(tenant, f"early-{i}", JobKind.TRAINING, 2, Resources(8),
                              runtime_env={"sleep_s": 600}))
    before.step()
    # The restarted service: a fresh executor that knows none of them; reconcile repairs that.
    monitor = Monitor()
    lock = threading.Lock()
    executor = monitor.wrap_executor(SleepExecutor(clock))
    engine = Engine(cfg.center, store, executor, clock, policy, observers=[monitor.observer])
    monitor.attach(engine, lock=lock)
    with lock:
        assert monitor.reconcile(engine), "the restart should have needed repairs"

    app_port, exporter_port, prom_port = free_port(), free_port(), free_port()
    server = uvicorn.Server(uvicorn.Config(make_app(engine, lock, monitor), host="127.0.0.1",
                                           port=app_port, log_level="warning", access_log=False))
    threading.Thread(target=server.run, daemon=True).start()
    app_url = f"http://127.0.0.1:{app_port}"
    exporter = _serve_exporter(exporter_body(cfg.center), exporter_port)

    stop_at = threading.Event()

    def scheduler_loop() -> None:
        while not stop_at.is_set():
            with lock:
                engine.sync()
                engine.step()
            stop_at.wait(0.1)

    threads = [threading.Thread(target=scheduler_loop, daemon=True)]
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "the app did not start"
        time.sleep(0.05)
    threads.append(threading.Thread(target=_traffic, args=(app_url, sorted(cfg.tenants), stop_at),
                                    daemon=True))
    for t in threads:
        t.start()
    data = tmp_path_factory.mktemp("prometheus")
    started = time.time()
    prom = start_prometheus(f"127.0.0.1:{app_port}", prom_port, Path(data), scrape_interval="1s",
                            extra_jobs={"device-exporters": [f"127.0.0.1:{exporter_port}"]})
    try:
        yield Live(app_url, f"http://127.0.0.1:{prom_port}", started, engine, lock)
    finally:
        stop(prom)
        stop_at.set()
        for t in threads:
            t.join(5)
        server.should_exit = True
        exporter.shutdown()


def panel_queries() -> list[tuple[str, str, str]]:
    """(dashboard, panel title, expr) for every target of every panel of every dashboard."""
    out = []
    for path in sorted(DASHBOARDS.glob("*.json")):
        board = json.loads(path.read_text())
        for panel in board["panels"]:
            for target in panel.get("targets", []):
                out.append((board["title"], panel["title"], target["expr"]))
    return out


def substitute(expr: str) -> str:
    """What Grafana sends: variables set to All (.*), $__rate_interval for a 1 s scrape."""
    expr = expr.replace("$__rate_interval", "5s").replace("$__interval", "1s").replace("$__range", "30s")
    expr = re.sub(r"\$\{?(tenant|accelerator)\}?", ".*", expr)
    assert "$" not in expr, expr
    return expr


def query_range(live: Live, expr: str) -> list[dict[str, Any]]:
    now = time.time()
    body = get_json(f"{live.prom_url}/api/v1/query_range",
                    {"query": expr, "start": live.started, "end": now, "step": "1"})
    assert body["status"] == "success", body
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


def has_data(result: list[dict[str, Any]]) -> bool:
    """At least one finite value (a 0 is data: Grafana draws it)."""
    return next(finite_values(result), None) is not None


def test_every_panel_of_every_dashboard_shows_data(live: Live) -> None:
    queries = panel_queries()
    assert len(queries) >= 40
    missing: list[tuple[str, str, str]] = queries
    deadline = time.monotonic() + 60
    while True:
        missing = [(d, p, e) for d, p, e in missing if not has_data(query_range(live, substitute(e)))]
        if not missing or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert not missing, "panels with no data:\n" + "\n".join(f"{d} / {p}: {e}" for d, p, e in missing)


def test_variables_list_tenants_and_accelerators(live: Live) -> None:
    for path in sorted(DASHBOARDS.glob("*.json")):
        for var in json.loads(path.read_text())["templating"]["list"]:
            if var["type"] != "query":
                continue
            m = re.fullmatch(r"label_values\((\w+), (\w+)\)", var["definition"])
            assert m, var["definition"]
            values = get_json(f"{live.prom_url}/api/v1/label/{m[2]}/values", {"match[]": m[1]})["data"]
            expected = {"tenant": {"finance", "large-models", "manufacturing", "metaverse",
                                   "smart-city", "vr"},
                        "accelerator": {"a800", "ascend910b"}}[var["name"]]
            assert set(values) == expected


def test_jobs_flowed_and_no_tenant_went_above_its_limit(live: Live) -> None:
    def value(expr: str) -> float:
        result = get_json(f"{live.prom_url}/api/v1/query", {"query": expr})["data"]["result"]
        return float(result[0]["value"][1]) if result else 0.0

    deadline = time.monotonic() + 30
    while value("sum(aicc_jobs_completed_total)") == 0 and time.monotonic() < deadline:
        time.sleep(1)
    assert value("sum(aicc_jobs_admitted_total)") > 0
    assert value("sum(aicc_jobs_completed_total)") > 0
    assert value('sum(aicc_http_requests_total{route="/v1/jobs", method="POST"})') > 0
    assert value('sum(aicc_http_requests_total{route="unmatched", status="404"}) or vector(0)') == 0
    assert value('sum(aicc_http_requests_total{route="/v1/jobs/{job_id}", status="404"})') > 0
    assert value("sum(aicc_reconcile_repairs_total)") > 0
    # The invariant behind AICCTenantAboveLimit, over the whole run, and the alert itself.
    above = query_range(live, "aicc_tenant_used_flops > aicc_tenant_limit_flops")
    assert above == []
    assert get_json(f"{live.prom_url}/api/v1/query",
                    {"query": 'ALERTS{alertname="AICCTenantAboveLimit"}'})["data"]["result"] == []
    # The rules loaded and evaluate without errors.
    groups = get_json(f"{live.prom_url}/api/v1/rules")["data"]["groups"]
    assert {g["name"] for g in groups} == {"aicc-recording", "aicc-alerts"}
    for g in groups:
        for rule in g["rules"]:
            assert rule["health"] in ("ok", "unknown"), rule


def test_promtool_accepts_the_live_exposition(live: Live) -> None:
    promtool = need_binary("promtool")
    with urllib.request.urlopen(f"{live.app_url}/metrics", timeout=5) as r:
        body = r.read()
    assert b"aicc_tenant_used_flops" in body and b"aicc_http_requests_total" in body
    run = subprocess.run([promtool, "check", "metrics"], input=body, capture_output=True, timeout=30)
    assert run.returncode == 0, run.stdout.decode() + run.stderr.decode()
