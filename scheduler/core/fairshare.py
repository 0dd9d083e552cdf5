"""Weighted dominant-resource fair share, with usage that decays over a half-life.

A tenant's dominant share is the largest fraction it holds of any accelerator
type. Ordering uses the mean of the current share and the decayed past share,
divided by the tenant's weight: a tenant that ran a lot recently yields to one
that did not, and a heavier weight earns a larger slice of what is idle.
"""

from __future__ import annotations

import math
from collections.abc import Mapping


def dominant_share(devices_by_type: Mapping[str, int], capacity_by_type: Mapping[str, int]) -> float:
    share = 0.0
    for accel, used in devices_by_type.items():
        cap = capacity_by_type.get(accel, 0)
        if used and cap:
            share = max(share, used / cap)
    return share


def decay_usage(
    history: Mapping[str, float], shares: Mapping[str, float], dt_s: float, half_life_s: float
) -> dict[str, float]:
    """Advance the decayed past share of each tenant by ``dt_s`` seconds.

    An exponential moving average of the dominant share: a tenant that holds a
    share ``s`` for long converges to ``s``; after it stops, the value halves
    every ``half_life_s``. The engine calls this each step with the shares it held.
    """
    keep = 0.5 ** (dt_s / half_life_s) if half_life_s > 0 else 0.0
    names = sorted(set(history) | set(shares))
    out = {}
    for name in names:
        value = history.get(name, 0.0) * keep + shares.get(name, 0.0) * (1.0 - keep)
        if value > 1e-12:
            out[name] = value
    return out


def order_key(current: float, past: float, weight: float) -> float:
    """Lower goes first."""
    key = (current + past) / (2.0 * weight)
    return key if math.isfinite(key) else math.inf
