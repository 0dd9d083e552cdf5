"""``aicc center|tenant|quota|token|node|audit`` against a live server: happy paths, bad input,
and ``-o json|yaml`` equal to the API's own answer."""

from __future__ import annotations

import json
from collections.abc import Callable

import yaml

from scheduler.client import Client, TenantNotFound
from tests.cli.conftest import Cli
from tests.client.live import job_spec

NewTenant = Callable[..., tuple[str, str]]


def _stable(center: dict[str, object]) -> str:
    """The center without what running jobs change from one moment to the next."""
    text = json.dumps(center, sort_keys=True)
    data = json.loads(text)
    for part in [data["total"], *data["pools"], *data["accelerators"]]:
        for k in ("allocated_devices", "allocated_pflops", "free_devices", "free_pflops"):
            part.pop(k)
    return json.dumps(data, sort_keys=True)


def test_center_show(cli: Cli, admin: Client) -> None:
    out = cli.ok("center", "show").stdout
    assert "Center test-center: 20.1 PFLOPS" in out
    header = out.splitlines()[2].split()
    assert header[:6] == ["POOL", "ACCELERATOR", "NODES", "RACKS", "DEVICES", "ALLOCATED"]
    total = next(line.split() for line in out.splitlines() if line.startswith("total"))
    assert total[:4] == ["total", "8", "3", "64"]  # nodes, racks, devices
    assert "ascend910b   320" in out
    assert out.rstrip().splitlines()[-1] == "Scheduler: one replica (no leader election)"
    api = admin.request("GET", "/v1/center")
    assert _stable(json.loads(cli.ok("center", "show", "-o", "json").stdout)) == _stable(api)
    assert _stable(yaml.safe_load(cli.ok("center", "show", "-o", "yaml").stdout)) == _stable(api)


def test_tenant_create_list_get_delete(cli: Cli, admin: Client) -> None:
    out = cli.ok("tenant", "create", "robotics", "--guaranteed", "1P", "--limit", "2P",
                 "--cap", "a800=8", "--weight", "2").stdout
    assert out.split("\n")[1].split() == ["robotics", "-", "2", "1P", "2P", "-", "a800=8", "-", "0", "0", "isolated"]
    out = cli.ok("tenant", "update", "robotics", "--grace-period", "90").stdout
    assert out.split("\n")[1].split()[7:9] == ["90", "s"]
    assert admin.tenant("robotics").grace_period_s == 90
    cli.ok("tenant", "update", "robotics", "--default-grace", "--weight", "3")
    assert (admin.tenant("robotics").grace_period_s, admin.tenant("robotics").weight) == (None, 3)
    assert "nothing to update" in cli.fails("tenant", "update", "robotics")
    cli.ok("tenant", "update", "robotics", "--isolation", "shared")
    assert admin.tenant("robotics").isolation == "shared"
    assert "choose isolated or shared" in cli.fails("tenant", "update", "robotics", "--isolation", "open")
    listed = json.loads(cli.ok("tenant", "list", "-o", "json").stdout)
    assert listed == admin.request("GET", "/v1/admin/tenants")
    assert "robotics" in [t["name"] for t in listed["items"]]
    got = yaml.safe_load(cli.ok("tenant", "get", "robotics", "-o", "yaml").stdout)
    assert got == admin.request("GET", "/v1/admin/tenants/robotics")
    assert "tenant-exists" in cli.fails("tenant", "create", "robotics")
    assert "pass --yes" in cli.fails("tenant", "delete", "robotics")  # stdin is not a terminal
    assert admin.tenant("robotics").name == "robotics"
    shared = cli.ok("tenant", "create", "lab", "--isolation", "shared").stdout
    assert shared.split("\n")[1].split()[-1] == "shared"
    assert admin.tenant("lab").isolation == "shared"
    cli.ok("tenant", "delete", "lab", "--yes")
    assert cli.ok("tenant", "delete", "robotics", "--yes").stdout.strip() == "deleted tenant robotics"
    try:
        admin.tenant("robotics")
        raise AssertionError("still there")
    except TenantNotFound:
        pass


def test_a_tree_of_tenants_from_the_cli(cli: Cli, admin: Client) -> None:
    cli.ok("tenant", "create", "bank-a", "--guaranteed", "1P", "--limit", "2P")
    cli.ok("tenant", "create", "bank-b", "--guaranteed", "0.5P", "--limit", "2P")
    out = cli.ok("tenant", "create", "desk-a", "--parent", "bank-a", "--guaranteed", "0.5P", "--limit", "2P").stdout
    assert out.split("\n")[1].split()[:2] == ["desk-a", "bank-a"]
    assert admin.tenant("desk-a").parent == "bank-a"
    err = cli.fails("tenant", "create", "desk-b", "--parent", "bank-a", "--guaranteed", "0.6P")
    assert "children of bank-a" in err and "desk-b 600T" in err and "invalid-quota, HTTP 422" in err
    lines = cli.ok("quota", "list").stdout.splitlines()
    names = [line.split()[0] if not line.startswith(" ") and not line.startswith("└") else line.split()[1]
             for line in lines[1:]]
    assert names.index("desk-a") == names.index("bank-a") + 1  # under its parent, indented
    assert lines[names.index("desk-a") + 1].startswith("└ desk-a")
    cli.ok("tenant", "update", "desk-a", "--parent", "bank-b")  # moving a team: bank-b holds 0.5P
    assert admin.tenant("desk-a").parent == "bank-b"
    assert "tenant-has-children" in cli.fails("tenant", "delete", "bank-b", "--yes")
    cli.ok("tenant", "update", "desk-a", "--top-level")
    assert admin.tenant("desk-a").parent is None
    assert "give --parent or --top-level" in cli.fails("tenant", "update", "desk-a", "--parent", "x", "--top-level")
    for name in ("desk-a", "bank-a", "bank-b"):
        cli.ok("tenant", "delete", name, "--yes")


def test_tenant_bad_input(cli: Cli, admin: Client) -> None:
    before = len(admin.tenants())
    assert "cannot read compute '12X'" in cli.fails("tenant", "create", "bad", "--guaranteed", "12X")
    assert "--cap: expected TYPE=DEVICES" in cli.fails("tenant", "create", "bad", "--cap", "a800")
    assert "name: String should match pattern" in cli.fails("tenant", "create", "Bad_Name")
    assert len(admin.tenants()) == before
    assert cli.fails("tenant", "get", "nope") == \
        "error: tenant 'nope' not found (tenant-not-found, HTTP 404)"


def test_quota_set_get_history(cli: Cli, admin: Client, new_tenant: NewTenant) -> None:
    name, _ = new_tenant()
    out = cli.ok("quota", "set", name, "--guaranteed", "2P", "--limit", "4P", "--lending-limit", "1P",
                 "--cap", "a800=16", "--cap", "ascend910b=8", "--weight", "2").stdout
    assert "Guaranteed:    2P (2 PFLOPS)" in out and "Caps:          a800=16,ascend910b=8" in out
    q = admin.quota(name).quota
    assert (q.guaranteed, q.limit, q.lending_limit, q.caps) == ("2P", "4P", "1P", {"a800": 16, "ascend910b": 8})
    got = json.loads(cli.ok("quota", "get", name, "-o", "json").stdout)
    assert got == admin.request("GET", f"/v1/admin/tenants/{name}/quota")
    cli.ok("quota", "set", name, "--lending-limit", "none", "--no-caps")
    q = admin.quota(name).quota
    assert (q.lending_limit, q.caps, q.guaranteed) == (None, {}, "2P")
    row = next(r.split() for r in cli.ok("quota", "list").stdout.splitlines() if r.startswith(name + " "))
    assert row == [name, "2", "2P", "4P", "-", "-", "0P", "0P", "0"]
    assert json.loads(cli.ok("quota", "list", "-o", "json").stdout) == admin.request("GET", "/v1/admin/tenants")
    hist = cli.ok("quota", "history", name).stdout.splitlines()
    assert hist[0].split()[:4] == ["AT", "ACTOR", "ACTION", "GUARANTEED"]
    assert len(hist) == 4 and hist[1].split()[1:5] == ["admin", "set", "2P", "4P"]
    assert json.loads(cli.ok("quota", "history", name, "-o", "json").stdout) == \
        admin.request("GET", f"/v1/admin/tenants/{name}/quota/history")


def test_quota_bad_input_changes_nothing(cli: Cli, admin: Client, new_tenant: NewTenant) -> None:
    name, _ = new_tenant()
    before = admin.quota(name)
    assert "--guaranteed: cannot read compute '12X'" in cli.fails("quota", "set", name, "--guaranteed", "12X")
    assert "--limit: cannot read compute" in cli.fails("quota", "set", name, "--limit", "lots")
    assert "above --limit" in cli.fails("quota", "set", name, "--guaranteed", "5P", "--limit", "4P")
    # above the limit it has: the server refuses
    assert "guaranteed must not exceed limit (invalid-quota, HTTP 422)" in \
        cli.fails("quota", "set", name, "--limit", "0.5P")
    assert "overcommitted" in cli.fails("quota", "set", name, "--guaranteed", "500P", "--limit", "500P")
    assert "tenant-not-found" in cli.fails("quota", "set", "nope", "--guaranteed", "1P")
    assert "nothing to set" in cli.fails("quota", "set", name)
    assert admin.quota(name) == before


def test_quota_whatif(cli: Cli, admin: Client, new_tenant: NewTenant) -> None:
    name, token = new_tenant(guaranteed="0.312P", limit="0.312P")
    with Client(cli.server.url, token) as c:
        job = c.submit(job_spec("needs-two", devices=2))
    out = cli.ok("quota", "whatif", name, "--limit", "1P").stdout.splitlines()
    assert out[0].split() == ["ACTION", "JOB", "TENANT", "NAME", "DEVICES", "DETAIL", "BECAUSE", "OF", "CHANGE"]
    assert out[1].split() == ["START", job.id, name, "needs-two", "2", "a800", "(borrowing)", "yes"]
    assert out[-1] == "0 preempted (0 because of the change), 1 started (1 because of the change)"
    changes = cli.config.parent / "changes.yaml"
    changes.write_text(f"- {{tenant: {name}, limit: 1P}}\n")
    got = json.loads(cli.ok("quota", "whatif", "-f", str(changes), "-o", "json").stdout)
    assert got == admin.request("POST", "/v1/admin/whatif", body={"changes": [{"tenant": name, "limit": "1P"}]})
    assert admin.quota(name).quota.limit == "312T"  # nothing changed
    assert "12X" in cli.fails("quota", "whatif", name, "--guaranteed", "12X")
    assert "tenant-not-found" in cli.fails("quota", "whatif", "nope", "--limit", "1P")


def test_token_issue_list_revoke(cli: Cli, admin: Client, new_tenant: NewTenant) -> None:
    name, _ = new_tenant()
    issued = json.loads(cli.ok("token", "issue", name, "--name", "ci", "-o", "json").stdout)
    assert issued["tenant"] == name and issued["token"].startswith("aicc_")
    cli.ok("job", "list", token=issued["token"])  # it works
    rows = cli.ok("token", "list", "--tenant", name).stdout.splitlines()
    assert rows[0].split()[:3] == ["ID", "TENANT", "NAME"] and any(r.startswith(issued["id"]) for r in rows)
    listed = json.loads(cli.ok("token", "list", "-o", "json").stdout)
    assert listed == admin.request("GET", "/v1/admin/tokens")
    assert "pass --yes" in cli.fails("token", "revoke", issued["id"])
    assert cli.ok("token", "revoke", issued["id"], "--yes").stdout.startswith(f"revoked token {issued['id']}")
    assert "unauthorized" in cli.fails("job", "list", token=issued["token"])
    assert "token-not-found" in cli.fails("token", "revoke", "000000000000", "--yes")
    assert "tenant-not-found" in cli.fails("token", "issue", "nope")


def test_node_list_get_cordon_uncordon_drain(cli: Cli, admin: Client, new_tenant: NewTenant) -> None:
    rows = cli.ok("node", "list", "--pool", "ascend").stdout.splitlines()
    assert rows[0].split()[:5] == ["NODE", "POOL", "RACK", "ACCELERATOR", "STATE"] and len(rows) == 3
    node = rows[1].split()[0]
    assert json.loads(cli.ok("node", "get", node, "-o", "json").stdout) == \
        admin.request("GET", f"/v1/admin/nodes/{node}")
    try:
        assert cli.ok("node", "cordon", node).stdout.startswith(f"node {node} cordoned")
        assert [r.split()[0] for r in cli.ok("node", "list", "--state", "cordoned").stdout.splitlines()[1:]] == [node]
        assert json.loads(cli.ok("node", "uncordon", node, "-o", "json").stdout)["state"] == "ready"
        _name, token = new_tenant(guaranteed="2.56P", limit="2.56P")
        with Client(cli.server.url, token) as c:
            job = c.submit(job_spec("on-ascend", devices=8, accelerator="ascend910b"))
            for _ in range(100):
                if (j := c.job(job.id)).placement is not None:
                    break
            assert j.placement is not None
        busy = j.placement.nodes[0]
        assert "pass --yes" in cli.fails("node", "drain", busy, "--preempt")
        drained = json.loads(cli.ok("node", "drain", busy, "--preempt", "--yes", "-o", "json").stdout)
        assert drained["preempted"] == [job.id] and drained["state"] == "cordoned"
    finally:
        for n in admin.nodes(state="cordoned"):
            admin.uncordon(n.name)
    assert "node-not-found" in cli.fails("node", "cordon", "no-such-node")


def test_audit_list(cli: Cli, new_tenant: NewTenant) -> None:
    name, _ = new_tenant()
    rows = cli.ok("audit", "list", "--target", name).stdout.splitlines()
    assert rows[0].split() == ["ID", "AT", "ACTOR", "ACTION", "TARGET", "DETAIL"]
    assert [r.split()[3] for r in rows[1:]] == ["tenant.create", "token.issue"]
    last = json.loads(cli.ok("audit", "list", "--target", name, "--last", "1", "-o", "json").stdout)
    assert [e["action"] for e in last["items"]] == ["token.issue"]


def test_the_leader_in_center_show_and_top() -> None:
    """With --ha, the replica that answered says who leads (the live HA test reads it back)."""
    from scheduler.api.models import CenterOut, LeaderOut
    from scheduler.cli.center import leader_line
    from scheduler.cli.top import _leader

    def center(led: LeaderOut) -> CenterOut:
        return CenterOut.model_construct(name="c", leadership=led)

    led = LeaderOut(mode="ha", role="follower", leader="r1/12-abc", epoch=3, address="http://r1", changes=2)
    assert leader_line(center(led)) == ("Scheduler leader: r1/12-abc (epoch 3); this replica is follower;"
                                        " 2 leader changes seen")
    assert _leader(center(led)) == " - leader r1/12-abc (epoch 3)"
    nobody = LeaderOut(mode="ha", role="follower", epoch=3)
    assert "NONE" in leader_line(center(nobody)) and _leader(center(nobody)) == " - leader NONE (failover)"
    assert _leader(center(LeaderOut(mode="single", role="leader"))) == ""


def test_budget_set_list_delete(cli: Cli, admin: Client, new_tenant: NewTenant) -> None:
    name, _ = new_tenant()
    out = cli.ok("budget", "set", name, "50000", "--period", "month", "--carryover", "10%").stdout
    row = next(line.split() for line in out.splitlines() if line.startswith(name))
    assert row[1:5] == ["50000", "month", "10%", "hold"]
    assert row[-1] == "no"
    listed = json.loads(cli.ok("budget", "list", "-o", "json").stdout)
    assert listed == admin.request("GET", "/v1/admin/budgets")
    mine = next(b for b in listed["items"] if b["tenant"] == name)
    assert (mine["carryover"], mine["left_pflops_hours"]) == (0.1, 50000)  # nothing carried: set just now
    report = cli.ok("usage", "report", "--tenant", name).stdout  # the usage report says where it stands
    budget_row = report.split("Budgets this period")[1].splitlines()[3].split()
    assert budget_row[:3] == [name, "50000", "month"]
    cli.ok("budget", "set", name, "100", "--period", "custom", "--length", "14d", "--on-exhausted", "best-effort")
    assert next(b for b in admin.budgets() if b.tenant == name).period_s == 14 * 86_400
    assert "expected a percentage" in cli.fails("budget", "set", name, "1", "--carryover", "lots")
    assert "takes a --length" in cli.fails("budget", "set", name, "1", "--period", "custom")
    assert "budget-not-found" not in cli.ok("budget", "delete", name, "--yes").stdout
    assert "budget-not-found" in cli.fails("budget", "delete", name, "--yes")
