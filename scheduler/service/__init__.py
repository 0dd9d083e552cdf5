"""The service: use cases over the engine, the scheduling loop, settings, executors by name."""

from collections.abc import Callable

from scheduler.engine import Executor
from scheduler.service.executors import ExecutorUnavailable, make_executor
from scheduler.service.service import JobView, QuotaChange, Service
from scheduler.service.settings import Settings
from scheduler.store import TokenInfo  # what the service hands out of a token

__all__ = [
    "ExecutorUnavailable",
    "JobView",
    "QuotaChange",
    "Service",
    "Settings",
    "TokenInfo",
    "build_service",
    "make_executor",
]


def build_service(settings: Settings, *,
                  wrap_executor: Callable[[Executor], Executor] | None = None) -> Service:
    """Everything ``aicc serve`` needs, from its settings (the loop is not started yet).

    ``wrap_executor`` decorates the executor (the monitor counts its calls that way).
    """
    from scheduler.centerfile import load_center
    from scheduler.engine.clock import SystemClock
    from scheduler.store import SqlStore

    config = load_center(settings.center_file)
    clock = SystemClock()
    executor = make_executor(settings.executor, clock,
                             **({"center": config.center} if settings.executor == "ray" else {}))
    if wrap_executor is not None:
        executor = wrap_executor(executor)
    store = SqlStore(settings.resolved_db_url(), clock=clock)
    try:
        return Service(settings, store, config, executor, clock)
    except Exception:
        store.close()
        raise
