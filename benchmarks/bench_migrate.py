"""Time of the slowest migration, 0005 (jobs.ran_s from the ledger's runs), on a large database.

The service migrates at start, within the Helm chart's startup probe (300 s), so an
upgrade's migration time per million jobs is what an operator needs to know. A
database at 0004 gets ``--jobs`` finished jobs, each with one closed run and every
fifth with a second (a preempted job), then is upgraded to head; the figures are
seconds for SQLite (a file) and PostgreSQL (a throwaway server, when Debian's
postgresql is installed).

    python benchmarks/bench_migrate.py [--jobs 1000000]

The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa

from scheduler.store import migrate
from tests.pg_testing import PostgresServer, PostgresUnavailable

_JOB = ("INSERT INTO jobs (id, seq, tenant, name, kind, state, spec, submitted_at, borrowing, reason,"
        " detail, preemptions, node_losses) VALUES (:id, :seq, 'acme', 'j', 'training', 'succeeded',"
        " :spec, 100.0, false, 'Succeeded', '', :preemptions, 0)")
_RUN = ("INSERT INTO job_runs (job_id, tenant, kind, accelerator, devices, started_at, ended_at)"
        " VALUES (:id, 'acme', 'training', 'a800', 8, :start, :end)")


def upgrade_seconds(url: str, jobs: int) -> float:
    engine = sa.create_engine(url)
    try:
        migrate.upgrade(engine, "0004")
        spec = json.dumps({"name": "j", "kind": "training", "workers": 1, "resources": {"accelerators": 8}})
        with engine.begin() as conn:
            conn.execute(sa.text(_JOB), [{"id": f"j{i}", "seq": i, "spec": spec, "preemptions": int(i % 5 == 0)}
                                         for i in range(jobs)])
            conn.execute(sa.text(_RUN), [{"id": f"j{i}", "start": 110.0, "end": 150.0 + i % 7} for i in range(jobs)]
                         + [{"id": f"j{i}", "start": 200.0, "end": 300.0} for i in range(0, jobs, 5)])
        began = time.perf_counter()
        migrate.upgrade(engine)
        took = time.perf_counter() - began
        with engine.connect() as conn:  # j0: 40 s, preempted, then 100 s
            assert conn.execute(sa.text("SELECT ran_s FROM jobs WHERE id = 'j0'")).scalar() == 140.0
        return round(took, 2)
    finally:
        engine.dispose()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--jobs", type=int, default=1_000_000)
    ap.add_argument("--smoke", action="store_true", help="2,000 jobs: that it runs")
    args = ap.parse_args()
    if args.smoke:
        args.jobs = 2_000
    result: dict[str, object] = {"jobs": args.jobs, "smoke": args.smoke}
    with tempfile.TemporaryDirectory() as tmp:
        result["sqlite_s"] = upgrade_seconds(f"sqlite:///{Path(tmp) / 'aicc.db'}", args.jobs)
    print("sqlite", result["sqlite_s"], flush=True)
    try:
        pg = PostgresServer().start()
    except PostgresUnavailable as e:
        result["postgresql_s"] = None
        result["postgresql_skipped"] = str(e)
    else:
        try:
            result["postgresql_s"] = upgrade_seconds(pg.fresh_database("bench_migrate"), args.jobs)
        finally:
            pg.stop()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
