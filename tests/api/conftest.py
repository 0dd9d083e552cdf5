"""The ASGI app over a real store (SQLite and PostgreSQL) and a live scheduling loop."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from scheduler.api import create_app
from scheduler.engine.clock import SystemClock
from scheduler.executors.sleep import SleepExecutor
from scheduler.service import Service, Settings
from scheduler.store import SqlStore
from tests.centers import small_center

ADMIN = "admin-secret-for-tests"


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
