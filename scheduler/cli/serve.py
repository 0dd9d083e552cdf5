"""``aicc serve``: the scheduler service (store, scheduling loop, HTTP API)."""

from __future__ import annotations

import gc
import logging
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from scheduler.cli.output import fail


def register(app: typer.Typer) -> None:
    app.command("serve", help="Run the scheduler service: HTTP API, store and scheduling loop. Jobs run "
                "on Ray: a local Ray head it starts, the cluster at RAY_ADDRESS, or (--executor kuberay) a KubeRay "
                "RayCluster of their own on Kubernetes.\n\n"
                "Example: aicc serve --port 8080 --db postgresql://aicc@db/aicc")(serve)


def serve(
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = 8080,
    db: Annotated[str | None, typer.Option(
        "--db", help="SQLAlchemy URL (default: SQLite in the data dir).")] = None,
    center: Annotated[Path | None, typer.Option(
        "--center", help="Center file (default: the shipped 610P center).")] = None,
    executor: Annotated[str, typer.Option(
        "--executor", help="ray, kuberay (each job a KubeRay RayCluster of its own, on Kubernetes), or sleep "
                 "(jobs only pretend to run, for trials).")] = "ray",
    data_dir: Annotated[Path | None, typer.Option(
        "--data-dir", envvar="AICC_DATA_DIR",
        help="Where the default database and the admin token file live.")] = None,
    log_level: Annotated[str, typer.Option("--log-level", help="debug, info, warning or error.")] = "info",
    metrics: Annotated[bool, typer.Option("--metrics/--no-metrics",
                                          help="Serve Prometheus metrics at /metrics.")] = True,
    preemption_notice: Annotated[float, typer.Option(
        "--preemption-notice", min=0, envvar="AICC_PREEMPTION_NOTICE_S",
        help="Seconds a preemption victim is told (GET /v1/jobs/{id}/checkpoint) before SIGTERM, "
             "to checkpoint first (0: none).")] = 0.0,
    ha: Annotated[bool, typer.Option(
        "--ha/--no-ha", envvar="AICC_HA",
        help="High availability: several replicas on one PostgreSQL database elect a leader; "
             "the others serve reads and forward writes to it.")] = False,
    replica_name: Annotated[str | None, typer.Option(
        "--replica-name", envvar="AICC_REPLICA_NAME", help="This replica's name (default: host name).")] = None,
    advertise_url: Annotated[str | None, typer.Option(
        "--advertise-url", envvar="AICC_ADVERTISE_URL",
        help="Where the other replicas reach this one (default: http://<host name>:<port>).")] = None,
    lease_ttl: Annotated[float, typer.Option(
        "--lease-ttl", envvar="AICC_LEASE_TTL", min=2.0,
        help="Seconds a leader's lease lasts unrenewed: a dead leader is replaced within it plus 1 s.")] = 8.0,
) -> None:
    """The options' signature is declarative (typer reads it); the body builds the settings,
    assembles the service and serves it."""
    try:
        import uvicorn

        from scheduler.service import Settings
    except ImportError as exc:
        fail(f"the service needs the 'service' extra (pip install 'aicc[service]'): {exc}")
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    token = os.environ.get("AICC_ADMIN_TOKEN") or None
    fields: dict[str, object] = {"host": host, "port": port, "db_url": db, "center_file": center,
                                 "executor": executor, "admin_token": token, "ha": ha,
                                 "replica_name": replica_name, "advertise_url": advertise_url,
                                 "lease_ttl_s": lease_ttl, "lease_renew_s": min(2.0, lease_ttl / 4),
                                 "preemption_notice_s": preemption_notice}
    if data_dir is not None:
        fields["data_dir"] = data_dir
    settings = Settings.model_validate(fields)
    service, app = assemble(settings, metrics=metrics)
    _tune_gc()
    _run_server(uvicorn.Config(app, host=host, port=port, log_level=log_level.lower(), access_log=False,
                               timeout_graceful_shutdown=5), service)


def _run_server(config: Any, service: Any) -> None:
    """Serve until a signal, then stop the service (a leader resigns) and close its store."""
    import uvicorn

    server = uvicorn.Server(config)
    shutdown = server.shutdown

    async def shutdown_then_stop(sockets: Any = None) -> None:
        # Here, not after run(): on SIGTERM uvicorn re-raises the signal once it is done,
        # which ends the process before a ``finally`` could run. A leader resigns here.
        await shutdown(sockets=sockets)
        import asyncio

        await asyncio.to_thread(_stop, service)

    server.shutdown = shutdown_then_stop  # type: ignore[method-assign]
    try:
        server.run()
    finally:
        _stop(service)


def _stop(service: Any) -> None:
    """Stop the service and close its store, once."""
    if getattr(service, "_stopped_by_serve", False):
        return
    service._stopped_by_serve = True
    service.stop()
    service.store.close()


def assemble(settings: Any, *, metrics: bool) -> tuple[Any, Any]:
    """The service, started, and its HTTP app, wired as ``aicc serve`` wires them
    (``aicc up`` runs the same pair in one process with a demo around it)."""
    from scheduler.api import create_app
    from scheduler.centerfile import CenterFileError
    from scheduler.service import ExecutorUnavailable, build_service
    from scheduler.store.single_writer import SecondWriter

    monitor = _monitor() if metrics else None
    try:
        service = build_service(settings, wrap_executor=monitor.wrap_executor if monitor else None)
    except (ExecutorUnavailable, CenterFileError, SecondWriter) as exc:
        fail(str(exc))
    except Exception as exc:  # the database cannot be opened or migrated
        fail(f"cannot start: {type(exc).__name__}: {exc}")
    if service.generated_admin_token is not None:
        # Shown on a terminal only: a redirected stdout is a log (journald, kubectl logs),
        # and the admin token must never reach a log. The file is 0600.
        where = settings.resolved_admin_token_file()
        if sys.stdout.isatty():
            typer.echo(f"admin token (shown once; saved to {where}):")
            typer.echo(service.generated_admin_token, nl=True)
        else:
            typer.echo(f"admin token generated and saved to {where} (mode 0600)")
    if monitor is not None:
        monitor.attach(service.engine, lock=service.lock)
        if settings.ha:  # the state gauges come from the leader alone: sums over replicas stay true
            monitor.follow(lambda: service.engine if service.leads() else None)
        monitor.leadership(service)
    service.on_deposed = _exit_deposed
    repairs = service.start()
    if repairs:
        logging.getLogger("aicc").info("reconciled after restart: %d repairs", len(repairs))
    app = create_app(settings, service)
    if monitor is not None:
        monitor.mount(app)
    return service, app


def _exit_deposed(why: str) -> None:
    """A deposed leader exits at once (no cleanup: its executor's jobs belong to the new
    leader now); its supervisor starts it again, as a follower."""
    logging.getLogger("aicc").critical("exiting: no longer the leader (%s)", why)
    logging.shutdown()
    os._exit(75)


def _tune_gc() -> None:
    """Fewer, later collections: the service keeps many long-lived objects (jobs,
    queue columns), and a full collection over them stalls every request for
    tens of milliseconds. What start-up made is moved out of the collector's view."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)


def _monitor() -> Any:
    """The monitor (metrics), when its package is installed."""
    try:
        from monitor.service import Monitor
    except ImportError:
        return None
    return Monitor()
