"""One object that wires the monitor into the service: ``Monitor`` and ``mount``.

Where the service is built::

    monitor = Monitor()
    executor = monitor.wrap_executor(executor)         # counts executor errors
    service = Service(settings, store, config, executor, clock)
    monitor.attach(service.engine, lock=service.lock,  # state at scrape time + events
                   step_errors=lambda: service.loop_errors)

and in ``create_app`` (before the app starts)::

    monitor.mount(app)                                 # GET /metrics + HTTP metrics

``mount(app, engine_or_provider, lock=...)`` does both of the last two in one.

Everything lives in the monitor's own ``CollectorRegistry``: two apps in one
process (tests) never share counts, and nothing is made at import time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from copy import copy
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from monitor.collector import EngineCollector
from monitor.http import HTTPMetrics, HTTPMetricsMiddleware
from monitor.instrumentation import EventMetrics, InstrumentedExecutor, MetricsObserver, reconcile
from monitor.leadership import LeadershipCollector
from scheduler.engine import Engine, Executor

EngineProvider = Callable[[], Engine | None]


class Monitor:
    """The metrics of one aicc service: state collector, engine observer, HTTP metrics.

    ``engine``: the engine, or a function returning the current one (None
    while there is none). ``lock``: held while a scrape copies the engine's
    state, when the engine is stepped on another thread.
    """

    def __init__(
        self,
        engine: Engine | EngineProvider | None = None,
        *,
        registry: CollectorRegistry | None = None,
        lock: AbstractContextManager[object] | None = None,
        device_series: bool = True,
    ) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        # The state collector first: a scrape reads the engine (and starts a new tenant's
        # counters at zero) before the counters are collected.
        self.collector = EngineCollector(
            self._current, lock=lock, last_step_wall=lambda: self.observer.last_step_wall,
            device_series=device_series)
        self.registry.register(self.collector)
        self.events = EventMetrics(self.registry)
        self.observer = MetricsObserver(self.events)
        self.http = HTTPMetrics(self.registry)
        self.leadership_collector = LeadershipCollector()
        self.registry.register(self.leadership_collector)
        self._provider: EngineProvider = lambda: None
        if isinstance(engine, Engine):
            self.attach(engine)
        elif engine is not None:
            self._provider = engine

    def attach(self, engine: Engine, *, lock: AbstractContextManager[object] | None = None,
               step_errors: Callable[[], int] | None = None) -> Engine:
        """Read this engine from now on and observe its events; ``lock`` guards the engine;
        ``step_errors`` counts the scheduling loop's failed iterations (``Service.loop_errors``)."""
        self._provider = lambda: engine
        if lock is not None:
            self.collector.lock = lock
        if step_errors is not None:
            self.collector.step_errors = step_errors
        self._observe(engine)
        return engine

    def follow(self, provider: EngineProvider) -> None:
        """Read whatever engine ``provider`` gives at each scrape (None: no state metrics):
        a replica exports the state only while it leads."""
        self._provider = provider

    def leadership(self, service: Any) -> None:
        """Export ``aicc_leader`` and the leader changes of this replica (high availability)."""
        self.leadership_collector.service = service

    def _observe(self, engine: Engine) -> None:
        if self.observer not in engine.observers:
            engine.observers.append(self.observer)
        self.observer.know_engine(engine)

    def _current(self) -> Engine | None:
        engine = self._provider()
        if engine is not None:
            self._observe(engine)  # a provider's new engine (after a restart) is observed too
        return engine

    def wrap_executor(self, executor: Executor) -> InstrumentedExecutor:
        """The executor, with its errors counted in aicc_executor_errors_total."""
        return InstrumentedExecutor(executor, self.events)

    def reconcile(self, engine: Engine) -> list[str]:
        """``engine.reconcile()``, counting failures in aicc_reconcile_errors_total."""
        self._observe(engine)
        return reconcile(engine, self.events)

    def exposition(self, accept: str | None = None) -> tuple[bytes, str]:
        """The scrape body and its content type (OpenMetrics when the scraper asks for it)."""
        encoder, content_type = choose_encoder(accept or "")
        return encoder(_WithoutCreated(self.registry)), content_type

    def mount(self, app: Any, path: str = "/metrics") -> None:
        """Add ``GET path`` and the HTTP metrics middleware to a Starlette/FastAPI app.

        Call it while building the app: Starlette refuses new middleware once it started.
        """
        from starlette.concurrency import run_in_threadpool
        from starlette.requests import Request
        from starlette.responses import Response

        async def metrics_endpoint(request: Request) -> Response:
            # In a worker thread: a scrape of a long queue must not stall the event loop.
            body, content_type = await run_in_threadpool(self.exposition, request.headers.get("accept"))
            return Response(body, headers={"Content-Type": content_type})

        app.add_middleware(HTTPMetricsMiddleware, metrics=self.http)
        app.add_route(path, metrics_endpoint, methods=["GET"], include_in_schema=False)


class _WithoutCreated(Collector):
    """The registry without the ``_created`` samples of its counters and histograms.

    They are optional in OpenMetrics, and Prometheus (2.42 here) stores each as a
    series of its own, in either format: 141 of 2,766 aicc series in the live test,
    for a start time that counter resets already tell.
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry

    def collect(self) -> Iterable[Metric]:
        for metric in self.registry.collect():
            created = metric.name + "_created"
            if any(s.name == created for s in metric.samples):
                metric = copy(metric)
                metric.samples = [s for s in metric.samples if s.name != created]
            yield metric


def mount(app: Any, engine: Engine | EngineProvider | None = None, *, path: str = "/metrics",
          lock: AbstractContextManager[object] | None = None) -> Monitor:
    """Make a ``Monitor`` over ``engine`` and mount it on ``app``; returns it."""
    monitor = Monitor(engine, lock=lock)
    monitor.mount(app, path)
    return monitor
