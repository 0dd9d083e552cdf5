"""Reading a center file (YAML): the catalog, pools, racks, tenants and quotas.

Pydantic checks the shape at this edge and names the field that is wrong;
then the domain objects are built and cross-checked (a pool naming an unknown
accelerator, duplicate names, guarantees beyond capacity).
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from scheduler.core import Policy
from scheduler.domain import (
    AcceleratorType,
    Center,
    Isolation,
    Node,
    NodeState,
    Quota,
    QuotaError,
    Tenant,
    check_tree,
    sold,
)
from scheduler.domain.units import UnitError, parse_compute, parse_memory

NAME_PATTERN = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"
Name = Annotated[str, Field(pattern=NAME_PATTERN)]


class CenterFileError(ValueError):
    """A center file that cannot be used; the message names the file and the field."""


def _compute(value: Any) -> int:
    try:
        return parse_compute(value)
    except UnitError as exc:
        raise ValueError(str(exc)) from None


def _memory(value: Any) -> int:
    try:
        return parse_memory(value)
    except UnitError as exc:
        raise ValueError(str(exc)) from None


Compute = Annotated[int, BeforeValidator(_compute)]
Memory = Annotated[int, BeforeValidator(_memory)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AcceleratorModel(_Strict):
    name: Name
    vendor_resource: str = Field(min_length=1)
    ray_resource: str = Field(min_length=1)
    memory: Memory
    tflops: dict[str, Annotated[float, Field(gt=0, allow_inf_nan=False)]]

    @field_validator("tflops")
    @classmethod
    def _needs_fp16(cls, v: dict[str, float]) -> dict[str, float]:
        if "fp16" not in v:
            raise ValueError("must give fp16 (quotas are normalized in fp16 dense TFLOPS)")
        return v


class NodeModel(_Strict):
    """One real node (``aicc kube inventory`` writes these): its name is the host's."""

    name: str = Field(pattern=r"^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$")
    rack: str = Field(min_length=1, max_length=253)
    devices: int = Field(ge=1, le=64)
    cpus: int = Field(ge=1)
    memory: Memory
    state: NodeState = NodeState.READY


class PoolModel(_Strict):
    """A pool is either a grid (racks x nodes_per_rack of one shape) or a list of nodes."""

    name: Name
    accelerator: Name
    racks: int | None = Field(default=None, ge=1, le=10_000)
    nodes_per_rack: int | None = Field(default=None, ge=1, le=1_000)
    devices_per_node: int | None = Field(default=None, ge=1, le=64)
    cpus_per_node: int | None = Field(default=None, ge=1)
    memory_per_node: Memory | None = None
    nodes: list[NodeModel] | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _one_form(self) -> PoolModel:
        grid = (self.racks, self.nodes_per_rack, self.devices_per_node, self.cpus_per_node,
                self.memory_per_node)
        if self.nodes is None and None in grid:
            raise ValueError("give racks, nodes_per_rack, devices_per_node, cpus_per_node and "
                             "memory_per_node, or a list of nodes")
        if self.nodes is not None and any(g is not None for g in grid):
            raise ValueError("give either the grid fields or nodes, not both")
        return self


class TenantModel(_Strict):
    name: Name
    weight: float = Field(default=1.0, gt=0, allow_inf_nan=False)
    guaranteed: Compute = 0
    limit: Compute | None = None
    lending_limit: Compute | None = None
    caps: dict[str, Annotated[int, Field(ge=0)]] = Field(default_factory=dict)
    grace_period_s: float | None = Field(default=None, ge=0, le=86_400, allow_inf_nan=False)
    #: the tenant whose guarantee this one's is carved out of (a parent holds no jobs)
    parent: Name | None = None
    #: isolated (default): each job in a Ray instance and sandbox of its own; shared: the center's Ray cluster
    isolation: Isolation = Isolation.ISOLATED


class CenterModel(_Strict):
    name: Name
    accelerators: list[AcceleratorModel] = Field(min_length=1)
    pools: list[PoolModel] = Field(min_length=1)
    priority_classes: dict[str, int] = Field(default_factory=lambda: {"high": 300, "normal": 200, "low": 100})
    tenants: list[TenantModel] = Field(default_factory=list)
    allow_overcommit: bool = False  # guarantees may sum beyond capacity
    #: the center's time zone (IANA name): budgets' periods start at its midnight
    timezone: str = "UTC"
    #: knobs of the scheduling policy (``Policy``), e.g. ``{min_runtime_s: 3600}``; unset ones keep aicc's defaults
    policy: dict[str, Any] = Field(default_factory=dict)


@dataclass(frozen=True)
class CenterConfig:
    center: Center
    tenants: dict[str, Tenant]
    priority_classes: dict[str, int]
    policy: Policy  # the center's priority classes, and its ``policy:`` knobs
    timezone: str = "UTC"  # budgets' periods start at its boundaries


def default_center_path() -> Path:
    return Path(str(resources.files("scheduler") / "data" / "center.yaml"))


def load_center(path: str | Path | None = None) -> CenterConfig:
    path = Path(path) if path is not None else default_center_path()
    try:
        raw = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise CenterFileError(f"{path}: cannot read: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise CenterFileError(f"{path}: not valid YAML: {exc}") from None
    try:
        return build_center(raw)
    except CenterFileError as exc:
        raise CenterFileError(f"{path}: {exc}") from None


def build_center(raw: Any) -> CenterConfig:
    try:
        model = CenterModel.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        raise CenterFileError(f"{where}: {err['msg']}") from None
    return _from_model(model)


def _unique(names: list[str], what: str) -> None:
    seen: set[str] = set()
    for i, n in enumerate(names):
        if n in seen:
            raise CenterFileError(f"{what}.{i}.name: duplicate name {n!r}")
        seen.add(n)


def _from_model(m: CenterModel) -> CenterConfig:
    _unique([a.name for a in m.accelerators], "accelerators")
    _unique([p.name for p in m.pools], "pools")
    _unique([t.name for t in m.tenants], "tenants")
    if "normal" not in m.priority_classes:
        raise CenterFileError("priority_classes: must define 'normal', the default class")
    accels = {
        a.name: AcceleratorType(a.name, a.vendor_resource, a.ray_resource, dict(a.tflops), a.memory)
        for a in m.accelerators
    }
    nodes: list[Node] = []
    for i, p in enumerate(m.pools):
        if p.accelerator not in accels:
            raise CenterFileError(f"pools.{i}.accelerator: unknown accelerator {p.accelerator!r}")
        if p.nodes is not None:
            nodes.extend(Node(n.name, p.name, n.rack, p.accelerator, n.devices, n.cpus, n.memory, n.state)
                         for n in p.nodes)
            continue
        assert p.racks and p.nodes_per_rack and p.devices_per_node and p.cpus_per_node and p.memory_per_node
        for r in range(p.racks):
            rack = f"{p.name}-r{r + 1:02d}"
            for n in range(p.nodes_per_rack):
                nodes.append(Node(f"{rack}-n{n + 1:02d}", p.name, rack, p.accelerator,
                                  p.devices_per_node, p.cpus_per_node, p.memory_per_node))
    _unique([n.name for n in nodes], "nodes")
    center = Center(m.name, accels, tuple(nodes))
    tenants: dict[str, Tenant] = {}
    for i, t in enumerate(m.tenants):
        for accel in t.caps:
            if accel not in accels:
                raise CenterFileError(f"tenants.{i}.caps.{accel}: unknown accelerator")
        try:
            quota = Quota(t.guaranteed, t.limit if t.limit is not None else t.guaranteed,
                          t.lending_limit, dict(t.caps))
            tenants[t.name] = Tenant(t.name, quota, t.weight, t.grace_period_s, t.parent, t.isolation)
        except QuotaError as exc:
            raise CenterFileError(f"tenants.{i}: {exc}") from None
    try:
        check_tree(tenants)
    except QuotaError as exc:
        raise CenterFileError(f"tenants: {exc}") from None
    guaranteed = sold(tenants)
    if guaranteed > center.capacity_gflops() and not m.allow_overcommit:
        raise CenterFileError(
            "tenants: guarantees sum beyond the center's capacity (set allow_overcommit to accept)"
        )
    try:
        policy = Policy(priority_classes=dict(m.priority_classes)).with_knobs(m.policy)
    except ValueError as exc:
        raise CenterFileError(f"policy.{exc}") from None
    try:
        ZoneInfo(m.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise CenterFileError(f"timezone: unknown time zone {m.timezone!r}") from None
    return CenterConfig(center, tenants, dict(m.priority_classes), policy, m.timezone)
