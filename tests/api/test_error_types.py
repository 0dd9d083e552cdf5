"""Errors are types: every code the server raises has a title, a status from its family,
and a client class of the same family; the API maps them in one place."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from scheduler.api.errors import STATUS, TITLES, error_response
from scheduler.client import errors as client
from scheduler.domain import QuotaError
from scheduler.domain import errors as domain

ROOT = Path(__file__).resolve().parents[2] / "scheduler"
FAMILY_NAMES = {f.__name__: f for f in domain.FAMILIES}
#: the client's family for each server status
CLIENT_FAMILY = {400: client.ApiError, 401: client.Unauthorized, 403: client.Forbidden,
                 404: client.NotFound, 409: client.Conflict, 422: client.Invalid, 503: client.Unavailable}


def raised_codes() -> set[tuple[str, str]]:
    """(family, code) of every ``raise Family("code", ...)`` in the product."""
    out = set()
    for path in ROOT.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call)
                    and isinstance(node.exc.func, ast.Name) and node.exc.func.id in FAMILY_NAMES
                    and node.exc.args and isinstance(node.exc.args[0], ast.Constant)):
                out.add((node.exc.func.id, str(node.exc.args[0].value)))
    return out


def test_the_product_raises_typed_errors_of_known_codes() -> None:
    found = raised_codes()
    assert {code for _, code in found} >= {"job-not-found", "tenant-exists", "overcommitted",
                                          "unauthorized", "invalid-continue"}
    for family, code in found:
        assert code in TITLES, f"{family}({code!r}) has no title in scheduler/api/errors.py"


@pytest.mark.parametrize("family", domain.FAMILIES)
def test_each_family_has_one_status(family: type[domain.AiccError]) -> None:
    assert family in STATUS


def test_the_client_knows_every_code_in_the_family_the_server_answers() -> None:
    by_code = {code: FAMILY_NAMES[family] for family, code in raised_codes()}
    for code, family in by_code.items():
        response = error_response(None, family(code, "x"))
        cls = client.BY_CODE.get(code)
        assert cls is not None, f"the client has no class for {code!r}"
        assert issubclass(cls, CLIENT_FAMILY[response.status_code]), (code, cls, response.status_code)


def test_old_statuses_hold() -> None:
    """What the API answered when errors were strings (the client and scripts rely on it)."""
    def status(family: type[domain.AiccError], code: str) -> int:
        return error_response(None, family(code, "x")).status_code

    assert status(domain.NotFound, "job-not-found") == 404
    assert status(domain.Conflict, "duplicate-job") == 409
    assert status(domain.Invalid, "overcommitted") == 422
    assert status(domain.Malformed, "invalid-continue") == 400
    assert status(domain.Forbidden, "tenant-token-required") == 403
    unavailable = error_response(None, domain.Unavailable("store-unavailable", "x"))
    assert unavailable.status_code == 503 and unavailable.headers["retry-after"] == "1"
    assert error_response(None, domain.Unauthorized("unauthorized", "x")).headers["www-authenticate"] == "Bearer"
    quota = QuotaError("limit: below guaranteed")
    assert quota.code == "invalid-quota" and error_response(None, quota).status_code == 422
