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
    held = None
    if settings.ha:
        from sqlalchemy.engine import make_url

        if make_url(settings.resolved_db_url()).get_backend_name() != "postgresql":
            raise ValueError("high availability (--ha) needs PostgreSQL (--db postgresql://...)")
        import os

        if settings.executor == "ray" and not os.environ.get("RAY_ADDRESS"):
            raise ValueError("high availability (--ha) with the ray executor needs a Ray cluster of its "
                             "own (RAY_ADDRESS): each replica's embedded Ray head would run jobs apart")
    else:
        from scheduler.store.single_writer import lock_sqlite

        held = lock_sqlite(settings.resolved_db_url())
    options: dict[str, object] = {}
    if settings.executor == "ray":
        # The Ray executor keeps job code away from the service's files: the data dir, the token
        # file's folder, a SQLite database's folder.
        options["center"] = config.center
        options["protect"] = sorted(protected_paths(settings))
    elif settings.executor == "kuberay":
        options["center"] = config.center
    elif settings.executor == "sleep" and settings.ha:
        options["outlives_service"] = True
    executor = make_executor(settings.executor, clock, **options)
    if wrap_executor is not None:
        executor = wrap_executor(executor)
    try:
        store = SqlStore(settings.resolved_db_url(), clock=clock)
    except Exception:
        if held is not None:
            held.close()
        raise
    if held is not None:
        store.hold(held)
    try:
        return Service(settings, store, config, executor, clock)
    except Exception:
        store.close()
        raise


def protected_paths(settings: Settings) -> set[Path]:
    """What job code may not reach: the data dir, the token file's folder, a SQLite database's."""
    protect = {settings.data_dir.resolve(), settings.resolved_admin_token_file().resolve().parent}
    db_url = settings.resolved_db_url()
    if db_url.startswith("sqlite:///") and Path(db_url.removeprefix("sqlite:///")).is_absolute():
        protect.add(Path(db_url.removeprefix("sqlite:///")).parent)
    return protect
