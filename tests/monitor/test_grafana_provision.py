"""``aicc grafana provision`` against a loopback Grafana API (tests/monitor/fake_grafana.py),
through aicc's httpx client (monitor/grafana_api.py) and real HTTP: creates, is idempotent, --dry-run writes nothing,
412 conflicts are retried, file-provisioned dashboards are left to their owner."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from typer.testing import CliRunner

from monitor.grafana import DATASOURCE_UID, FOLDER_UID, load_dashboards
from scheduler.cli import build
from tests.monitor.fake_grafana import FakeGrafana, GrafanaState
from tests.monitor.helpers import free_port

TOKEN = "glsa_test_token"
UIDS = {"aicc-center-overview", "aicc-tenant", "aicc-scheduler-health"}


@pytest.fixture
def grafana() -> Iterator[FakeGrafana]:
    with FakeGrafana(free_port(), TOKEN) as g:
        yield g


def provision(g: FakeGrafana, *extra: str, token: str = TOKEN) -> tuple[int, dict[str, Any], str]:
    result = CliRunner().invoke(build(), ["grafana", "provision", "--url", g.url, "--token", token,
                                          "--prometheus-url", "http://prometheus:9090", "-o", "json",
                                          *extra])
    out = result.stdout
    body = json.loads(out[:out.rindex("}") + 1]) if "{" in out else {}
    return result.exit_code, body, result.stderr


def actions(body: dict[str, Any]) -> dict[str, str]:
    return {c["uid"]: c["action"] for c in body["changes"]}


def test_first_run_creates_everything_and_second_run_changes_nothing(grafana: FakeGrafana) -> None:
    code, body, _ = provision(grafana)
    assert code == 0
    assert actions(body) == {DATASOURCE_UID: "create", FOLDER_UID: "create",
                             **dict.fromkeys(UIDS, "create")}
    s = grafana.state
    assert set(s.datasources) == {DATASOURCE_UID}
    assert s.datasources[DATASOURCE_UID]["type"] == "prometheus"
    assert s.datasources[DATASOURCE_UID]["url"] == "http://prometheus:9090"
    assert set(s.folders) == {FOLDER_UID}
    assert set(s.dashboards) == UIDS
    assert all(e["folderUid"] == FOLDER_UID for e in s.dashboards.values())
    # The datasource variable preselects the provisioned data source.
    var = s.dashboards["aicc-tenant"]["dashboard"]["templating"]["list"][0]
    assert var["name"] == "datasource" and var["current"]["value"] == DATASOURCE_UID
    writes = len(s.writes)
    # A Grafana may add fields of its own on save: not a change.
    for entry in s.dashboards.values():
        entry["dashboard"]["gnetId"] = None

    code, body, _ = provision(grafana)
    assert code == 0
    assert set(actions(body).values()) == {"unchanged"}
    assert len(s.writes) == writes, "a second run must not write"
    assert len(s.dashboards) == 3 and len(s.folders) == 1 and len(s.datasources) == 1
    assert {e["dashboard"]["version"] for e in s.dashboards.values()} == {1}


def test_dry_run_reports_and_writes_nothing(grafana: FakeGrafana) -> None:
    code, body, _ = provision(grafana, "--dry-run")
    assert code == 0 and body["dryRun"] is True
    assert set(actions(body).values()) == {"create"}
    assert grafana.state.writes == []
    assert not grafana.state.dashboards and not grafana.state.folders and not grafana.state.datasources

    provision(grafana)
    grafana.state.edit_dashboard("aicc-tenant", "edited in the UI")
    grafana.state.datasources[DATASOURCE_UID]["url"] = "http://old:9090"
    before = len(grafana.state.writes)
    code, body, _ = provision(grafana, "--dry-run")
    assert code == 0
    assert actions(body)["aicc-tenant"] == "update"
    assert actions(body)[DATASOURCE_UID] == "update"
    assert actions(body)["aicc-center-overview"] == "unchanged"
    assert len(grafana.state.writes) == before
    assert grafana.state.dashboards["aicc-tenant"]["dashboard"]["title"] == "edited in the UI"


def test_table_output_says_what_would_change(grafana: FakeGrafana) -> None:
    result = CliRunner().invoke(build(), ["grafana", "provision", "--url", grafana.url,
                                          "--token", TOKEN, "--dry-run"])
    assert result.exit_code == 0
    assert "KIND" in result.stdout and "would create" in result.stdout
    assert "aicc-scheduler-health" in result.stdout


def test_changed_objects_are_updated_in_place(grafana: FakeGrafana) -> None:
    provision(grafana)
    s = grafana.state
    s.edit_dashboard("aicc-tenant", "edited in the UI")
    s.datasources[DATASOURCE_UID]["url"] = "http://old:9090"
    s.folders[FOLDER_UID]["title"] = "renamed"
    code, body, _ = provision(grafana)
    assert code == 0
    assert actions(body) == {DATASOURCE_UID: "update", FOLDER_UID: "update", "aicc-tenant": "update",
                             "aicc-center-overview": "unchanged", "aicc-scheduler-health": "unchanged"}
    shipped = {b["uid"]: b for b in load_dashboards()}
    assert s.dashboards["aicc-tenant"]["dashboard"]["title"] == shipped["aicc-tenant"]["title"]
    assert s.dashboards["aicc-tenant"]["dashboard"]["version"] == 3
    assert s.datasources[DATASOURCE_UID]["url"] == "http://prometheus:9090"
    assert s.folders[FOLDER_UID]["title"] == "aicc"
    assert len(s.dashboards) == 3


def test_a_save_in_between_412_is_read_again_and_retried(grafana: FakeGrafana) -> None:
    provision(grafana)
    s = grafana.state
    s.edit_dashboard("aicc-tenant", "edited in the UI")
    raced: list[int] = []

    def someone_saves_first(state: GrafanaState, body: dict[str, Any]) -> None:
        if body["dashboard"]["uid"] == "aicc-tenant" and not raced:
            raced.append(1)
            state.edit_dashboard("aicc-tenant", "saved meanwhile")

    s.before_save = someone_saves_first
    before = len(s.writes)
    code, body, _ = provision(grafana)
    assert code == 0 and raced
    assert actions(body)["aicc-tenant"] == "update"
    # two POSTs for that dashboard: the 412 and the retry on the version read again
    assert s.writes[before:] == [("POST", "/api/dashboards/db")] * 2
    assert s.dashboards["aicc-tenant"]["dashboard"]["title"] == "aicc / Tenant"


def test_file_provisioned_dashboard_is_left_to_its_owner(grafana: FakeGrafana) -> None:
    provision(grafana)
    s = grafana.state
    s.dashboards["aicc-tenant"]["provisioned"] = True
    s.edit_dashboard("aicc-tenant", "from files")
    code, body, err = provision(grafana)
    assert code == 1
    assert actions(body)["aicc-tenant"] == "conflict"
    assert "one owner" in err
    assert s.dashboards["aicc-tenant"]["dashboard"]["title"] == "from files"


def test_grafana_400_on_a_provisioned_dashboard_is_a_conflict_not_a_crash(grafana: FakeGrafana) -> None:
    """Older Grafana does not say meta.provisioned; the save then answers 400."""
    provision(grafana)
    s = grafana.state
    s.edit_dashboard("aicc-tenant", "from files")
    s.dashboards["aicc-tenant"]["provisioned"] = True
    s.hide_provisioned_meta = True
    code, body, _err = provision(grafana)
    assert code == 1
    change = next(c for c in body["changes"] if c["uid"] == "aicc-tenant")
    assert change["action"] == "conflict" and "Cannot save provisioned dashboard" in change["detail"]


def test_read_only_datasource_is_a_conflict(grafana: FakeGrafana) -> None:
    provision(grafana)
    ds = grafana.state.datasources[DATASOURCE_UID]
    ds.update(readOnly=True, url="http://from-file:9090")
    code, body, _err = provision(grafana)
    assert code == 1
    assert actions(body)[DATASOURCE_UID] == "conflict"
    assert ds["url"] == "http://from-file:9090"


def test_bad_token_and_unreachable_grafana_fail_in_one_line(grafana: FakeGrafana) -> None:
    code, _, err = provision(grafana, token="wrong")
    assert code == 1 and "Unauthorized" in err and err.count("\n") == 1
    port = free_port()
    result = CliRunner().invoke(build(), ["grafana", "provision", "--url", f"http://127.0.0.1:{port}",
                                          "--token", TOKEN])
    assert result.exit_code == 1 and "cannot reach Grafana" in result.stderr
