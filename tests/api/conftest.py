"""The ASGI app over a real store (SQLite and PostgreSQL) and a live scheduling loop."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from scheduler.api import create_app
from scheduler.centerfile import CenterConfig, build_center
from scheduler.engine.clock import SystemClock
from scheduler.executors.sleep import SleepExecutor
from scheduler.service import Service, Settings
from scheduler.store import SqlStore

ADMIN = "admin-secret-for-tests"

#: 4 nodes x 8 a800 = 32 devices = 9.984P; acme and beta are guaranteed 10 devices each.
CENTER: dict[str, Any] = {
    "name": "test",
    "accelerators": [{"name": "a800", "vendor_resource": "nvidia.com/gpu", "ray_resource": "GPU",
                      "memory": "80Gi", "tflops": {"fp16": 312}}],
    "pools": [{"name": "a800", "accelerator": "a800", "racks": 2, "nodes_per_rack": 2,
               "devices_per_node": 8, "cpus_per_node": 128, "memory_per_node": "1Ti"}],
    "tenants": [{"name": "acme", "guaranteed": "3.12P", "limit": "6.24P"},
                {"name": "beta", "guaranteed": "3.12P", "limit": "9.984P"}],
}


def small_center() -> CenterConfig:
    return build_center(CENTER)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'aicc.db'}"
    server = request.getfixturevalue("postgres_server")
    return str(server.fresh_database())


@pytest.fixture
def service(db_url: str, tmp_path: Path) -> Iterator[Service]:
    settings = Settings(data_dir=tmp_path, db_url=db_url, admin_token=ADMIN,  # type: ignore[arg-type]
                        step_interval_s=0.2, min_step_gap_s=0.0)
    clock = SystemClock()
    store = SqlStore(db_url, clock=clock)
    svc = Service(settings, store, small_center(), SleepExecutor(clock), clock)
    svc.start()
    yield svc
    svc.stop()
    store.close()


@pytest.fixture
def client(service: Service) -> Iterator[TestClient]:
    with TestClient(create_app(service.settings, service), raise_server_exceptions=False) as c:
        yield c


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def admin() -> dict[str, str]:
    return auth(ADMIN)


@pytest.fixture
def tenant_token(client: TestClient, admin: dict[str, str]) -> Callable[[str], dict[str, str]]:
    def issue(name: str) -> dict[str, str]:
        r = client.post(f"/v1/admin/tenants/{name}/tokens", headers=admin, json={"name": "tests"})
        assert r.status_code == 201, r.text
        return auth(r.json()["token"])

    return issue


def job_body(name: str = "bert-finetune", *, workers: int = 1, devices: int = 8, sleep_s: float = 30,
             **extra: Any) -> dict[str, Any]:
    return {"name": name, "kind": "finetune", "workers": workers,
            "resources": {"accelerators": devices, "accelerator_types": ["a800"], "cpus": 16,
                          "memory": "128Gi"},
            "priority": "normal", "preemptible": True, "max_runtime_s": 3600,
            "estimated_runtime_s": 1800, "entrypoint": "python train.py",
            "runtime_env": {"sleep_s": sleep_s}, **extra}
