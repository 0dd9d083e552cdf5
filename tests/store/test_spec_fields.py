"""One field list for a job spec: every ``JobSpec`` field is in the API's models (generated from
it with its bounds: a new field is one edit), and survives the store, the submission and the
view unchanged (``scheduler.domain.spec_codec``)."""

from __future__ import annotations

import json
import sys
import types
from dataclasses import dataclass, field, fields
from typing import Any

import pytest
from pydantic import ValidationError

from scheduler.api import spec_fields_gen
from scheduler.api.models import JobOut, JobSubmit
from scheduler.api.routes.jobs import spec_of
from scheduler.api.views import job as job_view
from scheduler.domain import JobKind, JobRecord, JobSpec, JobState, Resources
from scheduler.domain.job import MAX_WORKERS, accepts
from scheduler.domain.spec_codec import SPEC_FIELDS, spec_from_dict, spec_to_dict
from scheduler.service import JobView
from scheduler.store import SqlStore

#: a spec with no field at its default, so that a field dropped anywhere shows
FULL = JobSpec(tenant="alpha", name="full", kind=JobKind.INFERENCE, workers=2,
               resources=Resources(4, ("h100", "a100"), 8, 32 * 2**30), priority="high",
               preemptible=False, max_runtime_s=3600.0, estimated_runtime_s=1800.0,
               entrypoint="python serve.py", runtime_env={"env_vars": {"A": "1"}, "sleep_s": 5},
               max_retries=3)


def test_every_field_of_a_spec_is_set_in_the_example() -> None:
    for f in fields(JobSpec):
        assert getattr(FULL, f.name) != f.default, f"FULL leaves {f.name} at its default"


def test_every_spec_field_is_in_the_api_models() -> None:
    assert set(SPEC_FIELDS) <= set(JobSubmit.model_fields), set(SPEC_FIELDS) - set(JobSubmit.model_fields)
    assert {"tenant", *SPEC_FIELDS} <= set(JobOut.model_fields), \
        {"tenant", *SPEC_FIELDS} - set(JobOut.model_fields)


def test_the_api_field_list_is_generated_from_the_spec_as_it_is() -> None:
    """``make generate`` was run after the last change to ``JobSpec``."""
    assert spec_fields_gen.TARGET.read_text() == spec_fields_gen.render(), "run `make generate`"


@dataclass(frozen=True)
class SpecWithADeadline:
    """``JobSpec`` as a developer would change it: one new field, with its bounds."""

    tenant: str
    name: str = field(metadata=accepts(max_length=8))
    workers: int = field(metadata=accepts(default=1, ge=1, le=MAX_WORKERS))
    resources: Resources
    deadline_s: float | None = field(default=None, metadata=accepts(gt=0, le=86_400))


def test_a_new_spec_field_reaches_the_api_with_its_bounds(monkeypatch: pytest.MonkeyPatch) -> None:
    module = types.ModuleType("generated_spec_fields")
    monkeypatch.setitem(sys.modules, module.__name__, module)  # where pydantic resolves its names
    exec(spec_fields_gen.render(SpecWithADeadline), module.__dict__)  # our own generated text
    model: Any = module.JobSpecFields
    got = model.model_validate({"name": "j", "resources": {"accelerators": 1}, "deadline_s": 60})
    assert (got.workers, got.deadline_s) == (1, 60.0)
    assert model.model_validate({"name": "j", "resources": {"accelerators": 1}}).deadline_s is None
    for bad in ({"deadline_s": 0}, {"deadline_s": 86_401}, {"name": "toolongname"}, {"workers": 0}):
        with pytest.raises(ValidationError):
            model.model_validate({"name": "j", "resources": {"accelerators": 1}, **bad})


def test_a_spec_survives_json() -> None:
    assert spec_from_dict("alpha", json.loads(json.dumps(spec_to_dict(FULL)))) == FULL


def test_a_spec_survives_the_store(store: SqlStore) -> None:
    job = JobRecord("j-full", 1, FULL, JobState.PENDING, submitted_at=10.0)
    store.add_job(job)
    got = store.get_job("j-full")
    assert got is not None and got.spec == FULL


def test_a_spec_survives_submission_and_the_view() -> None:
    view = job_view(JobView(JobRecord("j-full", 1, FULL, JobState.PENDING, submitted_at=10.0), "", "", None))
    body = {k: view[k] for k in SPEC_FIELDS}
    assert spec_of("alpha", JobSubmit.model_validate_json(json.dumps(body))) == FULL
    JobOut.model_validate(view)  # the view is what the API says it answers
