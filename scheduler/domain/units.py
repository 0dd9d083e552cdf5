"""Human units, parsed in one place.

Compute is kept as whole GFLOPS (an int) everywhere inside aicc, so that sums
and comparisons of quotas are exact; people write PFLOPS (``120P``), TFLOPS
(``500T``) or EFLOPS (``1.5E``). Memory is kept in bytes.
"""

from __future__ import annotations

import math
import re

GFLOPS_PER_TFLOPS = 1_000
GFLOPS_PER_PFLOPS = 1_000_000
_COMPUTE_SCALE = {"G": 1, "T": 1_000, "P": 1_000_000, "E": 1_000_000_000}
_COMPUTE_RE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?)\s*([GTPE])?(?:FLOPS)?\s*$", re.I)
_MEMORY_SCALE = {
    "": 1,
    "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15,
    "KI": 2**10, "MI": 2**20, "GI": 2**30, "TI": 2**40, "PI": 2**50,
}
_MEMORY_RE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([KMGTP]i?)?B?\s*$", re.I)


class UnitError(ValueError):
    """A quantity that cannot be read; the message says what was expected."""


def parse_compute(value: str | int | float) -> int:
    """Return GFLOPS from ``120P``, ``500T``, ``1.5E`` or a bare number of PFLOPS."""
    if isinstance(value, bool):
        raise UnitError(f"compute must be a number of PFLOPS or a string like '120P', not {value!r}")
    if isinstance(value, int | float):
        if not math.isfinite(value) or value < 0:
            raise UnitError(f"compute must be a finite, non-negative number of PFLOPS, not {value!r}")
        return round(value * GFLOPS_PER_PFLOPS)
    match = _COMPUTE_RE.match(value)
    if match is None:
        raise UnitError(
            f"cannot read compute {value!r}: expected a number with an optional unit G, T, P or E "
            "(FLOPS), e.g. '120P', '500T', '1.5E'"
        )
    number, unit = float(match.group(1)), (match.group(2) or "P").upper()
    if not math.isfinite(number):
        raise UnitError(f"compute {value!r} is not finite")
    return round(number * _COMPUTE_SCALE[unit])


def parse_memory(value: str | int) -> int:
    """Return bytes from ``128Gi``, ``64G``, ``512Mi`` or a bare number of bytes."""
    if isinstance(value, bool):
        raise UnitError(f"memory must be bytes or a string like '128Gi', not {value!r}")
    if isinstance(value, int):
        if value < 0:
            raise UnitError(f"memory must not be negative, got {value}")
        return value
    match = _MEMORY_RE.match(value)
    if match is None:
        raise UnitError(f"cannot read memory {value!r}: expected e.g. '128Gi', '64G', '512Mi'")
    return round(float(match.group(1)) * _MEMORY_SCALE[(match.group(2) or "").upper()])


def format_compute(gflops: int | float) -> str:
    """``4992000`` -> ``'4.99P'``: what the CLI and the API show people."""
    pflops = gflops / GFLOPS_PER_PFLOPS
    if pflops >= 1000:
        return f"{pflops / 1000:.3g}E"
    if pflops >= 1 or gflops == 0:
        return f"{pflops:.2f}".rstrip("0").rstrip(".") + "P"
    return f"{gflops / GFLOPS_PER_TFLOPS:.1f}".rstrip("0").rstrip(".") + "T"


def format_memory(nbytes: int) -> str:
    for unit, scale in (("Ti", 2**40), ("Gi", 2**30), ("Mi", 2**20), ("Ki", 2**10)):
        if nbytes >= scale and nbytes % scale == 0:
            return f"{nbytes // scale}{unit}"
    return str(nbytes)
