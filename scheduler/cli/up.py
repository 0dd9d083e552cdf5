"""``aicc up``: the embedded center, the README's main job.

One process runs the scheduler service (SQLite store, scheduling loop, HTTP
API with metrics) on a local Ray head that declares the whole 610P center as
logical resources; a local Prometheus with the shipped rules scrapes it when
the binary is installed. Three demo tenants get tokens and submit the example
jobs of ``examples/jobs``; their progress is printed until they end, then the
center keeps serving until Ctrl-C (or ``--for`` seconds).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml

from scheduler.cli.output import fail, table

DEMO = (("large-models", "train-mlp.yaml"), ("finance", "finetune.yaml"), ("smart-city", "batch-inference.yaml"))


def register(app: typer.Typer) -> None:
    app.command("up", help="Run the embedded center: local Ray, API, scheduler, metrics, demo tenants.\n\n"
                "Example: aicc up --port 8080 (then: aicc job list --server http://127.0.0.1:8080 "
                "--token \"$(cat run/admin-token)\")")(up)


def up(
    port: Annotated[int, typer.Option("--port", help="Port of the API (and /metrics).")] = 8080,
    executor: Annotated[str, typer.Option("--executor", help="ray (a local Ray head) or sleep.")] = "ray",
    data_dir: Annotated[Path, typer.Option("--data-dir", help="Database, tokens and Prometheus data.")] = Path("run"),
    prometheus_port: Annotated[int, typer.Option("--prometheus-port", help="Port of the local Prometheus.")] = 9090,
    jobs_dir: Annotated[Path, typer.Option("--jobs", help="Job specs the demo tenants submit.")] = Path("examples/jobs"),
    duration: Annotated[float | None, typer.Option("--for", help="Stop after this many seconds.")] = None,
) -> None:
    try:
        import uvicorn

        from scheduler.cli.serve import assemble
        from scheduler.client import Client
        from scheduler.service import Settings
    except ImportError as exc:
        fail(f"aicc up needs the service extra (make install): {exc}")
    data_dir.mkdir(parents=True, exist_ok=True)
    token = os.environ.get("AICC_ADMIN_TOKEN") or _admin_token(data_dir)
    settings = Settings.model_validate({"host": "127.0.0.1", "port": port, "data_dir": data_dir,
                                        "executor": executor, "admin_token": token})
    typer.echo(f"starting the center ({executor} executor{', local Ray head' if executor == 'ray' else ''}) ...")
    service, app = assemble(settings, metrics=True)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           access_log=False, timeout_graceful_shutdown=5))
    thread = threading.Thread(target=server.run, name="aicc-api", daemon=True)
    thread.start()
    signal.signal(signal.SIGTERM, _interrupt)  # as Ctrl-C (Ray's driver would dump a stack and die)
    with _stopping(server, thread, service):
        while not server.started:
            if not thread.is_alive():
                fail(f"the API could not start on 127.0.0.1:{port} (is the port in use?)")
            time.sleep(0.05)
        url = f"http://127.0.0.1:{port}"
        prometheus, where = _prometheus(port, prometheus_port, data_dir)
        try:
            admin = Client(url, token)
            submitted = _demo_tenants(admin, url, data_dir, jobs_dir)
            _print_where(url, where, data_dir)
            _follow(admin, submitted)
            typer.echo("\nthe center keeps serving; Ctrl-C stops it")
            deadline = None if duration is None else time.monotonic() + duration
            while deadline is None or time.monotonic() < deadline:
                time.sleep(0.5)
        except KeyboardInterrupt:
            typer.echo("\nstopping")
        finally:
            if prometheus is not None:
                from monitor.local_prometheus import stop

                stop(prometheus)


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _admin_token(data_dir: Path) -> str:
    """The admin token of this data dir, made once (0600) so restarts keep it."""
    path = data_dir / "admin-token"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(32))
    return path.read_text().strip()


@contextlib.contextmanager
def _stopping(server: Any, thread: threading.Thread, service: Any) -> Iterator[None]:
    try:
        yield
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        service.stop()
        service.store.close()


def _prometheus(port: int, prometheus_port: int, data_dir: Path) -> tuple[Any, str]:
    try:
        from monitor.local_prometheus import maybe_start
    except ImportError:
        return None, "Prometheus: the monitor extra is not installed"
    proc, line = maybe_start(f"127.0.0.1:{port}", prometheus_port, data_dir / "prometheus")
    return proc, line


def _demo_tenants(admin: Any, url: str, data_dir: Path, jobs_dir: Path) -> list[tuple[str, str, Any]]:
    """Each demo tenant gets a token (saved 0600 in data_dir/tokens) and submits its example job."""
    from scheduler.client import Client

    tokens = data_dir / "tokens"
    tokens.mkdir(exist_ok=True)
    submitted = []
    for tenant, spec_file in DEMO:
        path = jobs_dir / spec_file
        if not path.exists():
            typer.echo(f"  {path} not found: {tenant} submits nothing")
            continue
        token = admin.issue_token(tenant).token
        token_file = tokens / tenant
        token_file.touch(mode=0o600)
        token_file.write_text(token)
        client = Client(url, token)
        job = client.submit(yaml.safe_load(path.read_text()))
        submitted.append((tenant, job.id, client))
        typer.echo(f"  {tenant} submitted {job.id} ({job.name}) from {path}")
    return submitted


def _print_where(url: str, prometheus: str, data_dir: Path) -> None:
    typer.echo(f"""
API        {url}   (OpenAPI: {url}/docs, metrics: {url}/metrics)
{prometheus}
admin token in {data_dir / 'admin-token'}; tenant tokens in {data_dir / 'tokens'}/
try:       export AICC_SERVER={url} AICC_TOKEN="$(cat {data_dir / 'admin-token'})"
           aicc center show; aicc job list --all; aicc top --once
""")


def _follow(admin: Any, submitted: list[tuple[str, str, Any]], timeout_s: float = 300.0) -> None:
    """Print the demo jobs' states as they change, until they have all ended."""
    last: dict[str, str] = {}
    deadline = time.monotonic() + timeout_s
    while submitted and time.monotonic() < deadline:
        rows = []
        for tenant, job_id, client in submitted:
            job = client.job(job_id)
            reason = job.reason
            nodes = ",".join(job.placement.nodes) if job.placement else ""
            rows.append([job_id, tenant, job.name, job.state, nodes[:40], reason])
        states = {r[0]: f"{r[3]} {r[5]}" for r in rows}
        if states != last:
            typer.echo(table(["ID", "TENANT", "NAME", "STATE", "NODES", "REASON"], rows) + "\n")
            last = states
        if all(r[3] in ("succeeded", "failed", "cancelled") for r in rows):
            for tenant, job_id, client in submitted:
                lines = [line for line in client.logs(job_id).text.splitlines() if line.strip()][-3:]
                typer.echo(f"{job_id} ({tenant}) last log lines:\n  " + "\n  ".join(lines))
            return
        time.sleep(1.0)
