"""The client against a live ``aicc serve``: every route, typed errors, paging, retries."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from scheduler.api.models import JobOut, TenantOut
from scheduler.client import (
    ApiError,
    Client,
    Conflict,
    Forbidden,
    IdempotencyKeyReused,
    InvalidQuota,
    InvalidRequest,
    JobNotFound,
    NodeNotFound,
    NotFound,
    Overcommitted,
    ProtocolError,
    TenantExists,
    TenantNotFound,
    TenantTokenRequired,
    TransportError,
    Unauthorized,
    ValidationFailed,
)
from tests.client.live import LiveServer, job_spec

NewTenant = Callable[..., tuple[str, Client]]


def wait_state(c: Client, job_id: str, *states: str, timeout_s: float = 10.0) -> JobOut:
    deadline = time.monotonic() + timeout_s
    while True:
        j = c.job(job_id)
        if j.state in states or time.monotonic() > deadline:
            return j
        time.sleep(0.05)


# -- typed errors --------------------------------------------------------------------------


def test_a_problem_becomes_its_own_exception_with_type_title_status_detail(admin: Client) -> None:
    with pytest.raises(TenantNotFound) as err:
        admin.tenant("no-such-tenant")
    e = err.value
    assert isinstance(e, NotFound) and isinstance(e, ApiError)
    assert e.type == "https://aicc.dev/problems/tenant-not-found"
    assert e.title == "Tenant not found" and e.status == 404
    assert "no-such-tenant" in e.detail
    assert e.instance == "/v1/admin/tenants/no-such-tenant"
    with pytest.raises(JobNotFound):
        admin.job("j999999")
    with pytest.raises(NodeNotFound):
        admin.cordon("no-such-node")


def test_tokens_and_roles_map_to_unauthorized_and_forbidden(server: LiveServer, new_tenant: NewTenant) -> None:
    _, tenant = new_tenant()
    with Client(server.url, "aicc_bogus_token") as bad, pytest.raises(Unauthorized) as err:
        bad.center()
    assert err.value.status == 401
    with pytest.raises(Forbidden):
        tenant.tenants()
    with Client(server.url, server.admin) as admin, pytest.raises(TenantTokenRequired):
        admin.submit(job_spec("needs-tenant"))


def test_malformed_units_are_refused_before_any_request(admin: Client) -> None:
    sent: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(500)

    spy = Client(admin.server, "x", transport=httpx.MockTransport(record))
    with pytest.raises(InvalidRequest, match="12X"):
        spy.set_quota("acme", guaranteed="12X")
    with pytest.raises(InvalidRequest, match="gpus: Extra inputs are not permitted"):
        spy.submit({**job_spec("x"), "gpus": 8})
    assert sent == []


def test_server_side_refusals_are_typed(admin: Client, new_tenant: NewTenant) -> None:
    name, _ = new_tenant()
    with pytest.raises(InvalidQuota, match="guaranteed must not exceed limit"):
        admin.set_quota(name, guaranteed="1P", limit="0.5P")
    with pytest.raises(Overcommitted):
        admin.set_quota(name, guaranteed="900P", limit="900P")
    with pytest.raises(TenantExists) as err:
        admin.create_tenant(name=name)
    assert isinstance(err.value, Conflict) and err.value.status == 409
    with pytest.raises(ValidationFailed, match="state"):
        list(admin.jobs(state=["sleeping"]))


def test_an_unreachable_server_is_a_transport_error_after_the_retries() -> None:
    slept: list[float] = []
    with Client("http://127.0.0.1:22999", "t", retries=2, sleep=slept.append) as c, \
            pytest.raises(TransportError, match="after 3 tries"):
        c.center()
    assert slept == [0.2, 0.4]


# -- jobs --------------------------------------------------------------------------------


def test_submit_get_logs_cancel(new_tenant: NewTenant) -> None:
    name, c = new_tenant()
    job = c.submit(job_spec("bert", devices=2))
    assert job.tenant == name and job.devices == 2 and job.state in ("pending", "admitted", "running")
    running = wait_state(c, job.id, "running")
    assert running.state == "running" and running.placement is not None
    assert job.id in c.logs(job.id).text
    cancelled = c.cancel(job.id)
    assert cancelled.state == "cancelled"
    assert c.cancel(job.id).state == "cancelled"  # a no-op on a finished job
    assert 0 < cancelled.ran_s < 60  # from its start to the cancel
    assert [e.state for e in c.job_events(job.id).items] == ["pending", "admitted", "running", "cancelled"]


class FlakyTransport(httpx.HTTPTransport):
    """Lets a request through to the server, then loses the answer (the first ``drops`` times)."""

    def __init__(self, drops: int, before_sending: bool = False) -> None:
        super().__init__()
        self.drops = drops
        self.before_sending = before_sending
        self.keys: list[str | None] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.keys.append(request.headers.get("idempotency-key"))
        if self.drops > 0:
            self.drops -= 1
            if self.before_sending:
                raise httpx.ConnectError("refused", request=request)
            super().handle_request(request).close()
            raise httpx.ReadTimeout("answer lost", request=request)
        return super().handle_request(request)


@pytest.mark.parametrize("before_sending", [True, False], ids=["connect-error", "answer-lost"])
def test_submit_retries_with_one_idempotency_key_and_makes_one_job(
        server: LiveServer, new_tenant: NewTenant, before_sending: bool) -> None:
    _name, tenant = new_tenant()
    token = tenant._http.headers["authorization"].split()[1]
    flaky = FlakyTransport(drops=2, before_sending=before_sending)
    with Client(server.url, token, transport=flaky, sleep=lambda s: None) as c:
        job = c.submit(job_spec("retried"))
    assert len(flaky.keys) == 3 and flaky.keys[0] and len(set(flaky.keys)) == 1
    assert [j.id for j in tenant.jobs(state=["pending", "admitted", "running"])] == [job.id]


def test_a_reused_idempotency_key_returns_the_same_job_and_refuses_another_body(new_tenant: NewTenant) -> None:
    _, c = new_tenant()
    first = c.submit(job_spec("once"), idempotency_key="key-1")
    again = c.submit(job_spec("once"), idempotency_key="key-1")
    assert again.id == first.id
    with pytest.raises(IdempotencyKeyReused):
        c.submit(job_spec("other"), idempotency_key="key-1")


def test_jobs_follows_continue_tokens_lazily_in_submission_order(
        server: LiveServer, admin: Client, new_tenant: NewTenant) -> None:
    name, c = new_tenant()
    ids = [c.submit(job_spec(f"page-{i}", devices=64)).id for i in range(5)]  # never fit: stay pending
    pages: list[int] = []

    class Counting(httpx.HTTPTransport):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            pages.append(1)
            return super().handle_request(request)

    token = c._http.headers["authorization"].split()[1]
    with Client(server.url, token, transport=Counting()) as counted:
        it = counted.jobs(page_size=2)
        assert next(it).id == ids[0] and len(pages) == 1  # one page fetched so far
        assert [ids[0]] + [j.id for j in it] == ids
    assert len(pages) == 3
    assert [j.id for j in admin.jobs(tenant=name, page_size=2)] == ids  # the admin route, by tenant
    page = admin.jobs_page(tenant=name, limit=4)
    assert len(page.items) == 4 and page.continue_


def test_the_admin_cancels_any_tenants_job(admin: Client, new_tenant: NewTenant) -> None:
    _, c = new_tenant()
    job = c.submit(job_spec("victim"))
    assert admin.cancel_any(job.id).state == "cancelled"
    assert any(e.action == "job.cancel" and e.target == job.id for e in admin.audit(target=job.id))


# -- admin: tenants, quotas, what-if, tokens ---------------------------------------------


def test_tenant_and_quota_lifecycle(admin: Client, new_tenant: NewTenant) -> None:
    name, _ = new_tenant(guaranteed="1P", limit="2P")
    assert name in [t.name for t in admin.tenants()]
    t = admin.set_quota(name, guaranteed="1.5P", limit="3P", lending_limit="0.5P", caps={"a800": 8}, weight=2)
    assert isinstance(t, TenantOut)
    assert (t.quota.guaranteed, t.quota.limit, t.quota.lending_limit, t.quota.caps, t.weight) == \
        ("1.5P", "3P", "500T", {"a800": 8}, 2.0)
    assert admin.quota(name) == admin.tenant(name) == t
    cleared = admin.set_quota(name, lending_limit=None)  # an explicit None clears it
    assert cleared.quota.lending_limit is None and cleared.quota.guaranteed == "1.5P"
    assert admin.update_tenant(name, weight=3).weight == 3.0
    history = admin.quota_history(name)
    assert (history[0].weight, history[1].lending_limit, history[2].lending_limit) == (3.0, None, "500T")
    assert history[-1].guaranteed == "1P" and all(h.actor == "admin" for h in history)
    gone = admin.delete_tenant(name, force=True)
    assert gone.name == name
    with pytest.raises(TenantNotFound):
        admin.tenant(name)


def test_a_tenant_with_live_jobs_is_not_deleted_without_force(admin: Client, new_tenant: NewTenant) -> None:
    name, c = new_tenant()
    job = c.submit(job_spec("keeps-it"))
    with pytest.raises(Conflict):
        admin.delete_tenant(name)
    assert admin.delete_tenant(name, force=True).cancelled_jobs == [job.id]


def test_whatif_shows_what_a_higher_limit_would_start(admin: Client, new_tenant: NewTenant) -> None:
    name, c = new_tenant(guaranteed="0.312P", limit="0.312P")  # one a800 device
    job = c.submit(job_spec("wider", devices=2))
    deadline = time.monotonic() + 10  # pending at once; QuotaExhausted once a step considered it
    while (j := wait_state(c, job.id, "pending")).reason != "QuotaExhausted" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert j.state == "pending" and j.reason == "QuotaExhausted", j
    w = admin.whatif([{"tenant": name, "limit": "1P"}])
    assert [s.job_id for s in w.would_start] == [job.id]
    assert w.start_because_of_change == [job.id]
    assert admin.quota(name).quota.limit == "312T"  # nothing changed


def test_tokens_issue_list_revoke(server: LiveServer, admin: Client, new_tenant: NewTenant) -> None:
    name, _ = new_tenant()
    issued = admin.issue_token(name, "robot")
    assert issued.token.startswith("aicc_") and issued.tenant == name
    assert issued.id in [t.id for t in admin.tokens(name)]
    assert issued.id in [t.id for t in admin.tokens()]
    with Client(server.url, issued.token) as c:
        assert c.usage().tenant == name
        assert admin.revoke_token(issued.id, tenant=name).revoked_at is not None
        with pytest.raises(Unauthorized):
            c.usage()


# -- admin: nodes, center, usage ------------------------------------------------------


def test_nodes_cordon_uncordon_drain(admin: Client, new_tenant: NewTenant) -> None:
    _, c = new_tenant(guaranteed="2.496P", limit="2.496P")
    job = wait_state(c, c.submit(job_spec("on-node", devices=8)).id, "running")
    assert job.placement is not None
    node = job.placement.nodes[0]
    try:
        assert admin.cordon(node).state == "cordoned"
        assert [n.name for n in admin.nodes(state="cordoned")] == [node]
        assert admin.uncordon(node).state == "ready"
        kept = admin.drain(node)
        assert kept.state == "cordoned" and kept.still_running == [job.id] and kept.preempted == []
        stopped = admin.drain(node, preempt=True)
        assert stopped.preempted == [job.id]
    finally:
        admin.uncordon(node)
    assert admin.node(node).state == "ready"
    assert {n.pool for n in admin.nodes(pool="ascend")} == {"ascend"}


def test_center_usage_and_ledger(admin: Client, new_tenant: NewTenant) -> None:
    name, c = new_tenant()
    center = admin.center()
    assert center.name == "test-center" and center.total.devices == 64
    assert [p.name for p in center.pools] == ["a800", "ascend"]
    job = wait_state(c, c.submit(job_spec("used", devices=2)).id, "running")
    time.sleep(0.2)
    c.cancel(job.id)
    u = c.usage()
    assert (u.tenant, u.guaranteed) == (name, "624T")
    assert name in [x.tenant for x in admin.usage_all()]
    assert admin.usage(name).tenant == name
    led = c.ledger(start="2020-01-01T00:00:00Z")
    assert [(x.tenant, x.accelerator, x.kind, x.jobs) for x in led.items] == [(name, "a800", "finetune", 1)]
    assert led.items[0].device_hours > 0 and led.total_pflops_hours == led.items[0].pflops_hours
    with pytest.raises(Forbidden):
        c.ledger(tenant="acme")


def test_audit_pages_oldest_first(admin: Client, new_tenant: NewTenant) -> None:
    name, _ = new_tenant()
    admin.set_quota(name, weight=2)
    entries = list(admin.audit(target=name, page_size=1))
    assert [e.action for e in entries][:3] == ["tenant.create", "token.issue", "quota.set"]
    assert [e.id for e in entries] == sorted(e.id for e in entries)


def test_health(admin: Client) -> None:
    assert admin.healthz().status == "ok" and admin.ready()


def test_errors_read_by_status_when_the_answer_is_not_a_problem() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/center":
            return httpx.Response(502, text="<html>bad gateway</html>")
        return httpx.Response(418, json={"type": "https://aicc.dev/problems/teapot", "title": "Teapot",
                                         "status": 418, "detail": "short and stout"})

    with Client("http://x", "t", transport=httpx.MockTransport(answer)) as c:
        with pytest.raises(ApiError) as err:
            c.center()
        assert err.value.status == 502 and err.value.type == "about:blank"
        with pytest.raises(ApiError) as err2:
            c.tenants()
    e: Any = err2.value
    assert (type(e), e.type, e.problem_code, e.detail) == (ApiError, "https://aicc.dev/problems/teapot",
                                                          "teapot", "short and stout")


def test_a_503_is_retried_for_submits_with_the_same_key_but_a_lost_create_is_not_repeated() -> None:
    seen: list[tuple[str, str, str | None]] = []
    job = {"id": "j1"}

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append((request.method, request.url.path, request.headers.get("idempotency-key")))
        if request.url.path == "/v1/admin/tenants":
            raise httpx.ReadTimeout("lost", request=request)
        if len(seen) == 1:
            return httpx.Response(503, json={"type": "https://aicc.dev/problems/store-unavailable",
                                             "title": "The store could not record the request", "status": 503})
        return httpx.Response(201, json=job)

    with Client("http://x", "t", transport=httpx.MockTransport(answer), sleep=lambda s: None) as c:
        with pytest.raises(ProtocolError, match="not a JobOut"):  # the fake answer is checked, not trusted
            c.submit(job_spec("x"))
        assert [s[0:2] for s in seen] == [("POST", "/v1/jobs")] * 2 and seen[0][2] == seen[1][2]
        seen.clear()
        with pytest.raises(TransportError, match="may or may not have been done"):
            c.create_tenant(name="once")
        assert len(seen) == 1
