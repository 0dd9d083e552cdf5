"""A client that times out retries with the same Idempotency-Key: one job, whatever happened.

Against a real ``aicc serve``: the client gives up before the answer (it closes
the connection), retries, and gets the job the first attempt made; many
clients racing with one key get one job; a retry after the server was killed
and restarted gets the job acknowledged before the crash.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from tests.reliability.harness import ServeProcess, all_jobs, auth, issue_token, write_center

ADMIN = "retry-admin-token-8e2d4b6a0c1f3e5d7b9a"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    d = tmp_path_factory.mktemp("retry")
    proc = ServeProcess(d, write_center(d / "center.yaml", {"t1": 16, "t2": 16}), None, ADMIN)
    proc.start()
    try:
        yield proc
    finally:
        proc.kill9()


@pytest.fixture(scope="module")
def token(server: ServeProcess) -> str:
    return issue_token(server.url, ADMIN, "t1")


def job(name: str) -> dict[str, Any]:
    return {"name": name, "kind": "batch", "resources": {"accelerators": 1},
            "runtime_env": {"sleep_s": 600}}


def named(server: ServeProcess, name: str) -> list[dict[str, Any]]:
    return [j for j in all_jobs(server.url, ADMIN) if j["name"] == name]


def send_and_hang_up(server: ServeProcess, token: str, key: str, body: dict[str, Any]) -> None:
    """Send the whole request, then close without reading the answer (a client timeout)."""
    data = orjson.dumps(body)
    head = (f"POST /v1/jobs HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
            f"Authorization: Bearer {token}\r\nIdempotency-Key: {key}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n").encode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as s:
        s.sendall(head + data)


def test_retry_after_the_client_gave_up_returns_the_same_job(server: ServeProcess, token: str) -> None:
    send_and_hang_up(server, token, "hang-up-1", job("hang-up-1"))
    deadline = time.monotonic() + 10
    while not named(server, "hang-up-1"):  # the server carried on without the client
        assert time.monotonic() < deadline, "the abandoned submission was never recorded"
        time.sleep(0.05)
    first = named(server, "hang-up-1")[0]["id"]
    r = httpx.post(f"{server.url}/v1/jobs", json=job("hang-up-1"),
                   headers={**auth(token), "Idempotency-Key": "hang-up-1"}, timeout=10)
    assert r.status_code == 200, r.text
    assert r.json()["id"] == first
    assert len(named(server, "hang-up-1")) == 1


def test_retry_while_the_first_attempt_is_still_in_flight_makes_one_job(
        server: ServeProcess, token: str) -> None:
    for i in range(5):
        name = f"in-flight-{i}"
        send_and_hang_up(server, token, name, job(name))  # no waiting: it may not be recorded yet
        r = httpx.post(f"{server.url}/v1/jobs", json=job(name),
                       headers={**auth(token), "Idempotency-Key": name}, timeout=10)
        assert r.status_code in (200, 201), r.text
        time.sleep(0.2)  # let an abandoned first attempt land, if it was second
        assert [j["id"] for j in named(server, name)] == [r.json()["id"]]


def test_clients_racing_with_one_key_get_one_job(server: ServeProcess, token: str) -> None:
    headers = {**auth(token), "Idempotency-Key": "race-1"}
    ids: list[str] = []
    statuses: list[int] = []
    lock = threading.Lock()
    go = threading.Event()

    def submit() -> None:
        go.wait()
        r = httpx.post(f"{server.url}/v1/jobs", json=job("race-1"), headers=headers, timeout=20)
        with lock:
            statuses.append(r.status_code)
            if r.status_code in (200, 201):
                ids.append(r.json()["id"])

    threads = [threading.Thread(target=submit) for _ in range(16)]
    for t in threads:
        t.start()
    go.set()
    for t in threads:
        t.join(30)
    assert sorted(statuses).count(201) == 1 and statuses.count(200) == 15, statuses
    assert len(set(ids)) == 1
    assert [j["id"] for j in named(server, "race-1")] == ids[:1]


def test_the_same_key_in_another_tenant_is_another_job(server: ServeProcess, token: str) -> None:
    other = issue_token(server.url, ADMIN, "t2")
    a = httpx.post(f"{server.url}/v1/jobs", json=job("shared-key"),
                   headers={**auth(token), "Idempotency-Key": "shared"}, timeout=10)
    b = httpx.post(f"{server.url}/v1/jobs", json=job("shared-key"),
                   headers={**auth(other), "Idempotency-Key": "shared"}, timeout=10)
    assert a.status_code == b.status_code == 201
    assert a.json()["id"] != b.json()["id"] and b.json()["tenant"] == "t2"


def test_retry_after_a_crash_gets_the_job_acknowledged_before_it(server: ServeProcess, token: str,
                                                                tmp_path: Path) -> None:
    headers = {**auth(token), "Idempotency-Key": "crash-retry-1"}
    r = httpx.post(f"{server.url}/v1/jobs", json=job("crash-retry-1"), headers=headers, timeout=10)
    assert r.status_code == 201, r.text
    server.kill9()
    server.start()
    again = httpx.post(f"{server.url}/v1/jobs", json=job("crash-retry-1"), headers=headers, timeout=10)
    assert again.status_code == 200, again.text
    assert again.json()["id"] == r.json()["id"]
    other = httpx.post(f"{server.url}/v1/jobs", json={**job("crash-retry-1"), "kind": "training"},
                       headers=headers, timeout=10)
    assert other.status_code == 422 and other.json()["type"].endswith("/idempotency-key-reused")
    assert len(named(server, "crash-retry-1")) == 1
