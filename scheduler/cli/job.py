"""``aicc job submit|list|get|cancel|logs``: jobs, as ``ray job`` and Slurm show them."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from scheduler.cli.connect import (
    Output,
    Yes,
    age,
    api_command,
    confirm,
    dump,
    dump_items,
    listing,
    parse_time,
    show,
    when,
)
from scheduler.cli.output import Format, fail, table

if TYPE_CHECKING:
    from scheduler.api.models import JobOut
    from scheduler.client import Client

JobArg = Annotated[str, typer.Argument(help="Job id (from job list or job submit).")]
LIVE = ("pending", "admitted", "running", "preempted")
TERMINAL = ("succeeded", "failed", "cancelled")

EXAMPLE_SPEC = """\b
    name: bert-finetune
    kind: finetune            # training, finetune, inference, batch
    workers: 2                # a gang: all start together or none
    resources:                # per worker
      accelerators: 8
      accelerator_types: ["a800"]
      cpus: 16
      memory: 128Gi
    priority: normal
    estimated_runtime_s: 3600
    entrypoint: python train.py"""


def register(app: typer.Typer) -> None:
    j = typer.Typer(name="job", help="Submit, list, inspect and cancel jobs.", no_args_is_help=True)
    j.command("submit", help="Submit a job from a YAML (or JSON) file with the keys of the API's job spec; "
              "needs a tenant token. Retries reuse one Idempotency-Key, so a job is made once.\n\n"
              f"{EXAMPLE_SPEC}\n\nExample: aicc job submit -f job.yaml")(api_command(submit))
    j.command("list", help="The queue, as squeue shows it: live jobs by default (--all for finished ones "
              "too), with the nodes of running jobs or the REASON a pending one waits.\n\n"
              "Example: aicc job list --tenant finance --state pending")(api_command(list_))
    j.command("queue", help="A tenant's queue in order (the admin: each tenant's), as squeue --start "
              "shows it: every pending job's place, when it is expected to start (ETA) and how that "
              "was found (reservation, projection, or unknown: aicc job get says why).\n\n"
              "Example: aicc job queue --tenant finance")(api_command(queue))
    j.command("get", help="Show a job: state, placement, why it waits, queue position, times.\n\n"
              "Example: aicc job get j42 -o yaml")(api_command(get))
    j.command("cancel", help="Cancel jobs (your own; the admin: any). Finished jobs stay as they are.\n\n"
              "Example: aicc job cancel j42 j43 --yes")(api_command(cancel))
    j.command("logs", help="Print a job's output; --follow keeps printing until the job ends.\n\n"
              "Example: aicc job logs j42 --follow")(api_command(logs))
    j.command("export", help="Finished jobs as a trace CSV for aicc simulate: how long each ran (all its "
              "attempts), its gang, type, priority, and how long it waited. Replay it under a proposed "
              "quota to see what the change would have done.\n\n"
              "Example: aicc job export --since 30d -f month.csv; "
              "aicc simulate --trace month.csv --policy center --quota vision=40P")(api_command(export))
    app.add_typer(j)


def _read_spec(path: Path) -> dict[str, Any]:
    import yaml

    try:
        text = typer.get_text_stream("stdin").read() if str(path) == "-" else path.read_text()
    except OSError as exc:
        fail(f"cannot read {path}: {exc.strerror or exc}")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        fail(f"{path}: not YAML: {str(exc).splitlines()[0]}")
    if not isinstance(data, dict):
        fail(f"{path}: expected a mapping with the job spec (name, resources, ...)")
    return data


def submit(client: Client,
           file: Annotated[Path, typer.Option("--file", "-f", help="Job spec, YAML or JSON ('-': stdin).")],
           name: Annotated[str | None, typer.Option("--name", help="Override the spec's name.")] = None,
           idempotency_key: Annotated[str | None, typer.Option(
               "--idempotency-key", help="Make resubmits of this key return the same job (default: a new key).")] = None,
           output: Output = Format.TABLE) -> None:
    spec = _read_spec(file)
    if name is not None:
        spec["name"] = name
    job = client.submit(spec, idempotency_key=idempotency_key)
    show(dump(job), output, lambda: f"submitted job {job.id} ({job.name}) for {job.tenant}: {job.state}"
         + (f" ({job.reason})" if job.reason and job.state == "pending" else "")
         + (f"\nwarning: {job.budget_warning}" if job.budget_warning else ""))


def _nodes(nodes: list[str]) -> str:
    if len(nodes) <= 3:
        return ",".join(nodes)
    return f"{','.join(nodes[:2])},+{len(nodes) - 2}"


def where_or_why(j: JobOut) -> str:
    """NODES for a job holding devices, (REASON) otherwise, as squeue's NODELIST(REASON)."""
    if j.placement is not None and j.state in ("admitted", "running", "preempted"):
        return _nodes(j.placement.nodes)
    return f"({j.reason})" if j.reason else ""


def eta(j: JobOut, now: datetime | None = None) -> str:
    """When a pending job is expected to start, as squeue --start shows it: ``now``,
    ``in 40m``, ``?`` (unknown: ``aicc job get`` says why); empty for other jobs."""
    if j.state != "pending" or j.expected_start_how is None:
        return ""
    start = parse_time(j.expected_start_at)
    if start is None:
        return "?"
    s = int((start - (now or datetime.now(UTC))).total_seconds())
    if s < 60:
        return "now"
    if s < 7200:
        return f"in {s // 60}m"
    if s < 172800:
        return f"in {s // 3600}h"
    return f"in {s // 86400}d"


def queue_table(items: list[JobOut]) -> str:
    rows = [[j.id, j.tenant, j.name, j.state.upper(), j.devices, age(j.submitted_at), eta(j), where_or_why(j)]
            for j in items]
    return table(["ID", "TENANT", "NAME", "STATE", "DEVICES", "AGE", "ETA", "NODES(REASON)"], rows)


def list_(client: Client,
          tenant: Annotated[str | None, typer.Option("--tenant", help="Only this tenant's jobs (admin).")] = None,
          state: Annotated[list[str] | None, typer.Option(
              "--state", help="pending, admitted, running, preempted, succeeded, failed, cancelled "
              "(repeat or comma-separate).")] = None,
          kind: Annotated[list[str] | None, typer.Option("--kind", help="training, finetune, inference, batch.")] = None,
          all_: Annotated[bool, typer.Option("--all", "-a", help="Finished jobs too.")] = False,
          output: Output = Format.TABLE) -> None:
    states = [s.strip().lower() for v in state or [] for s in v.split(",") if s.strip()]
    if not states and not all_:
        states = list(LIVE)
    items = list(client.jobs(tenant=tenant, state=states or None, kind=kind or None))
    show(dump_items(items), output, lambda: queue_table(items))


def queue(client: Client,
          tenant: Annotated[str | None, typer.Option("--tenant", help="Only this tenant's queue (admin).")] = None,
          output: Output = Format.TABLE) -> None:
    items = sorted(client.jobs(tenant=tenant, state=["pending"]),
                   key=lambda j: (j.tenant, j.queue_position or 1 << 30, j.submitted_at))
    rows = [[j.tenant, j.queue_position or "-", j.id, j.name, j.devices, age(j.submitted_at), eta(j) or "?",
             j.expected_start_how or "-", j.reason] for j in items]
    show(dump_items(items), output, lambda: table(
        ["TENANT", "POS", "ID", "NAME", "DEVICES", "WAITED", "ETA", "HOW", "REASON"], rows))


def job_text(j: JobOut) -> str:
    r = j.resources
    accel = "/".join(r.accelerator_types) or "any"
    extra = "".join([f", {r.cpus} cpus" if r.cpus else "", f", {r.memory} memory" if r.memory != "0" else ""])
    shape = f"{j.workers} x {r.accelerators} {accel}{extra} per worker"
    placed = None
    if j.placement is not None:
        placed = "; ".join(f"{w.node}[{','.join(map(str, w.devices))}]" for w in j.placement.workers)
    return listing([
        ("Job", j.id), ("Name", j.name), ("Tenant", j.tenant), ("Kind", j.kind), ("State", j.state),
        ("Reason", j.reason), ("Detail", j.detail), ("Queue position", j.queue_position),
        ("Expected start", _expected_start(j)),
        ("Budget", f"warning: {j.budget_warning}" if j.budget_warning else None),
        ("Priority", j.priority + ("" if j.preemptible else ", not preemptible")),
        ("Resources", shape), ("Devices", j.devices),
        ("Placement", f"{j.placement.accelerator}: {placed}" if j.placement else None),
        ("Borrowing", "yes" if j.borrowing else None), ("Preemptions", j.preemptions or None),
        ("Ran", f"{j.ran_s:.1f} s" + (" in earlier attempts" if j.finished_at is None else "") if j.ran_s else None),
        ("Node losses", f"{j.node_losses}" + ("" if j.max_retries is None else f" (max retries {j.max_retries})")
         if j.node_losses or j.max_retries is not None else None),
        ("Submitted", j.submitted_at), ("Admitted", j.admitted_at), ("Started", j.started_at),
        ("Finished", j.finished_at), ("Estimated runtime", j.estimated_runtime_s and f"{j.estimated_runtime_s:g} s"),
        ("Max runtime", j.max_runtime_s and f"{j.max_runtime_s:g} s"), ("Entrypoint", j.entrypoint),
    ])


def _expected_start(j: JobOut) -> str | None:
    if j.expected_start_how is None:
        return None
    when = j.expected_start_at or "unknown"
    detail = f": {j.expected_start_detail}" if j.expected_start_detail else ""
    return f"{when} ({eta(j) or '?'}; {j.expected_start_how}{detail})"


def get(client: Client, job_id: JobArg, output: Output = Format.TABLE) -> None:
    j = client.job(job_id)
    show(dump(j), output, lambda: job_text(j))


def cancel(client: Client, job_ids: Annotated[list[str], typer.Argument(help="Job ids.")],
           yes: Yes = False, output: Output = Format.TABLE) -> None:
    confirm(yes, f"cancel {', '.join(job_ids)}")
    done = [client.cancel(i) for i in job_ids]
    data: Any = dump(done[0]) if len(done) == 1 else dump_items(done)
    show(data, output, lambda: "\n".join(f"job {j.id} ({j.name}): {j.state}" for j in done))


def _new_lines(before: list[str], after: list[str]) -> list[str]:
    """The lines of ``after`` past what it shares with ``before`` (logs grow; a rewrite reprints)."""
    k = 0
    while k < len(before) and k < len(after) and before[k] == after[k]:
        k += 1
    if k < len(before):  # rewritten, not appended: show it whole
        return after
    return after[k:]


def logs(client: Client, job_id: JobArg,
         follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing until the job ends.")] = False,
         interval: Annotated[float, typer.Option("--interval", min=0.1, help="Seconds between polls.")] = 1.0,
         output: Output = Format.TABLE) -> None:
    out = client.logs(job_id)
    if not follow:
        show(dump(out), output, lambda: out.text.rstrip("\n"))
        return
    if output is not Format.TABLE:
        fail("--follow prints text; use it without -o")
    seen: list[str] = []
    while True:
        lines = out.text.splitlines()
        for line in _new_lines(seen, lines):
            typer.echo(line)
        seen = lines
        if client.job(job_id).state in TERMINAL:
            final = client.logs(job_id).text.splitlines()
            for line in _new_lines(seen, final):
                typer.echo(line)
            return
        time.sleep(interval)
        out = client.logs(job_id)


def _instant(value: str | None) -> datetime | None:
    """What ``when`` checked, as a time: epoch seconds or RFC 3339."""
    if value is None:
        return None
    try:
        return datetime.fromtimestamp(float(value), UTC)
    except ValueError:
        return parse_time(value)


def export(client: Client,
           tenant: Annotated[str | None, typer.Option("--tenant", help="Only this tenant's jobs (admin).")] = None,
           since: Annotated[str | None, typer.Option(
               "--since", help="Submitted from (RFC 3339, a date, epoch seconds, or a span ago: 30d).")] = None,
           until: Annotated[str | None, typer.Option("--until", help="Submitted before.")] = None,
           file: Annotated[Path | None, typer.Option("--file", "-f", help="Write here (default: stdout).")] = None,
           ) -> None:
    import csv
    import io

    from scheduler.cli.history import COLUMNS, trace_rows

    start, end = _instant(when(since, "--since")), _instant(when(until, "--until"))
    jobs = client.jobs(tenant=tenant, state=list(TERMINAL))
    rows, skipped = trace_rows(jobs, start, end)
    if not rows:
        fail("no finished job that ran" + (f" of {tenant}" if tenant else "")
             + (" in that time" if start or end else "") + ": nothing to export")
    out = io.StringIO()
    writer = csv.DictWriter(out, COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    if file is None:
        typer.echo(out.getvalue(), nl=False)
    else:
        try:
            file.write_text(out.getvalue())
        except OSError as exc:
            fail(f"cannot write {file}: {exc.strerror or exc}")
    left = f"; {skipped} that never ran left out" if skipped else ""
    typer.echo(f"exported {len(rows)} jobs{left}" + (f" to {file}" if file else ""), err=True)
