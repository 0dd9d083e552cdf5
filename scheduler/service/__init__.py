"""The service: use cases over the engine, the scheduling loop, settings, executors by name."""

from collections.abc import Callable
from pathlib import Path

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
    # The Ray executor keeps job code away from the service's files: the data dir, the token file's
    # folder, a SQLite database's folder.
    protect = {settings.data_dir.resolve(), settings.resolved_admin_token_file().resolve().parent}
    db_url = settings.resolved_db_url()
    if db_url.startswith("sqlite:///") and Path(db_url.removeprefix("sqlite:///")).is_absolute():
        protect.add(Path(db_url.removeprefix("sqlite:///")).parent)
    executor = make_executor(settings.executor, clock,
                             **({"center": config.center, "protect": sorted(protect)} if settings.executor == "ray" else {}))
    if wrap_executor is not None:
        executor = wrap_executor(executor)
    store = SqlStore(settings.resolved_db_url(), clock=clock)
    try:
        return Service(settings, store, config, executor, clock)
    except Exception:
        store.close()
        raise
