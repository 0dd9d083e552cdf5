"""A job spec as plain JSON data, field by field from ``JobSpec`` itself.

The one list of a spec's fields is the ``JobSpec`` dataclass: the store's ``spec`` column,
the API's submission (``spec_from_dict`` of the request body) and its views all walk
``SPEC_FIELDS``, converting by the field's type (an enum by its value, ``Resources`` as a
dict, a mapping as a dict, a tuple as a list), and the API's field list is generated from it
(``scheduler/api/spec_fields_gen.py``). A new field is one edit to ``JobSpec`` (with its
bounds) and ``make generate``. The ``tenant`` is not among them: it comes from the caller's
token and has its own column.
"""

from __future__ import annotations

import typing
from collections.abc import Callable, Mapping
from dataclasses import fields
from enum import Enum
from typing import Any

from scheduler.domain.job import JobSpec, Resources

#: Every field of a spec but the tenant, in ``JobSpec``'s order.
SPEC_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(JobSpec) if f.name != "tenant")


def resources_to_dict(r: Resources) -> dict[str, Any]:
    return {"accelerators": r.accelerators, "accelerator_types": list(r.accelerator_types),
            "cpus": r.cpus, "memory": r.memory_bytes}


def resources_from_dict(d: Mapping[str, Any]) -> Resources:
    return Resources(int(d["accelerators"]), tuple(d.get("accelerator_types") or ()),
                     int(d.get("cpus") or 0), int(d.get("memory") or 0))


def _encoder(kind: Any) -> Callable[[Any], Any]:
    if isinstance(kind, type) and issubclass(kind, Enum):
        return lambda v: v.value
    if kind is Resources:
        return resources_to_dict
    origin = typing.get_origin(kind)
    if origin is tuple:
        return list
    if origin is Mapping or origin is dict:
        return dict
    return lambda v: v


def _decoder(kind: Any) -> Callable[[Any], Any]:
    if isinstance(kind, type) and issubclass(kind, Enum):
        return kind
    if kind is Resources:
        return resources_from_dict
    origin = typing.get_origin(kind)
    if origin is tuple:
        return tuple
    if origin is Mapping or origin is dict:
        return lambda v: dict(v or {})
    return lambda v: v


_TYPES = typing.get_type_hints(JobSpec)
_ENCODE = {name: _encoder(_TYPES[name]) for name in SPEC_FIELDS}
_DECODE = {name: _decoder(_TYPES[name]) for name in SPEC_FIELDS}


def spec_to_dict(spec: JobSpec) -> dict[str, Any]:
    """Every field but the tenant, as JSON data."""
    return {name: encode(getattr(spec, name)) for name, encode in _ENCODE.items()}


def spec_from_dict(tenant: str, d: Mapping[str, Any]) -> JobSpec:
    """Back from ``spec_to_dict`` (or a request body of the same names); a field missing
    from ``d`` takes ``JobSpec``'s default, and names that are no field are ignored."""
    return JobSpec(tenant=tenant, **{name: decode(d[name]) for name, decode in _DECODE.items() if name in d})
