"""Schemathesis over the whole OpenAPI description, as a tenant and as the admin.

Every operation gets schema-valid (positive) and schema-breaking (negative)
requests, generated from the description the service publishes, sent to the
ASGI app in process (Starlette's test client; schemathesis's own transport is
not used) over a real SQLite store with the scheduling loop running.
No answer may be a 5xx, and every answer must match what the description says
of it (status documented, content type, body schema). Each test sends its own
minimum, over 1,000 requests in all.
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
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from scheduler.api import create_app
from scheduler.service import Service
from tests.security.conftest import ADMIN, job_body, make_service

#: Examples per operation and token: valid ones are cheap to make, schema-breaking ones are not
#: (hypothesis rejects most drafts); about 2 x 700 + 2 x 70 requests in all.
EXAMPLES = {GenerationMode.POSITIVE: 25, GenerationMode.NEGATIVE: 5}
#: The fewest requests each test must have sent (as tenant and as admin): 2 x 500 + 2 x 40.
AT_LEAST = {GenerationMode.POSITIVE: 500, GenerationMode.NEGATIVE: 40}
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]

@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Any, dict[str, str]]]:
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
        with TestClient(app, raise_server_exceptions=False) as client:
            yield schema, client, {"tenant": token, "admin": ADMIN}
        # Whatever was sent, the scheduling loop never failed.
        assert svc.loop_errors == 0
    finally:
        svc.stop()
        svc.store.close()


def send(client: Any, case: Any, token: str) -> Any:
    kw = case.as_transport_kwargs(base_url="http://testserver",
                                  headers={"Authorization": f"Bearer {token}"})
    body: dict[str, Any] = {}
    if "json" in kw:
        body["json"] = kw["json"]
    elif kw.get("data") is not None:
        data = kw["data"]
        body["content"] = data if isinstance(data, bytes) else str(data).encode()
    return client.request(kw["method"], kw["url"], headers=kw.get("headers"), params=kw.get("params"),
                          cookies=kw.get("cookies") or None, **body)


def run_all(schema: Any, client: Any, token: str, mode: GenerationMode) -> int:
    count = 0
    operations = [r.ok() for r in schema.get_all_operations()]
    assert len(operations) >= 25, [o.label for o in operations]
    for op in operations:
        @given(case=op.as_strategy(generation_mode=mode))
        @settings(max_examples=EXAMPLES[mode], deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))
        def check(case: Any) -> None:
            nonlocal count
            count += 1
            case.validate_response(send(client, case, token), checks=CHECKS)

        try:
            check()
        except Unsatisfiable:  # nothing schema-breaking to send (e.g. no parameters at all)
            assert mode is GenerationMode.NEGATIVE, op.label
    return count


@pytest.mark.parametrize("who", ["tenant", "admin"])
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["valid", "invalid"])
def test_no_5xx_and_every_answer_matches_the_description(
        fuzzed: tuple[Any, Any, dict[str, str]], who: str, mode: GenerationMode) -> None:
    schema, client, tokens = fuzzed
    n = run_all(schema, client, tokens[who], mode)
    print(f"{who} {mode.value}: {n} requests")
    assert n >= AT_LEAST[mode], n
