"""The service: use cases over the engine, the scheduling loop, settings, executors by name."""

from scheduler.service.errors import ServiceError
from scheduler.service.executors import ExecutorUnavailable, make_executor
from scheduler.service.service import JobView, QuotaChange, Service
from scheduler.service.settings import Settings

__all__ = [
    "ExecutorUnavailable",
    "JobView",
    "QuotaChange",
    "Service",
    "ServiceError",
    "Settings",
    "build_service",
    "make_executor",
]


def build_service(settings: Settings) -> Service:
    """Everything ``aicc serve`` needs, from its settings (the loop is not started yet)."""
    from scheduler.centerfile import load_center
    from scheduler.engine.clock import SystemClock
    from scheduler.store import SqlStore

    config = load_center(settings.center_file)
    clock = SystemClock()
    executor = make_executor(settings.executor, clock)
    store = SqlStore(settings.resolved_db_url(), clock=clock)
    try:
        return Service(settings, store, config, executor, clock)
    except Exception:
        store.close()
        raise
