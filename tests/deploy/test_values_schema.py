"""values.schema.json: the defaults and the shipped examples pass; typos and wrong
types are refused, by the real `helm` (which checks the coalesced values), naming the key."""

from __future__ import annotations

import json

import jsonschema
import pytest

from tests.deploy.chart import CHART, FULL_610P, VALUES_DIR, Helm

GOOD = sorted(VALUES_DIR.glob("good-*.yaml"))
#: What helm says about each bad example: the place and the offending key or value.
BAD = {
    "bad-unknown-key.yaml": ["'replicaCount' not allowed"],
    "bad-nested-unknown-key.yaml": ["/metrics/serviceMonitor", "'additionalLables' not allowed"],
    "bad-executor.yaml": ["/executor", "'sleep'", "'ray'"],
    "bad-worker-group.yaml": ["/ray/cluster/workerGroups/0/kind", "'gpu'", "'npu'"],
    "bad-port.yaml": ["/service/port", "want integer"],
    "bad-replicas-sqlite.yaml": ["anyOf", "/postgresql/enabled", "'^postgresql'"],
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


@pytest.mark.k8s
@pytest.mark.parametrize("files", [(), *[(p,) for p in GOOD], FULL_610P],
                         ids=["defaults", *[p.stem for p in GOOD], "610p"])
def test_helm_lint_strict_passes_the_defaults_and_every_values_file(helm: Helm, files) -> None:  # type: ignore[no-untyped-def]
    args = ["lint", "--strict", str(CHART)]
    for f in files:
        args += ["-f", str(f)]
    proc = helm.run(*args)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 chart(s) failed" in proc.stdout


@pytest.mark.k8s
@pytest.mark.parametrize("name", sorted(BAD))
def test_helm_refuses_bad_values_naming_the_key(helm: Helm, name: str) -> None:
    for command in (helm.template_args([VALUES_DIR / name]), ["lint", "--strict", str(CHART), "-f",
                                                              str(VALUES_DIR / name)]):
        proc = helm.run(*command)
        said = proc.stdout + proc.stderr
        assert proc.returncode != 0, said
        assert "values don't meet the specifications of the schema" in said
        for part in BAD[name]:
            assert part in said, said


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
