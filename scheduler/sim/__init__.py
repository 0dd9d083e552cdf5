"""Trace-driven simulation: the live engine and core, in simulated time.

``Simulation(trace, policy).run()`` replays a ``Trace`` (``load_itp``,
``load_openb``, ``synthetic_trace``, ``load_csv_trace``) and returns what
``report.summarize`` turns into the figures of ``aicc simulate``.
"""

from scheduler.engine.estimates import LearnedEstimator
from scheduler.sim.policies import ALL_POLICIES, POLICY_NAMES, PolicySpec, make_policy
from scheduler.sim.simulator import Failures, SimResult, Simulation
from scheduler.sim.trace import DEFAULT_TRACES, Trace, TraceError, TraceJob

__all__ = [
    "ALL_POLICIES",
    "DEFAULT_TRACES",
    "POLICY_NAMES",
    "Failures",
    "LearnedEstimator",
    "PolicySpec",
    "SimResult",
    "Simulation",
    "Trace",
    "TraceError",
    "TraceJob",
    "make_policy",
]
