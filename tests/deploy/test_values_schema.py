"""values.schema.json: the defaults and the shipped examples pass; typos and wrong
types are refused, as `helm install` refuses them (Helm checks the coalesced values)."""

from __future__ import annotations

import json

import jsonschema
import pytest

from tests.deploy.chart import CHART, ROOT, VALUES_DIR, merged_values, schema_errors

GOOD = sorted(VALUES_DIR.glob("good-*.yaml"))
BAD = {
    "bad-unknown-key.yaml": "(top): Additional properties are not allowed ('replicaCount' was unexpected)",
    "bad-nested-unknown-key.yaml": "metrics.serviceMonitor: Additional properties are not allowed ('additionalLables' was unexpected)",
    "bad-executor.yaml": "executor: 'kubernetes' is not one of ['sleep', 'ray']",
    "bad-worker-group.yaml": "ray.cluster.workerGroups.0.kind: 'tpu' is not one of ['gpu', 'npu']",
    "bad-port.yaml": "service.port: '8080' is not of type 'integer'",
}


def test_the_schema_is_valid_draft7_and_closed_at_every_level() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    jsonschema.Draft7Validator.check_schema(schema)

    def closed(node: object, where: str) -> None:
        if isinstance(node, dict):
            if node.get("type") == "object" and "properties" in node:
                assert node.get("additionalProperties") is False, f"{where} accepts unknown keys"
            for k, v in node.items():
                closed(v, f"{where}.{k}")
        elif isinstance(node, list):
            for i, v in enumerate(node):
                closed(v, f"{where}.{i}")

    closed(schema, "$")


def test_the_chart_defaults_pass() -> None:
    assert schema_errors(merged_values()) == []


@pytest.mark.parametrize("path", GOOD, ids=lambda p: p.name)
def test_good_examples_pass(path) -> None:  # type: ignore[no-untyped-def]
    assert schema_errors(merged_values(path)) == []


def test_the_610p_values_pass() -> None:
    deploy = ROOT / "deploy" / "helm"
    assert schema_errors(merged_values(deploy / "values-610p.yaml", deploy / "center-610p.yaml")) == []


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_examples_are_refused_naming_the_key(name: str) -> None:
    assert BAD[name] in schema_errors(merged_values(VALUES_DIR / name))


def test_every_bad_example_is_listed() -> None:
    assert sorted(p.name for p in VALUES_DIR.glob("bad-*.yaml")) == sorted(BAD)


def test_every_value_is_camel_case_and_commented() -> None:
    """Each key outside list items is camelCase; each leaf has a comment line right above
    it, or sits inside a map that is documented as a whole by a `# --` comment."""
    lines = (CHART / "values.yaml").read_text().splitlines()
    stack: list[tuple[int, bool]] = []  # (indent, documented as a whole) of the open keys
    in_list_at: int | None = None
    missing = []
    for i, line in enumerate(lines):
        stripped = line.lstrip()
        indent = len(line) - len(stripped)
        if not stripped or stripped.startswith("#"):
            continue
        if in_list_at is not None and indent > in_list_at:
            continue
        in_list_at = None
        if stripped.startswith("- "):
            in_list_at = indent
            continue
        while stack and stack[-1][0] >= indent:
            stack.pop()
        key, _, value = stripped.partition(":")
        if key != "grafana_dashboard":  # a label the Grafana sidecar looks for, not a value name
            assert "_" not in key and key[:1].islower(), f"line {i + 1}: {key!r} is not camelCase"
        above = lines[i - 1].lstrip()
        j = i - 1
        while j > 0 and lines[j - 1].lstrip().startswith("#") and not lines[j].lstrip().startswith("# --"):
            j -= 1
        documents_whole = lines[j].lstrip().startswith("# --")
        inside_documented = any(doc for _, doc in stack)
        if value.strip() and not above.startswith("#") and not inside_documented:
            missing.append(f"line {i + 1}: {key}")
        stack.append((indent, documents_whole))
    assert missing == []
