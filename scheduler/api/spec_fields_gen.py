"""Generates ``models/spec_fields.py``, the API's field list of a job spec, from the domain's ``JobSpec``.

A spec field is declared once, in ``scheduler.domain.job.JobSpec``, with the bounds a
submission must keep (``accepts``). This writes the pydantic model that the API's
``JobSubmit`` and ``JobOut`` share, field by field in ``JobSpec``'s order: a type the wire
reads (``Int`` for an integer, the enum by its value, ``ResourcesIn`` for ``Resources``, a
dict for a mapping, finite floats only) and the field's bounds and default. The file is kept
in the repository so that it reads (and type-checks) as any other module; ``make generate``
rewrites it, and ``tests/api/test_spec_fields_generated.py`` fails while it is stale.

    python -m scheduler.api.spec_fields_gen          # rewrite spec_fields.py
    python -m scheduler.api.spec_fields_gen --check  # exit 1 if it is stale
"""

from __future__ import annotations

import re
import sys
import types
import typing
from collections.abc import Mapping
from dataclasses import MISSING, Field, fields
from enum import Enum
from pathlib import Path
from typing import Any

from scheduler.domain.job import JobSpec, Resources

TARGET = Path(__file__).parent / "models" / "spec_fields.py"
#: The wire's type for each domain type that is not an enum, a mapping or optional.
WIRE_TYPES: dict[Any, str] = {str: "str", int: "Int", bool: "bool", float: "float", Resources: "ResourcesIn"}
#: A default made afresh for each spec, by what makes it.
FACTORIES: dict[Any, str] = {dict: "dict", list: "list"}

HEADER = '''"""A job spec's fields as the API takes and shows them, with their bounds: the one list that
``JobSubmit`` and ``JobOut`` share. GENERATED from ``scheduler.domain.job.JobSpec`` by
``make generate`` (``scheduler/api/spec_fields_gen.py``): do not edit; edit ``JobSpec``."""

from __future__ import annotations

{imports}


class JobSpecFields(BaseModel):
    """Every field of ``JobSpec`` but ``tenant`` (which comes from the caller's token)."""

'''


def _optional(kind: Any) -> Any | None:
    """``X`` of ``X | None``, else None."""
    if isinstance(kind, types.UnionType) or typing.get_origin(kind) is typing.Union:
        rest = [a for a in typing.get_args(kind) if a is not type(None)]
        if len(rest) == 1 and len(typing.get_args(kind)) == 2:
            return rest[0]
    return None


def _wire(kind: Any) -> str:
    if isinstance(kind, type) and issubclass(kind, Enum):
        return kind.__name__
    if typing.get_origin(kind) in (Mapping, dict):
        return "dict[str, Any]"
    if kind in WIRE_TYPES:
        return WIRE_TYPES[kind]
    raise TypeError(f"JobSpec: no wire type for {kind!r}: add it to WIRE_TYPES in {__name__}")


def _bounded(kind: Any, bounds: str) -> str:
    """The value's type with its bounds (an integer's are checked after ``integral`` reads it)."""
    if kind is int:
        return f"Annotated[int, Field({bounds}), BeforeValidator(integral)]"
    return f"Annotated[{_wire(kind)}, Field({bounds})]"


def _literal(value: Any) -> str:
    return f"{type(value).__name__}.{value.name}" if isinstance(value, Enum) else repr(value)


def _line(f: Field[Any], kind: Any) -> str:
    """One field of the model, e.g. ``workers: Int = Field(default=1, ge=1, le=4096)``."""
    limits = dict(f.metadata.get("accepts", {}))
    default = f.default if f.default is not MISSING else limits.pop("default", MISSING)
    limits.pop("default", None)
    inner = _optional(kind)
    base = inner if inner is not None else kind
    if base is float:
        limits["allow_inf_nan"] = False
    if isinstance(base, type) and issubclass(base, Enum):
        limits["strict"] = False  # its value, as in JSON
    bounds = ", ".join(f"{k}={_literal(v)}" for k, v in limits.items())
    if inner is not None:  # the bounds are the value's; null stays null
        wire = f"{_bounded(inner, bounds) if bounds else _wire(inner)} | None"
        return f"{f.name}: {wire}" + ("" if default is MISSING else f" = {_literal(default)}")
    if f.default_factory is not MISSING:
        return f"{f.name}: {_wire(kind)} = Field(default_factory={FACTORIES[f.default_factory]})"
    args = ([] if default is MISSING else [f"default={_literal(default)}"]) + ([bounds] if bounds else [])
    if not args:
        return f"{f.name}: {_wire(kind)}"
    if not limits:
        return f"{f.name}: {_wire(kind)} = {_literal(default)}"
    return f"{f.name}: {_wire(kind)} = Field({', '.join(args)})"


def _imports(body: str, enums: list[str]) -> str:
    """What the body uses, as ruff's isort would have it."""
    def used(names: list[str]) -> str:
        return ", ".join(n for n in names if re.search(rf"\b{n}\b", body))
    lines = [f"from typing import {used(['Annotated', 'Any'])}", "",
             f"from pydantic import {used(['BaseModel', 'BeforeValidator', 'Field'])}", "",
             f"from scheduler.api.models.common import {used(['Int', 'ResourcesIn', 'integral'])}"]
    if enums:
        lines.append(f"from scheduler.domain import {', '.join(enums)}")
    return "\n".join(line for line in lines if not line.endswith("import "))


def render(spec_type: type = JobSpec) -> str:
    """The text of ``spec_fields.py`` for ``JobSpec`` (or a dataclass like it) as it is now."""
    hints = typing.get_type_hints(spec_type)
    spec = [f for f in fields(spec_type) if f.name != "tenant"]
    enums = sorted({k.__name__ for f in spec for k in (hints[f.name], _optional(hints[f.name]))
                    if isinstance(k, type) and issubclass(k, Enum)})
    body = "\n".join(f"    {_line(f, hints[f.name])}" for f in spec) + "\n"
    return HEADER.format(imports=_imports("BaseModel " + body, enums)) + body


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        if TARGET.read_text() != text:
            print(f"{TARGET} is stale: run `make generate`", file=sys.stderr)
            return 1
        return 0
    TARGET.write_text(text)
    print(TARGET)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
