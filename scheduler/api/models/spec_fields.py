"""A job spec's fields as the API takes and shows them, with their bounds: the one list that
``JobSubmit`` and ``JobOut`` share. GENERATED from ``scheduler.domain.job.JobSpec`` by
``make generate`` (``scheduler/api/spec_fields_gen.py``): do not edit; edit ``JobSpec``."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, Field

from scheduler.api.models.common import Int, ResourcesIn, integral
from scheduler.domain import JobKind


class JobSpecFields(BaseModel):
    """Every field of ``JobSpec`` but ``tenant`` (which comes from the caller's token)."""

    name: str = Field(pattern='^[A-Za-z0-9]([A-Za-z0-9._-]{0,251}[A-Za-z0-9])?$', max_length=253)
    kind: JobKind = Field(default=JobKind.TRAINING, strict=False)
    workers: Int = Field(default=1, ge=1, le=4096)
    resources: ResourcesIn
    priority: str = Field(default='normal', min_length=1, max_length=63)
    preemptible: bool = True
    max_runtime_s: Annotated[float, Field(gt=0, le=31622400, allow_inf_nan=False)] | None = None
    estimated_runtime_s: Annotated[float, Field(gt=0, le=31622400, allow_inf_nan=False)] | None = None
    entrypoint: str = Field(default='', max_length=16384)
    runtime_env: dict[str, Any] = Field(default_factory=dict)
    max_retries: Annotated[int, Field(ge=0, le=1000), BeforeValidator(integral)] | None = None
