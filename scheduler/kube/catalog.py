"""Which accelerator a node has: its extended resource plus a product label,
mapped to an AcceleratorType with its TFLOPS.

The NVIDIA GPU feature discovery labels nodes ``nvidia.com/gpu.product``
(e.g. ``NVIDIA-A800-SXM4-80GB``); Huawei's Ascend device plugin labels them
``accelerator`` (e.g. ``huawei-Ascend910``) and ``accelerator-type`` (e.g.
``module-910b-8``). A catalog entry names the
resource it counts and regular expressions over those label values.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from scheduler.domain import AcceleratorType
from scheduler.domain.units import parse_memory

#: Label keys read, most specific first, for a node's product name: NVIDIA's GPU
#: feature discovery, Ascend's chip name and accelerator type (module-910b-8), and
#: the device plugins' generic ``accelerator`` (huawei-Ascend910).
PRODUCT_LABELS = ("nvidia.com/gpu.product", "node.kubernetes.io/npu.chip.name", "accelerator-type",
                  "accelerator")


@dataclass(frozen=True)
class CatalogEntry:
    accelerator: AcceleratorType
    #: Regular expressions (case-insensitive, searched) over the product label values.
    match: tuple[str, ...]

    def matches(self, product: str) -> bool:
        return any(re.search(p, product, re.IGNORECASE) for p in self.match)


class CatalogError(ValueError):
    """A catalog file that cannot be used; the message names the field."""


@dataclass(frozen=True)
class Catalog:
    entries: tuple[CatalogEntry, ...]

    @property
    def resources(self) -> tuple[str, ...]:
        """The extended resources that make a node an accelerator node."""
        return tuple(dict.fromkeys(e.accelerator.vendor_resource for e in self.entries))

    def identify(self, resource: str, labels: Mapping[str, str]) -> AcceleratorType | None:
        """The first entry for ``resource`` whose pattern matches a product label; else,
        when only one entry counts that resource, that one; else None."""
        candidates = [e for e in self.entries if e.accelerator.vendor_resource == resource]
        for key in PRODUCT_LABELS:
            value = labels.get(key)
            if value:
                for e in candidates:
                    if e.matches(value):
                        return e.accelerator
        if len(candidates) == 1 and not any(labels.get(k) for k in PRODUCT_LABELS):
            return candidates[0].accelerator
        return None


class _EntryModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
    vendor_resource: str = Field(min_length=1)
    ray_resource: str = Field(min_length=1)
    memory: str | int
    tflops: dict[str, float]
    match: list[str] = Field(min_length=1)


class _CatalogModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    accelerators: list[_EntryModel] = Field(min_length=1)


def _entry(name: str, resource: str, ray: str, memory: str, tflops: dict[str, float],
           *match: str) -> CatalogEntry:
    return CatalogEntry(AcceleratorType(name, resource, ray, tflops, parse_memory(memory)), match)


def default_catalog() -> Catalog:
    """Peak dense TFLOPS from the vendors' data sheets (fp16/bf16 without sparsity)."""
    gpu, npu = "nvidia.com/gpu", "huawei.com/Ascend910"
    return Catalog((
        _entry("a800", gpu, "GPU", "80Gi", {"fp16": 312, "bf16": 312, "tf32": 156, "fp32": 19.5}, r"A800"),
        _entry("a100-80g", gpu, "GPU", "80Gi", {"fp16": 312, "bf16": 312, "tf32": 156, "fp32": 19.5},
               r"A100.*80GB"),
        _entry("a100", gpu, "GPU", "40Gi", {"fp16": 312, "bf16": 312, "tf32": 156, "fp32": 19.5}, r"A100"),
        _entry("h800", gpu, "GPU", "80Gi", {"fp16": 989, "bf16": 989, "tf32": 494, "fp32": 67}, r"H800"),
        _entry("h100", gpu, "GPU", "80Gi", {"fp16": 989, "bf16": 989, "tf32": 494, "fp32": 67}, r"H100"),
        _entry("h20", gpu, "GPU", "96Gi", {"fp16": 148, "bf16": 148, "tf32": 74, "fp32": 44}, r"H20\b"),
        _entry("l40s", gpu, "GPU", "48Gi", {"fp16": 362, "bf16": 362, "tf32": 183, "fp32": 91.6}, r"L40S"),
        _entry("v100", gpu, "GPU", "32Gi", {"fp16": 125, "fp32": 15.7}, r"V100"),
        _entry("ascend910b", npu, "NPU", "64Gi", {"fp16": 320, "bf16": 320, "fp32": 80},
               r"910B"),
        _entry("ascend910", npu, "NPU", "32Gi", {"fp16": 256, "fp32": 128}, r"Ascend910", r"910"),
    ))


def load_catalog(path: str | Path) -> Catalog:
    """A catalog file: ``accelerators:`` in center-file form, each with ``match:`` patterns."""
    path = Path(path)
    try:
        raw: Any = yaml.safe_load(path.read_text())
        model = _CatalogModel.model_validate(raw)
    except OSError as exc:
        raise CatalogError(f"{path}: cannot read: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise CatalogError(f"{path}: not valid YAML: {exc}") from None
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        raise CatalogError(f"{path}: {where}: {err['msg']}") from None
    entries = []
    for i, e in enumerate(model.accelerators):
        for pattern in e.match:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise CatalogError(f"{path}: accelerators.{i}.match: {exc}") from None
        if "fp16" not in e.tflops:
            raise CatalogError(f"{path}: accelerators.{i}.tflops: must give fp16")
        entries.append(CatalogEntry(
            AcceleratorType(e.name, e.vendor_resource, e.ray_resource, dict(e.tflops), parse_memory(e.memory)),
            tuple(e.match)))
    return Catalog(tuple(entries))
