"""Schemathesis over the whole OpenAPI description, as a tenant and as the admin.

Every operation gets schema-valid (positive) and schema-breaking (negative)
requests, generated from the description the service publishes, sent by
schemathesis's own transport to the ASGI app in process, over a real SQLite
store with the scheduling loop running. No answer may be a 5xx, every answer
must match what the description says of it (status documented, content type,
body schema), schema-breaking requests are refused, and schema-valid ones are
accepted except where a rule OpenAPI cannot state applies (UNSTATABLE). Each
test sends its own minimum, over 1,000 requests in all. The CLI over real
HTTP: test_schemathesis_cli.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    negative_data_rejection,
    not_a_server_error,
    positive_data_acceptance,
    response_schema_conformance,
    status_code_conformance,
)

from scheduler.api import create_app
from scheduler.service import Service
from tests.security.conftest import ADMIN, job_body, make_service
from tests.security.test_schemathesis_cli import UNSTATABLE

#: Examples per operation and token: valid ones are cheap to make, schema-breaking ones are not
#: (hypothesis rejects most drafts); about 2 x 700 + 2 x 70 requests in all.
EXAMPLES = {GenerationMode.POSITIVE: 25, GenerationMode.NEGATIVE: 5}
#: The fewest requests each test must have sent (as tenant and as admin): 2 x 500 + 2 x 40.
AT_LEAST = {GenerationMode.POSITIVE: 500, GenerationMode.NEGATIVE: 40}
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance, negative_data_rejection, positive_data_acceptance]


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, dict[str, str]]]:
    d: Path = tmp_path_factory.mktemp("fuzz")
    svc: Service = make_service(f"sqlite:///{d / 'aicc.db'}", d)
    svc.start()
    try:
        app = create_app(svc.settings, svc)
        info, token = svc.issue_token("tests", "acme", "fuzz")
        del info
        # A few real jobs, so that some generated ids and lists hit something.
        with TestClient(app) as c:
            for i in range(3):
                c.post("/v1/jobs", headers={"Authorization": f"Bearer {token}"}, json=job_body(f"seed-{i}"))
        schema = schemathesis.openapi.from_asgi("/openapi.json", app)
        yield schema, {"tenant": token, "admin": ADMIN}
        # Whatever was sent, the scheduling loop never failed.
        assert svc.loop_errors == 0
    finally:
        svc.stop()
        svc.store.close()


def fuzz(op: Any, token: str, mode: GenerationMode) -> int:
    """Send the operation's generated cases; the number sent."""
    count = 0
    # positive_data_acceptance only where every rule of the operation is in the description.
    checks = [c for c in CHECKS if c is not positive_data_acceptance or op.label not in UNSTATABLE]

    @given(case=op.as_strategy(generation_mode=mode))
    @settings(max_examples=EXAMPLES[mode], deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    def check(case: Any) -> None:
        nonlocal count
        count += 1
        case.call_and_validate(headers={"Authorization": f"Bearer {token}"}, checks=checks)

    try:
        check()
    except Unsatisfiable:  # nothing schema-breaking to send (e.g. no parameters at all)
        assert mode is GenerationMode.NEGATIVE, op.label
    return count


def run_all(schema: Any, token: str, mode: GenerationMode) -> int:
    operations = [r.ok() for r in schema.get_all_operations()]
    assert len(operations) >= 25, [o.label for o in operations]
    return sum(fuzz(op, token, mode) for op in operations)


@pytest.mark.parametrize("who", ["tenant", "admin"])
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["valid", "invalid"])
def test_no_5xx_and_every_answer_matches_the_description(
        fuzzed: tuple[Any, dict[str, str]], who: str, mode: GenerationMode) -> None:
    schema, tokens = fuzzed
    n = run_all(schema, tokens[who], mode)
    print(f"{who} {mode.value}: {n} requests")
    assert n >= AT_LEAST[mode], n
