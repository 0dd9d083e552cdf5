"""One scheduling step: snapshot, decide, record, act; and reconcile."""

from scheduler.engine.clock import Clock, ManualClock, ScaledClock, SystemClock
from scheduler.engine.engine import Engine
from scheduler.engine.hooks import EngineObserver, RuntimeEstimator
from scheduler.engine.ports import EventKind, Executor, ExecutorEvent, Store, StoredState

__all__ = [
    "Clock",
    "Engine",
    "EngineObserver",
    "EventKind",
    "Executor",
    "ExecutorEvent",
    "ManualClock",
    "RuntimeEstimator",
    "ScaledClock",
    "Store",
    "StoredState",
    "SystemClock",
]
