"""Bearer tokens: random (>= 256 bits), stored hashed, compared in constant time, revocable at
once; the admin token never reaches a log; the generated admin token's file is 0600."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from scheduler.service import Service
from scheduler.service import tokens as tok
from scheduler.store import make_engine
from scheduler.store.models import TokenRow
from tests.reliability.harness import ServeProcess, write_center
from tests.security.conftest import ADMIN, Headers, assert_problem, auth, job_body, make_service

Issue = Callable[[str], Headers]


def issue_raw(client: TestClient, admin: Headers, tenant: str = "acme") -> dict[str, Any]:
    r = client.post(f"/v1/admin/tenants/{tenant}/tokens", headers=admin, json={"name": "t"})
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


def secret_bits(token: str) -> int:
    """Bits of the random secret after ``aicc_<id>_`` (base64url, unpadded)."""
    secret = token.split("_", 2)[2]
    return len(base64.urlsafe_b64decode(secret + "=" * (-len(secret) % 4))) * 8


def test_tokens_are_random_with_at_least_256_bits(client: TestClient, admin: Headers) -> None:
    tokens = [issue_raw(client, admin)["token"] for _ in range(40)]
    assert len(set(tokens)) == len(tokens)
    assert all(secret_bits(t) >= 256 for t in tokens), tokens[0]
    secrets_ = [t.split("_", 2)[2] for t in tokens]
    # No shared prefix beyond chance: the secrets are not a counter or a clock.
    assert len({s[:6] for s in secrets_}) == len(secrets_)
    assert len({tok.new_token()[1] for _ in range(1000)}) == 1000


def test_tokens_are_stored_only_as_sha256(client: TestClient, admin: Headers, service: Service,
                                          db_url: str) -> None:
    issued = issue_raw(client, admin)
    token, secret = issued["token"], issued["token"].split("_", 2)[2]
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(TokenRow.__table__)).mappings().all()
    finally:
        engine.dispose()
    row = next(r for r in rows if r["id"] == issued["id"])
    assert row["sha256"] == hashlib.sha256(token.encode()).hexdigest()
    for r in rows:
        assert all(secret not in str(v) for v in r.values())
    if db_url.startswith("sqlite:///"):
        service.store.engine.dispose()
        for f in Path(db_url.removeprefix("sqlite:///")).parent.glob("aicc.db*"):
            assert secret.encode() not in f.read_bytes(), f
    listed = client.get("/v1/admin/tokens", headers=admin).text
    assert secret not in listed and "sha256" not in listed


def test_tokens_are_compared_in_constant_time(client: TestClient, admin: Headers, service: Service,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    token = issue_raw(client, admin)["token"]
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(tok.hmac, "compare_digest", spy)
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    assert service.authenticate(token) is not None
    assert service.authenticate(forged) is None  # right id, wrong secret
    assert service.authenticate(ADMIN) is not None
    assert service.authenticate(ADMIN + "x") is None
    # Every decision went through hmac.compare_digest on the digests, never ==.
    assert len(calls) >= 4
    assert all(len(a) == len(b) == 64 for a, b in calls)


def test_a_revoked_token_fails_on_the_very_next_request(client: TestClient, admin: Headers,
                                                         service: Service, db_url: str,
                                                         tmp_path: Path) -> None:
    issued = issue_raw(client, admin)
    acme = auth(issued["token"])
    assert client.get("/v1/jobs", headers=acme).status_code == 200
    r = client.delete(f"/v1/admin/tenants/acme/tokens/{issued['id']}", headers=admin)
    assert r.status_code == 200 and r.json()["revoked_at"] is not None
    assert_problem(client.get("/v1/jobs", headers=acme), 401)
    assert_problem(client.post("/v1/jobs", headers=acme, json=job_body()), 401)
    other = issue_raw(client, admin)
    assert client.delete(f"/v1/admin/tokens/{other['id']}", headers=admin).status_code == 200
    assert_problem(client.get("/v1/usage", headers=auth(other["token"])), 401)
    # Still revoked for a service started afresh on the same database.
    service.stop()
    again = make_service(db_url, tmp_path / "again")
    try:
        assert again.authenticate(issued["token"]) is None
        assert again.authenticate(other["token"]) is None
    finally:
        again.store.close()


def test_deleting_a_tenant_revokes_its_tokens(client: TestClient, admin: Headers) -> None:
    assert client.post("/v1/admin/tenants", headers=admin, json={"name": "gone"}).status_code == 201
    token = auth(issue_raw(client, admin, "gone")["token"])
    assert client.get("/v1/jobs", headers=token).status_code == 200
    assert client.delete("/v1/admin/tenants/gone", headers=admin).status_code == 200
    assert_problem(client.get("/v1/jobs", headers=token), 401)


def test_the_generated_admin_token_file_is_0600(tmp_path: Path) -> None:
    old = os.umask(0)  # even with a careless umask
    try:
        path = tmp_path / "admin-token"
        path.write_text("stale\n")
        path.chmod(0o644)  # and over a file left world-readable
        svc = make_service(f"sqlite:///{tmp_path / 'aicc.db'}", tmp_path, admin_token=None)
    finally:
        os.umask(old)
    try:
        assert svc.generated_admin_token is not None
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert path.read_text().strip() == svc.generated_admin_token
        assert secret_bits(svc.generated_admin_token) >= 256
        assert svc.authenticate(svc.generated_admin_token) is not None
    finally:
        svc.store.close()


def exercise(base: str, admin_token: str) -> None:
    """Use the admin token everywhere, right and wrong, so a careless log line would show it."""
    admin = auth(admin_token)
    with httpx.Client(base_url=base, timeout=20) as c:
        assert c.get("/v1/admin/tenants", headers=admin).status_code == 200
        r = c.post("/v1/admin/tenants/t1/tokens", headers=admin, json={"name": "ci"})
        tenant = auth(r.json()["token"])
        assert c.post("/v1/jobs", headers=tenant, json=job_body(sleep_s=0.1)).status_code == 201
        assert c.post("/v1/jobs", headers=admin, json=job_body()).status_code == 403
        assert c.get("/v1/jobs", headers={"Authorization": f"Basic {admin_token}"}).status_code == 401
        assert c.get("/v1/jobs", headers={"Authorization": f"Bearer {admin_token}x"}).status_code == 401
        assert c.get(f"/v1/jobs?token={admin_token}", headers=tenant).status_code == 200
        assert c.get(f"/v1/jobs/{admin_token}", headers=admin).status_code == 404
        assert c.put("/v1/admin/tenants/t1/quota", headers=admin,
                     json={"guaranteed": admin_token}).status_code == 422
        assert c.get("/v1/usage/ledger", headers=admin, params={"start": admin_token}).status_code == 422
        c.get("/metrics", headers=admin)
        assert c.get("/v1/admin/audit", headers=admin).status_code == 200


@pytest.mark.parametrize("given", [True, False], ids=["from-environment", "generated"])
def test_the_admin_token_never_appears_in_logs(tmp_path: Path, given: bool) -> None:
    center = write_center(tmp_path / "center.yaml", {"t1": 8})
    token = "aicc-admin-" + os.urandom(24).hex() if given else None
    server = ServeProcess(tmp_path, center, None, token, log_level="debug")
    server.start()
    try:
        if token is None:
            token_file = tmp_path / "admin-token"
            assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
            token = token_file.read_text().strip()
        exercise(server.url, token)
        audit = httpx.get(f"{server.url}/v1/admin/audit", headers=auth(token), timeout=10).text
    finally:
        server.stop()
    log = server.log()
    assert "Uvicorn running" in log or "Application startup complete" in log, log[-2000:]
    secret = token.split("_", 2)[-1]
    assert token not in log and secret not in log, "the admin token is in the server's output"
    assert token not in audit and secret not in audit
    assert str(tmp_path / "admin-token") in log or given  # it says where the token is instead
