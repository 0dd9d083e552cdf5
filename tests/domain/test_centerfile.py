"""The shipped center and the errors a malformed center file gives."""

import copy
from pathlib import Path

import pytest
import yaml

from scheduler.centerfile import CenterFileError, build_center, default_center_path, load_center

SEED_TENANTS = {"finance", "large-models", "metaverse", "vr", "manufacturing", "smart-city"}


def test_the_default_center_is_610_pflops_heterogeneous_with_racks_and_the_six_tenants() -> None:
    cfg = load_center()
    pflops = cfg.center.capacity_gflops() / 1e6
    assert abs(pflops - 610) / 610 <= 0.005
    assert len(cfg.center.accelerators) >= 2
    vendors = {a.vendor_resource for a in cfg.center.accelerators.values()}
    assert {"nvidia.com/gpu", "huawei.com/Ascend910"} <= vendors
    assert all(n.devices == 8 for n in cfg.center.nodes)
    assert len(cfg.center.racks) > 10
    assert set(cfg.tenants) == SEED_TENANTS
    guaranteed = sum(t.quota.guaranteed for t in cfg.tenants.values())
    assert 0 < guaranteed < cfg.center.capacity_gflops()  # some capacity is left unassigned
    assert cfg.priority_classes["high"] > cfg.priority_classes["normal"] > cfg.priority_classes["low"]


def raw() -> dict:
    return yaml.safe_load(default_center_path().read_text())


def broken(change) -> dict:
    data = copy.deepcopy(raw())
    change(data)
    return data


@pytest.mark.parametrize(("change", "field"), [
    (lambda d: d["pools"][0].update(accelerator="h100"), "pools.0.accelerator"),
    (lambda d: d["pools"][1].update(racks=0), "pools.1.racks"),
    (lambda d: d["pools"][0].update(memory_per_node="lots"), "pools.0.memory_per_node"),
    (lambda d: d["accelerators"][0]["tflops"].pop("fp16"), "accelerators.0.tflops"),
    (lambda d: d["tenants"][1].update(guaranteed="12X"), "tenants.1.guaranteed"),
    (lambda d: d["tenants"][2].update(limit="1P"), "tenants.2"),
    (lambda d: d["tenants"][0].update(colour="red"), "tenants.0.colour"),
    (lambda d: d["tenants"].append(dict(d["tenants"][0])), "tenants.6.name"),
    (lambda d: d["tenants"][3].update(caps={"tpu": 3}), "tenants.3.caps.tpu"),
    (lambda d: d["tenants"][0].update(guaranteed="700P", limit="700P"), "tenants"),
    (lambda d: d.pop("pools"), "pools"),
    (lambda d: d["tenants"][0].update(grace_period_s=-5), "tenants.0.grace_period_s"),
    (lambda d: d["tenants"][1].update(isolation="open"), "tenants.1.isolation"),
    (lambda d: d.update(policy={"min_runtime_s": -1}), "policy.min_runtime_s"),
    (lambda d: d.update(policy={"speed": 11}), "policy.speed"),
    (lambda d: d.update(policy={"borrowing": "sometimes"}), "policy.borrowing"),
    (lambda d: d.update(policy={"priority_classes": {"x": 1}}), "policy.priority_classes"),
])
def test_a_malformed_center_file_is_an_error_naming_the_field(change, field: str) -> None:
    with pytest.raises(CenterFileError) as err:
        build_center(broken(change))
    assert str(err.value).startswith(field)


def test_a_tenant_may_set_its_jobs_grace_period() -> None:
    cfg = build_center(broken(lambda d: d["tenants"][0].update(grace_period_s=120)))
    graces = [t.grace_period_s for t in cfg.tenants.values()]
    assert graces[0] == 120 and set(graces[1:]) == {None}


def test_tenants_are_isolated_unless_said_shared() -> None:
    assert {t.isolation.value for t in load_center().tenants.values()} == {"isolated"}  # the shipped 610P center
    cfg = build_center(broken(lambda d: d["tenants"][0].update(isolation="shared")))
    isolations = [t.isolation.value for t in cfg.tenants.values()]
    assert isolations[0] == "shared" and set(isolations[1:]) == {"isolated"}
    unsaid = build_center(broken(lambda d: [t.pop("isolation", None) for t in d["tenants"]]))
    assert {t.isolation.value for t in unsaid.tenants.values()} == {"isolated"}  # the default


def test_load_errors_name_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "center.yaml"
    bad.write_text("name: [unclosed")
    with pytest.raises(CenterFileError, match=r"center\.yaml: not valid YAML"):
        load_center(bad)
    with pytest.raises(CenterFileError, match="cannot read"):
        load_center(tmp_path / "missing.yaml")


def test_the_policy_section_sets_knobs_and_keeps_the_rest() -> None:
    cfg = build_center(broken(lambda d: d.update(policy={"min_runtime_s": 3600, "reservations": 8,
                                                          "blocking": "tenant", "shortest_first": True})))
    p = cfg.policy
    assert (p.min_runtime_s, p.reservations, p.blocking.value, p.shortest_first) == (3600.0, 8, "tenant", True)
    assert p.borrowing and p.reclaim and p.aging_interval_s == 3600.0  # unset: aicc's defaults
    assert dict(p.priority_classes) == cfg.priority_classes  # the center's own classes
    shipped = load_center().policy  # shortest first, as the simulator's aicc; the rest aicc's defaults
    assert shipped.shortest_first and shipped.min_runtime_s == 1800.0
