"""Executors by name: ``make_executor("sleep", clock)``. The Ray executor adds itself here."""

from __future__ import annotations

from typing import Any

from scheduler.engine.clock import Clock
from scheduler.engine.ports import Executor

#: The names ``aicc serve --executor`` accepts (all of them, available or not).
EXECUTOR_NAMES = ("sleep", "ray")


class ExecutorUnavailable(RuntimeError):
    """The executor asked for cannot be used here; the message says why, in one line."""


def make_executor(name: str, clock: Clock, **options: Any) -> Executor:
    """Build the executor called ``name``; ``options`` go to its constructor."""
    if name == "sleep":
        from scheduler.executors.sleep import SleepExecutor

        return SleepExecutor(clock, **options)
    if name == "ray":
        raise ExecutorUnavailable("the ray executor is not available yet; use --executor sleep")
    raise ExecutorUnavailable(f"unknown executor {name!r}; choose one of: {', '.join(EXECUTOR_NAMES)}")
