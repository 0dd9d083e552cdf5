"""The API in process over a real store and a live scheduling loop, with tenant and admin tokens."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from scheduler.api import create_app
from scheduler.centerfile import build_center
from scheduler.engine.clock import SystemClock
from scheduler.executors.sleep import SleepExecutor
from scheduler.service import Service, Settings
from scheduler.store import SqlStore
from tests.centers import CENTER as SMALL_CENTER
from tests.reliability.pg import postgres_23k  # noqa: F401

ADMIN = "admin-token-for-security-tests-0123456789abcdef"
_names = itertools.count()

#: the tests' small center (4 nodes x 8 a800; two tenants, each guaranteed 10 devices)
CENTER: dict[str, Any] = {**SMALL_CENTER, "name": "security"}

Headers = dict[str, str]


def auth(token: str) -> Headers:
    return {"Authorization": f"Bearer {token}"}


def job_body(name: str = "bert-finetune", *, devices: int = 1, sleep_s: float = 600,
             **extra: Any) -> dict[str, Any]:
    return {"name": name, "kind": "finetune", "workers": 1,
            "resources": {"accelerators": devices, "accelerator_types": ["a800"], "cpus": 4,
                          "memory": "16Gi"},
            "entrypoint": "python train.py", "runtime_env": {"sleep_s": sleep_s}, **extra}


def make_service(db_url: str, data_dir: Path, admin_token: str | None = ADMIN) -> Service:
    settings = Settings.model_validate({"data_dir": data_dir, "db_url": db_url,
                                        "admin_token": admin_token, "step_interval_s": 0.2,
                                        "min_step_gap_s": 0.0})
    clock = SystemClock()
    store = SqlStore(db_url, clock=clock)
    return Service(settings, store, build_center(CENTER), SleepExecutor(clock), clock)


@pytest.fixture(params=["sqlite"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'aicc.db'}"
    server = request.getfixturevalue("postgres_23k")
    return str(server.create_database(f"sec_{next(_names)}"))


@pytest.fixture
def service(db_url: str, tmp_path: Path) -> Iterator[Service]:
    svc = make_service(db_url, tmp_path)
    svc.start()
    yield svc
    svc.stop()
    svc.store.close()


@pytest.fixture
def client(service: Service) -> Iterator[TestClient]:
    with TestClient(create_app(service.settings, service), raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def admin() -> Headers:
    return auth(ADMIN)


@pytest.fixture
def issue(client: TestClient, admin: Headers) -> Callable[[str], Headers]:
    def issue_(tenant: str) -> Headers:
        r = client.post(f"/v1/admin/tenants/{tenant}/tokens", headers=admin, json={"name": "tests"})
        assert r.status_code == 201, r.text
        return auth(r.json()["token"])

    return issue_


def assert_problem(r: Any, status: int | tuple[int, ...]) -> dict[str, Any]:
    """A clean refusal: the status asked for, as RFC 9457 problem+json."""
    statuses = (status,) if isinstance(status, int) else status
    assert r.status_code in statuses, (r.status_code, r.text[:500])
    assert r.headers["content-type"] == "application/problem+json", r.headers
    body: dict[str, Any] = r.json()
    assert body["status"] == r.status_code and body["type"].startswith("https://")
    assert "Traceback" not in r.text
    return body
