"""From the options of ``aicc simulate`` to a ``Study``: the trace loaded and cut, the
tenant tree, budgets and what-if applied, and the notes an operator should read.

The CLI parses and prints; this is what it asks for in between.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from scheduler.domain.budget import OnExhausted
from scheduler.sim.budgets import parse_budget
from scheduler.sim.policies import expand
from scheduler.sim.study import Study, World, check_against_center, load_trace
from scheduler.sim.trace import DEFAULT_TRACES
from scheduler.sim.whatif import oversold, policy_knobs, with_parents, with_quotas


@dataclass(frozen=True)
class StudyOptions:
    """What ``aicc simulate`` was asked (its options, as given)."""

    trace: str = "itp"
    center: Path | None = None
    policy: str = "all"
    traces: Path = DEFAULT_TRACES
    tenants: str | None = None
    jobs: int = 10_000
    load: float = 0.9
    limit: int | None = None
    world: World = field(default_factory=World)
    quota: tuple[str, ...] = ()
    parent: tuple[str, ...] = ()
    budget: tuple[str, ...] = ()
    best_effort: bool = False
    knobs: tuple[str, ...] = ()  # --set KNOB=VALUE


def prepare_study(o: StudyOptions) -> Study:
    """The study the options describe; its trace's and its own ``notes`` are for the operator.

    Raises ``TraceError``, ``CenterFileError`` or ``ValueError`` on a bad option."""
    names = expand(o.policy)
    t, notes = load_trace(o.trace, o.traces, o.center, o.jobs, o.world.seed, o.tenants, o.load)
    notes += check_against_center(t)
    knobs = policy_knobs(list(o.knobs))
    if o.limit is not None:
        t = replace(t, jobs=t.jobs[:o.limit], observed={})  # (what was observed is of all the jobs)
    if o.parent:
        capacity = t.center.capacity_gflops() if t.center is not None else 0
        t = replace(t, tenants=with_parents(t.tenants, list(o.parent), capacity))
    mode = OnExhausted.BEST_EFFORT if o.best_effort else OnExhausted.HOLD
    budgets = tuple(parse_budget(b, mode) for b in o.budget)
    for b in budgets:
        if b.tenant not in t.tenants:
            raise ValueError(f"--budget {b.tenant}: no tenant {b.tenant!r} here "
                             f"(tenants: {', '.join(sorted(t.tenants))})")
    proposed = replace(t, tenants=with_quotas(t.tenants, list(o.quota))) if o.quota else None
    change = " ".join([*o.quota, *o.knobs])
    if proposed is not None:
        notes += oversold(proposed, f"with {change}")
    return Study(t, names, o.world._replace(budgets=budgets), proposed, knobs, change, notes,
                 list(o.quota), fill_comparison=o.trace == "openb")
