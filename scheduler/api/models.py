"""The API's request and response bodies, shared with the client and the CLI.

Requests reject unknown fields. Compute quantities are read as a number of
PFLOPS or a string with a unit (``"120P"``, ``"500T"``) and shown both as a
string (``"120P"``) and as a number of PFLOPS (``*_pflops``). Times are RFC
3339 strings in UTC.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

import orjson
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema, field_validator

from scheduler.domain import Isolation, JobKind
from scheduler.domain.units import UnitError, parse_compute, parse_memory

NAME_PATTERN = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"
JOB_NAME_PATTERN = r"^[A-Za-z0-9]([A-Za-z0-9._-]{0,251}[A-Za-z0-9])?$"
MAX_WORKERS = 4096
MAX_CHANGES = 100
#: Bounds that keep every number within what the store holds (64-bit integers).
MAX_COMPUTE_PFLOPS = 1_000_000
MAX_COMPUTE_GFLOPS = MAX_COMPUTE_PFLOPS * 10**6  # 1,000,000P
MAX_MEMORY_BYTES = 2**60  # 1Ei
MAX_DEVICES = 1_000_000
#: A weight's range: at 0.001 a tenant's fair share is a thousand times its siblings'; a
#: weight near zero (5e-324) would make it effectively infinite.
MIN_WEIGHT, MAX_WEIGHT = 0.001, 1e6
#: Runtimes (max, estimated) up to a year; grace periods up to a day.
MAX_RUNTIME_S = 366 * 86_400
MAX_GRACE_S = 86_400
#: Token names are labels people read in listings: printable ASCII only.
LABEL_PATTERN = r"^[ -~]*$"


def _either_case(letters: str) -> str:
    return "".join(f"[{c.upper()}{c.lower()}]" for c in letters)


def _amount(max_digits: int, unit: str) -> str:
    """A decimal number below ``10**max_digits`` (or that power of ten), then ``unit`` (a regex)."""
    return rf"([0-9]{{1,{max_digits}}}(\.[0-9]{{1,9}})?|1{'0' * max_digits}(\.0{{1,9}})?){unit}"


#: A compute string: a number and a unit G, T, P (the default) or E (FLOPS), any case. The
#: digits are bounded per unit so that no string the pattern admits exceeds 1,000,000P.
COMPUTE_PATTERN = "^(" + "|".join([
    _amount(15, _either_case("g")), _amount(12, _either_case("t")),
    _amount(6, f"{_either_case('p')}?"), _amount(3, _either_case("e"))]) + ")$"
#: A memory string: bytes, or a number and a unit K, M, G, T, P (1000s) or Ki ... Pi (1024s),
#: an optional B, any case; digits bounded per unit so that no match exceeds 1Ei.
MEMORY_PATTERN = "^(" + "|".join(
    _amount(digits, f"{_either_case(u)}({_either_case('i')})?({_either_case('b')})?" if u
            else f"({_either_case('b')})?")
    for u, digits in (("", 18), ("k", 15), ("m", 12), ("g", 9), ("t", 6), ("p", 3))) + ")$"
_COMPUTE_STR = re.compile(COMPUTE_PATTERN)
_MEMORY_STR = re.compile(MEMORY_PATTERN)

Name = Annotated[str, Field(pattern=NAME_PATTERN, min_length=1, max_length=63)]




def _integral(value: Any) -> Any:
    """JSON Schema counts 8.0 as an integer; strict mode would not. Anything else stays as is."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


#: An integer, strictly (not ``true``, not ``"8"``), where ``8.0`` is 8 as JSON Schema says.
Int = Annotated[int, BeforeValidator(_integral)]


def _compute(value: Any) -> int:
    if isinstance(value, str) and not _COMPUTE_STR.fullmatch(value):
        raise ValueError(f"cannot read compute {value[:64]!r}: expected a number of PFLOPS or a "
                         "string like '120P', '500T', '1.5E' (at most 1000000P)")
    try:
        gflops = parse_compute(value)
    except (UnitError, TypeError, OverflowError) as exc:  # a list, a float beyond any int
        raise ValueError(str(exc)) from None
    if gflops > MAX_COMPUTE_GFLOPS:
        raise ValueError(f"compute may not exceed {MAX_COMPUTE_PFLOPS}P")
    return gflops


def _memory(value: Any) -> int:
    value = _integral(value)
    if isinstance(value, str) and not _MEMORY_STR.fullmatch(value):
        raise ValueError(f"cannot read memory {value[:64]!r}: expected bytes or a string like "
                         "'128Gi', '64G', '512Mi' (at most 1Ei)")
    try:
        nbytes = parse_memory(value)
    except UnitError as exc:
        raise ValueError(str(exc)) from None
    except (TypeError, OverflowError):  # a float, a list, beyond any int
        raise ValueError(f"memory must be bytes or a string like '128Gi', not {value!r}"[:200]) from None
    if nbytes > MAX_MEMORY_BYTES:
        raise ValueError("memory may not exceed 1Ei")
    return nbytes


#: GFLOPS, read from ``"120P"``, ``"500T"`` or a number of PFLOPS.
Compute = Annotated[int, BeforeValidator(_compute), WithJsonSchema({
    "anyOf": [{"type": "number", "minimum": 0, "maximum": MAX_COMPUTE_PFLOPS},
              {"type": "string", "pattern": COMPUTE_PATTERN}],
    "description": "PFLOPS: a number (0 to 1000000), or a string with a unit G, T, P or E "
                   "(FLOPS), e.g. '120P', '500T', '1.5E'"})]
#: Bytes, read from ``"128Gi"`` or a number of bytes.
Memory = Annotated[int, BeforeValidator(_memory), WithJsonSchema({
    "anyOf": [{"type": "integer", "minimum": 0, "maximum": MAX_MEMORY_BYTES},
              {"type": "string", "pattern": MEMORY_PATTERN}],
    "description": "bytes: an integer, or a string with a unit, e.g. '128Gi', '64G', '512Mi'"})]
#: Devices per accelerator type, by type name.
Caps = Annotated[dict[Name, Annotated[Int, Field(ge=0, le=MAX_DEVICES)]], Field(max_length=64),
                 WithJsonSchema({"type": "object", "maxProperties": 64,
                                 "propertyNames": {"pattern": NAME_PATTERN, "minLength": 1, "maxLength": 63},
                                 "additionalProperties": {"type": "integer", "minimum": 0,
                                                          "maximum": MAX_DEVICES},
                                 "description": "at most this many devices of each accelerator type"})]
Weight = Annotated[float, Field(ge=MIN_WEIGHT, le=MAX_WEIGHT, allow_inf_nan=False,
                                description="share of idle capacity relative to siblings")]
GraceS = Annotated[float, Field(ge=0, le=MAX_GRACE_S, allow_inf_nan=False)]
RuntimeS = Annotated[float, Field(gt=0, le=MAX_RUNTIME_S, allow_inf_nan=False)]


def escapes_jobs_dir(path: str) -> bool:
    """A local path a tenant may not have packaged: absolute, from home, climbing with '..',
    or a file:// URI. Remote URIs and relative paths below the jobs directory are fine."""
    scheme, sep, _ = path.partition("://")
    if sep:
        return scheme.lower() == "file"
    return path.startswith(("/", "~", "\\")) or ".." in path.replace("\\", "/").split("/")


class Request(BaseModel):
    """Strict: a JSON value of the wrong type is refused, never coerced (``false`` is not 0,
    ``"2"`` is not 2); an integer is still a number."""

    model_config = ConfigDict(extra="forbid", strict=True)


class Response(BaseModel):
    model_config = ConfigDict(extra="ignore")


# -- jobs ---------------------------------------------------------------------------------


class ResourcesIn(Request):
    accelerators: Int = Field(ge=1, le=64)  # 0 would stop every scheduling step (the core divides by it)
    accelerator_types: list[Name] = Field(default_factory=list, max_length=16)
    cpus: Int = Field(default=0, ge=0, le=4096)
    memory: Memory = 0


class JobSpecFields(BaseModel):
    """A job spec's fields as the API takes and shows them, with their bounds: the one list
    that ``JobSubmit`` and ``JobOut`` share. It names every field of the domain's ``JobSpec``
    but ``tenant`` (which comes from the token); ``tests/store/test_spec_fields.py`` holds
    the two lists to each other. A new spec field: ``JobSpec``, a line here, and a
    migration only should it get a column of its own (the spec is one JSON column)."""

    name: str = Field(pattern=JOB_NAME_PATTERN, max_length=253)
    kind: JobKind = Field(default=JobKind.TRAINING, strict=False)  # its value, as in JSON
    workers: Int = Field(default=1, ge=1, le=MAX_WORKERS)
    resources: ResourcesIn
    priority: str = Field(default="normal", min_length=1, max_length=63)
    preemptible: bool = True
    max_runtime_s: RuntimeS | None = None
    estimated_runtime_s: RuntimeS | None = None
    entrypoint: str = Field(default="", max_length=16_384)
    runtime_env: dict[str, Any] = Field(default_factory=dict)
    #: Times the job is requeued after losing a node before it fails; unset: always requeued.
    max_retries: Annotated[int, Field(ge=0, le=1000), BeforeValidator(_integral)] | None = None


class JobSubmit(JobSpecFields, Request):
    """``POST /v1/jobs``: the job spec; the tenant comes from the token."""

    @field_validator("runtime_env")
    @classmethod
    def _storable(cls, value: dict[str, Any]) -> dict[str, Any]:
        """Plain JSON the store can keep (integers within 64 bits), or a 422 now rather
        than a failed write later."""
        try:
            orjson.dumps(value)
        except TypeError as exc:
            raise ValueError(f"not storable JSON: {exc}") from None
        for key in ("working_dir", "py_modules"):  # Ray packages local paths on the scheduler's host
            paths = value.get(key)
            for path in paths if isinstance(paths, list) else [paths]:
                if isinstance(path, str) and escapes_jobs_dir(path):
                    raise ValueError(f"{key}: {path!r} must be a remote URI (s3://, gs://, https://) "
                                     "or a relative path without '..'")
        return value


class ResourcesOut(Response):
    accelerators: int
    accelerator_types: list[str]
    cpus: int
    memory: str


class WorkerOut(Response):
    node: str
    devices: list[int]


class PlacementOut(Response):
    accelerator: str
    nodes: list[str]
    workers: list[WorkerOut]


class JobOut(JobSpecFields, Response):
    """A job: its spec (``JobSpecFields``, with memory shown with its unit) and where it is."""

    id: str
    tenant: str
    state: str
    devices: int
    resources: ResourcesOut  # type: ignore[assignment]  # memory with its unit, e.g. '80Gi'
    model_config = ConfigDict(json_schema_serialization_defaults_required=True)  # all are answered
    submitted_at: str
    admitted_at: str | None
    started_at: str | None
    finished_at: str | None
    placement: PlacementOut | None
    borrowing: bool
    #: Why it waits (pending), or why it ended; stable codes such as QuotaExhausted.
    reason: str
    detail: str
    #: 1-based place in its tenant's queue, while pending.
    queue_position: int | None
    #: While pending: when it is expected to start (null: unknown) and how that was found:
    #: reservation (backfill holds devices for it), projection (the scheduler run forward
    #: from now), or unknown (the detail says why, e.g. held by quota).
    expected_start_at: str | None = None
    expected_start_how: str | None = None
    expected_start_detail: str | None = None
    #: Times it went back to the queue (preempted, or lost with a node) ...
    preemptions: int
    #: ... of which lost with a node; it fails once this would pass max_retries.
    node_losses: int
    #: Seconds it ran in its attempts that ended; the attempt under way runs from started_at.
    ran_s: float
    #: While it waits: its estimated cost (devices x runtime estimate) exceeds what is left of its
    #: tenant's (or an ancestor's) budget this period.
    budget_warning: str | None = None


class CheckpointOut(Response):
    job: str
    #: when the checkpoint was taken, as recorded (never later than now)
    checkpointed_at: str


class StopNoticeOut(Response):
    job: str
    #: it is being preempted: checkpoint now (SIGTERM follows at stop_at, or at once without a notice)
    stop_requested: bool
    stop_at: str | None
    checkpointed_at: str | None


class JobList(Response):
    items: list[JobOut]
    #: Pass as ``continue`` for the next page; null on the last page.
    continue_: str | None = Field(alias="continue")
    model_config = ConfigDict(populate_by_name=True)


class JobEventOut(Response):
    """One recorded state change of a job (the decisions that moved it, too)."""

    at: str
    state: str
    reason: str
    detail: str
    placement: PlacementOut | None


class JobEventList(Response):
    items: list[JobEventOut]


class LogsOut(Response):
    job_id: str
    text: str


# -- usage and ledger ---------------------------------------------------------------------


class UsageOut(Response):
    tenant: str
    #: A parent's figures are its whole subtree's.
    parent: str | None = None
    guaranteed: str
    guaranteed_pflops: float
    limit: str
    limit_pflops: float
    in_use: str
    in_use_pflops: float
    borrowed: str
    borrowed_pflops: float
    devices: dict[str, int]
    pending_jobs: int
    running_jobs: int


class UsageList(Response):
    items: list[UsageOut]


class LedgerLineOut(Response):
    tenant: str
    accelerator: str
    kind: str
    jobs: int
    device_hours: float
    pflops_hours: float


class SubtreeTotalOut(Response):
    #: a parent: the figures are its whole subtree's
    tenant: str
    device_hours: float
    pflops_hours: float


class LedgerOut(Response):
    start: str
    end: str
    items: list[LedgerLineOut]
    total_device_hours: float
    total_pflops_hours: float
    #: per parent tenant whose leaves consumed something: the subtree summed
    subtrees: list[SubtreeTotalOut] = []


# -- budgets (issue 22) -----------------------------------------------------------------


class BudgetIn(Request):
    """``PUT /v1/admin/budgets/{tenant}``: PFLOPS-hours per period, for the tenant's whole subtree."""

    pflops_hours: float = Field(ge=0, allow_inf_nan=False)
    #: month (calendar, the center's time zone), week (from Monday), or custom (``period_s``)
    period: Literal["month", "week", "custom"] = "month"
    period_s: float | None = Field(default=None, ge=3600, allow_inf_nan=False)
    #: epoch seconds: when the budget began, where custom periods are counted from (default: when
    #: it was first set; a change keeps it)
    anchor: float | None = None
    #: share of the amount unspent compute may carry into the next period, 0 to 1
    carryover: float = Field(default=0.0, ge=0, le=1, allow_inf_nan=False)
    #: what the tenant's new jobs do once it is spent
    on_exhausted: Literal["hold", "best-effort"] = "hold"


class BudgetOut(Response):
    tenant: str
    pflops_hours: float
    period: str
    period_s: float | None
    carryover: float
    on_exhausted: str
    period_start: str
    period_end: str
    carried_pflops_hours: float
    available_pflops_hours: float
    spent_pflops_hours: float
    left_pflops_hours: float
    spent_ratio: float
    exhausted: bool


class BudgetList(Response):
    items: list[BudgetOut]


class BudgetWhatIfIn(Request):
    """``POST /v1/admin/budgets/{tenant}/whatif``: a budget to set against this period's ledger."""

    pflops_hours: float = Field(ge=0, allow_inf_nan=False)


class HeldRunOut(Response):
    job_id: str
    tenant: str
    started_at: str
    devices: int


class BudgetWhatIfOut(Response):
    tenant: str
    pflops_hours: float
    period_start: str
    #: when it would have been spent; null: not by now
    spent_at: str | None
    #: the runs of its subtree that began after, and so would have been held
    would_have_held: list[HeldRunOut]


# -- tenants and quotas -----------------------------------------------------------------


class QuotaIn(Request):
    """``PUT /v1/admin/tenants/{name}/quota``; omitted fields keep their value."""

    guaranteed: Compute | None = None
    limit: Compute | None = None
    #: How much of its unused guarantee others may borrow; null: all of it.
    lending_limit: Compute | None = None
    caps: Caps | None = None
    weight: Weight | None = None
    #: Accept guarantees that sum beyond the center's capacity.
    allow_overcommit: bool = False


class QuotaOut(Response):
    guaranteed: str
    guaranteed_pflops: float
    limit: str
    limit_pflops: float
    lending_limit: str | None
    lending_limit_pflops: float | None
    caps: dict[str, int]


class TenantCreate(Request):
    """``POST /v1/admin/tenants``; the quota may be given here or set later."""

    name: Name
    weight: Weight = 1.0
    guaranteed: Compute = 0
    limit: Compute | None = None
    lending_limit: Compute | None = None
    caps: Caps = Field(default_factory=dict)
    #: Seconds from SIGTERM to SIGKILL when its jobs are stopped, unless a job says; null: the center's.
    grace_period_s: GraceS | None = None
    #: The tenant whose guarantee this one's is carved out of; a parent holds no jobs.
    parent: Name | None = None
    #: isolated: each job in a Ray instance and sandbox of its own; shared: the center's Ray cluster.
    isolation: Isolation = Field(default=Isolation.ISOLATED, strict=False)  # its value, as in JSON
    allow_overcommit: bool = False


class TenantUpdate(Request):
    """``PATCH /v1/admin/tenants/{name}``: what is given changes; ``grace_period_s: null`` goes
    back to the center's default. An empty body changes nothing and is refused."""

    model_config = ConfigDict(json_schema_extra={"minProperties": 1})

    weight: Weight | None = None
    grace_period_s: GraceS | None = None
    #: Moves the tenant (and its subtree) under this parent; null: to the top level.
    parent: Name | None = None
    #: Jobs started from now on run so; running jobs keep theirs.
    isolation: Isolation | None = Field(default=None, strict=False)


class TenantOut(Response):
    name: str
    #: The tenant whose guarantee this one's is carved out of; null: a top-level tenant.
    parent: str | None = None
    #: Its children, if it is a parent (a parent holds no jobs).
    children: list[str] = []
    weight: float
    #: Seconds from SIGTERM to SIGKILL when its jobs are stopped, unless a job says; null: the center's.
    grace_period_s: float | None
    isolation: Isolation
    quota: QuotaOut
    live_jobs: dict[str, int]


class TenantList(Response):
    items: list[TenantOut]


class QuotaHistoryOut(Response):
    at: str
    actor: str
    action: str
    weight: float | None
    guaranteed: str | None
    limit: str | None
    lending_limit: str | None
    caps: dict[str, int] | None


class QuotaHistoryList(Response):
    items: list[QuotaHistoryOut]


class TenantDeleted(Response):
    name: str
    cancelled_jobs: list[str]


# -- tokens ------------------------------------------------------------------------------


class TokenCreate(Request):
    name: str = Field(default="", max_length=128, pattern=LABEL_PATTERN)


class TokenIssued(Response):
    """The token itself is shown here, once; only its hash is kept."""

    token: str
    id: str
    tenant: str | None
    name: str
    created_at: str


class TokenOut(Response):
    id: str
    tenant: str | None
    name: str
    created_at: str
    created_by: str
    revoked_at: str | None


class TokenList(Response):
    items: list[TokenOut]


# -- nodes and the center ----------------------------------------------------------------


class NodeOut(Response):
    name: str
    pool: str
    rack: str
    accelerator: str
    state: str
    devices: int
    allocated: int
    free: int
    cpus: int
    memory: str


class NodeList(Response):
    items: list[NodeOut]


class DrainIn(Request):
    #: true: preempt what runs there now (requeued); false: let it finish, take nothing new.
    preempt: bool = False


class DrainOut(Response):
    node: str
    state: str
    preempted: list[str]
    still_running: list[str]


class CapacityOut(Response):
    devices: int
    pflops: float
    allocated_devices: int
    allocated_pflops: float
    free_devices: int
    free_pflops: float
    unschedulable_devices: int


class PoolOut(CapacityOut):
    name: str
    accelerator: str
    nodes: int
    racks: int


class AcceleratorOut(CapacityOut):
    name: str
    tflops_fp16: float
    memory: str


class LeaderOut(Response):
    """Who schedules: ``single`` (one replica) or ``ha`` (replicas electing a leader)."""

    mode: str
    #: this replica's part: leader, follower, taking-over or deposed
    role: str
    #: the replica holding the lease (None: nobody leads right now)
    leader: str | None = None
    epoch: int | None = None
    address: str | None = None
    changes: int = 0


class CenterOut(Response):
    name: str
    total: CapacityOut
    pools: list[PoolOut]
    accelerators: list[AcceleratorOut]
    guaranteed_pflops: float
    priority_classes: dict[str, int]
    #: the scheduler's leader, as the replica that answered sees it (older servers: None)
    leadership: LeaderOut | None = None


# -- what-if -----------------------------------------------------------------------------


class WhatIfChange(Request):
    tenant: Name
    guaranteed: Compute | None = None
    limit: Compute | None = None
    lending_limit: Compute | None = None
    caps: Caps | None = None
    weight: Weight | None = None
    #: Move the tenant (a team) under this parent; null: to the top level; absent: where it is.
    parent: Name | None = None


class WhatIfIn(Request):
    changes: list[WhatIfChange] = Field(min_length=1, max_length=MAX_CHANGES)


class WhatIfPreempt(Response):
    job_id: str
    tenant: str
    name: str
    devices: int
    reason: str
    for_job: str


class WhatIfStart(Response):
    job_id: str
    tenant: str
    name: str
    devices: int
    accelerator: str
    borrowing: bool


class WhatIfOut(Response):
    #: Running jobs the next step would preempt with the proposed quotas.
    would_preempt: list[WhatIfPreempt]
    #: Pending jobs the next step would start with the proposed quotas.
    would_start: list[WhatIfStart]
    #: Of those, the ones that would NOT happen without the change.
    preempt_because_of_change: list[str]
    start_because_of_change: list[str]
    #: Jobs that would start or be preempted without the change but not with it.
    prevented_by_change: list[str]


# -- audit and problems -----------------------------------------------------------------


class AuditOut(Response):
    id: int
    at: str
    actor: str
    action: str
    target: str
    detail: dict[str, Any]


class AuditList(Response):
    items: list[AuditOut]
    continue_: str | None = Field(alias="continue")
    model_config = ConfigDict(populate_by_name=True)


class Problem(Response):
    """RFC 9457 problem details; ``type`` is stable per kind of error."""

    type: str
    title: str
    status: int
    detail: str = ""
    instance: str | None = None
    errors: list[dict[str, Any]] | None = None


class Health(Response):
    status: Literal["ok", "starting", "unavailable"]
    detail: str | None = None
