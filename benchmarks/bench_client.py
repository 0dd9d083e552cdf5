"""The client and the CLI as a user feels them, against a real ``aicc serve`` (sleep executor, SQLite).

Measures: sequential submits through ``Client.submit`` (one connection, an
Idempotency-Key each), listing every job through continue tokens, and the
wall time of one ``aicc quota get`` in a fresh process (start-up included).
Prints one JSON object as its last line.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from scheduler.client import Client
from tests.client.live import job_spec, live_server


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--submits", type=int, default=500)
    ap.add_argument("--smoke", action="store_true", help="20 submits: that it runs")
    args = ap.parse_args()
    submits = 20 if args.smoke else args.submits
    with tempfile.TemporaryDirectory() as tmp, live_server(Path(tmp)) as server:
        with Client(server.url, server.admin) as admin:
            admin.create_tenant(name="bench", guaranteed="1P", limit="1P")
            token = admin.issue_token("bench", "bench").token
        with Client(server.url, token) as c:
            started = time.perf_counter()
            for i in range(submits):
                c.submit(job_spec(f"b{i}", devices=64))  # never fits: stays pending
            submit_s = time.perf_counter() - started
            started = time.perf_counter()
            listed = sum(1 for _ in c.jobs(page_size=100))
            list_s = time.perf_counter() - started
        env = {"AICC_SERVER": server.url, "AICC_TOKEN": server.admin, "AICC_CONFIG": f"{tmp}/none.yaml",
               "PATH": "/usr/bin:/bin"}
        started = time.perf_counter()
        run = subprocess.run([sys.executable, "-c", "from scheduler.cli import main; main()", "quota", "get",
                              "bench", "-o", "json"], capture_output=True, env=env, check=True)
        cli_s = time.perf_counter() - started
    assert json.loads(run.stdout)["name"] == "bench" and listed == submits
    print(f"{submits} sequential submits in {submit_s:.2f} s; {listed} jobs listed in {list_s:.2f} s; "
          f"one CLI call {cli_s:.2f} s")
    print(json.dumps({"bench": "client", "sequential_submits_per_s": round(submits / submit_s, 1),
                      "list_jobs_per_s": round(listed / list_s, 1), "cli_call_s": round(cli_s, 2),
                      "executor": "sleep", "store": "sqlite", "smoke": args.smoke}))


if __name__ == "__main__":
    main()
