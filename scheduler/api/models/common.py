"""What every body shares: names, compute and memory quantities with their bounds, the
strict request and lenient response bases, and the problem+json error body.

Compute is read as a number of PFLOPS or a string with a unit (``"120P"``, ``"500T"``),
memory as bytes or ``"128Gi"``; the patterns bound the digits so that no accepted value
exceeds what the store holds (64-bit integers).
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema

from scheduler.domain.units import UnitError, parse_compute, parse_memory

NAME_PATTERN = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"
MAX_CHANGES = 100
#: Bounds that keep every number within what the store holds (64-bit integers).
MAX_COMPUTE_PFLOPS = 1_000_000
MAX_COMPUTE_GFLOPS = MAX_COMPUTE_PFLOPS * 10**6  # 1,000,000P
MAX_MEMORY_BYTES = 2**60  # 1Ei
MAX_DEVICES = 1_000_000
#: A weight's range: at 0.001 a tenant's fair share is a thousand times its siblings'; a
#: weight near zero (5e-324) would make it effectively infinite.
MIN_WEIGHT, MAX_WEIGHT = 0.001, 1e6
#: Grace periods up to a day.
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


def integral(value: Any) -> Any:
    """JSON Schema counts 8.0 as an integer; strict mode would not. Anything else stays as is."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


#: An integer, strictly (not ``true``, not ``"8"``), where ``8.0`` is 8 as JSON Schema says.
Int = Annotated[int, BeforeValidator(integral)]


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
    value = integral(value)
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



class ResourcesIn(Request):
    accelerators: Int = Field(ge=1, le=64)  # 0 would stop every scheduling step (the core divides by it)
    accelerator_types: list[Name] = Field(default_factory=list, max_length=16)
    cpus: Int = Field(default=0, ge=0, le=4096)
    memory: Memory = 0


class Problem(Response):
    """RFC 9457 problem details; ``type`` is stable per kind of error."""

    type: str
    title: str
    status: int
    detail: str = ""
    instance: str | None = None
    errors: list[dict[str, Any]] | None = None
