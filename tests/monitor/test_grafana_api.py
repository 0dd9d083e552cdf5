"""monitor.grafana_api on httpx: what it sends (auth, paths under a sub-path) and how it reads
Grafana's answers (404 on a read is None; other errors keep Grafana's status and message)."""

from __future__ import annotations

import base64

import httpx
import pytest

from monitor.grafana_api import GrafanaApi, GrafanaError


def recording(status: int, body: object) -> tuple[list[httpx.Request], httpx.MockTransport]:
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(status, json=body)

    return seen, httpx.MockTransport(handle)


def test_token_is_a_bearer_and_a_sub_path_is_kept() -> None:
    seen, transport = recording(200, {"uid": "aicc"})
    with GrafanaApi("http://grafana.example/grafana", "glsa_x", transport=transport) as api:
        assert api.get_folder("a b/c") == {"uid": "aicc"}
    assert str(seen[0].url) == "http://grafana.example/grafana/api/folders/a%20b%2Fc"
    assert seen[0].headers["authorization"] == "Bearer glsa_x"


def test_user_and_password_in_the_url_are_basic_auth_not_sent_in_the_url() -> None:
    seen, transport = recording(200, {"database": "ok"})
    GrafanaApi("http://admin:s3cret@grafana:3000", transport=transport).health()
    assert seen[0].headers["authorization"] == "Basic " + base64.b64encode(b"admin:s3cret").decode()
    assert seen[0].url.userinfo == b""


def test_404_on_a_read_is_none_and_other_errors_keep_status_message_and_reason() -> None:
    _, transport = recording(404, {"message": "Dashboard not found"})
    api = GrafanaApi("http://g", "t", transport=transport)
    assert api.get_dashboard("x") is None
    with pytest.raises(GrafanaError) as err:
        api.save_dashboard({"dashboard": {}})
    assert err.value.status == 404 and err.value.message == "Dashboard not found"

    _, transport = recording(412, {"status": "version-mismatch", "message": "changed by someone else"})
    with pytest.raises(GrafanaError) as err:
        GrafanaApi("http://g", "t", transport=transport).save_dashboard({"dashboard": {}})
    assert (err.value.status, err.value.reason) == (412, "version-mismatch")


def test_no_answer_is_status_0() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with pytest.raises(GrafanaError) as err:
        GrafanaApi("http://g", "t", transport=httpx.MockTransport(refuse)).health()
    assert err.value.status == 0 and "connection refused" in err.value.message
