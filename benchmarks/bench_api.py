"""Job submissions per second over real HTTP, SQLite, 16 connections, with wrk.

Starts ``aicc serve --executor sleep --db sqlite:///...`` (the shipped 610P center) as a
real process, issues a tenant token, and drives ``POST /v1/jobs`` with wrk and
a Lua script. Then does the same against a naive FastAPI + SQLAlchemy app (one
ORM session and one commit per request) in the same run, for comparison.

What makes aicc faster than the naive app: one writer thread with group
commit (the inserts of many concurrent requests share one transaction, run
as one executemany on the driver; each request waits on a future, and the
event loop is woken once per commit, not per request); submissions never
wait for a scheduling step (their own small lock; the loop hands them to the
engine before each step, and steps may take at most a quarter of the time);
token checks against an in-memory table of hashes; the submit route is served
by a hand-written handler (no dependency solving; ``HandServed`` in
scheduler/api/routes/jobs.py) that parses the body with pydantic-core's JSON parser; uvloop and httptools under uvicorn; orjson; the
response built as a dict without validating our own output.

Prints, as its last line, one JSON object: submits_per_s, p99_ms, p50_ms,
naive_submits_per_s, naive_p99_ms, the server's CPU time per submission for
both (comparable on a busy machine, unlike rates), the load average,
connections, duration_s, errors.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from benchmarks.serving import Served, free_port

ADMIN = "bench-admin-token"
JOB = {"name": "bench", "kind": "batch", "workers": 1,
       "resources": {"accelerators": 1, "cpus": 4, "memory": "16Gi"},
       "priority": "normal", "runtime_env": {"sleep_s": 3600}}

LUA = """
wrk.method = "POST"
wrk.body = '%(body)s'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer %(token)s"
"""


def request(url: str, method: str = "GET", body: object = None, token: str | None = None) -> dict[str, object]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read() or b"{}")  # type: ignore[no-any-return]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_wrk(url: str, token: str, seconds: int, connections: int, workdir: Path,
            pid: int | None = None) -> dict[str, float]:
    cpu0 = cpu_seconds(pid) if pid else 0.0
    script = workdir / "post.lua"
    script.write_text(LUA % {"body": json.dumps(JOB), "token": token})
    out = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script), url],
                         capture_output=True, text=True, check=True).stdout
    cpu = cpu_seconds(pid) - cpu0 if pid else 0.0
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    done = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    lat = dict(re.findall(r"^\s+(50|99)%\s+([\d.]+\w+)", out, re.M))
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors:.*", out)
    return {"rps": rps, "p50_ms": _ms(lat["50"]), "p99_ms": _ms(lat["99"]),
            "cpu_us": cpu / done * 1e6 if done else 0.0,
            "non_2xx": float(bad.group(1)) if bad else 0.0, "socket_errors": 1.0 if errors else 0.0,
            "raw": out}  # type: ignore[dict-item]


def _ms(value: str) -> float:
    m = re.match(r"([\d.]+)(us|ms|s)", value)
    assert m is not None, value
    return float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]


# -- the naive baseline: what a first FastAPI + SQLAlchemy service does ----------------------

NAIVE_APP = '''
import json, sys, time
from fastapi import FastAPI, Header
from pydantic import BaseModel
from sqlalchemy import JSON, Float, Integer, String, create_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column
import uvicorn

class Base(DeclarativeBase): pass

class Job(Base):
    __tablename__ = "jobs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant: Mapped[str] = mapped_column(String(63))
    name: Mapped[str] = mapped_column(String(253))
    state: Mapped[str] = mapped_column(String(16))
    spec: Mapped[dict] = mapped_column(JSON)
    submitted_at: Mapped[float] = mapped_column(Float)

class Resources(BaseModel):
    accelerators: int
    cpus: int = 0
    memory: str = "0"

class JobIn(BaseModel):
    name: str
    kind: str
    workers: int
    resources: Resources
    priority: str = "normal"
    runtime_env: dict = {}

engine = create_engine(f"sqlite:///{sys.argv[2]}", connect_args={"check_same_thread": False})
Base.metadata.create_all(engine)
app = FastAPI()

@app.post("/v1/jobs", status_code=201)
def submit(body: JobIn, authorization: str = Header()):
    with Session(engine) as s:
        job = Job(tenant="t", name=body.name, state="pending", spec=body.model_dump(), submitted_at=time.time())
        s.add(job)
        s.commit()
        return {"id": job.id, "name": job.name, "state": job.state}

uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
'''


def serve_naive(workdir: Path, port: int) -> subprocess.Popen[bytes]:
    app = workdir / "naive_app.py"
    app.write_text(NAIVE_APP)
    return subprocess.Popen([sys.executable, str(app), str(port), str(workdir / "naive.db")])


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--skip-naive", action="store_true")
    parser.add_argument("--no-metrics", action="store_true", help="run aicc serve without /metrics")
    parser.add_argument("--smoke", action="store_true", help="a few seconds, to show that it runs")
    args = parser.parse_args()
    warmup = 1 if args.smoke else 2
    if args.smoke:
        args.seconds, args.connections = 1, 4
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    workdir = Path(tempfile.mkdtemp(prefix="aicc-bench-api-"))
    try:
        server = Served(workdir / "aicc", admin_token=ADMIN, executor="sleep", metrics=not args.no_metrics)
        try:
            server.wait_ready()
            base = server.url
            token = str(request(base + "/v1/admin/tenants/large-models/tokens", "POST", {"name": "bench"}, ADMIN)["token"])
            run_wrk(base + "/v1/jobs", token, warmup, args.connections, workdir)
            aicc = run_wrk(base + "/v1/jobs", token, args.seconds, args.connections, workdir, server.pid)
            stored = request(base + "/v1/admin/jobs?limit=1", token=ADMIN)
            assert stored["items"], "no job was stored"
        finally:
            server.stop()
        print(aicc["raw"])
        naive: dict[str, float] = {"rps": 0.0, "p99_ms": 0.0, "cpu_us": 0.0}
        if not args.skip_naive:
            naive_port = free_port()
            nproc = serve_naive(workdir, naive_port)
            try:
                nbase = f"http://127.0.0.1:{naive_port}"
                deadline = time.monotonic() + 60
                while True:
                    try:
                        request(nbase + "/v1/jobs", "POST", JOB, "x")
                        break
                    except Exception:
                        if time.monotonic() > deadline or nproc.poll() is not None:
                            raise SystemExit("naive app did not start") from None
                        time.sleep(0.2)
                run_wrk(nbase + "/v1/jobs", "x", warmup, args.connections, workdir)
                naive = run_wrk(nbase + "/v1/jobs", "x", args.seconds, args.connections, workdir, nproc.pid)
            finally:
                stop(nproc)
            print(naive["raw"])
        result = {"submits_per_s": round(aicc["rps"], 1), "p99_ms": round(aicc["p99_ms"], 2),
                  "p50_ms": round(aicc["p50_ms"], 2), "errors": int(aicc["non_2xx"]),
                  "naive_submits_per_s": round(naive["rps"], 1), "naive_p99_ms": round(naive["p99_ms"], 2),
                  # server CPU per submission: what the machine's load does not change much
                  "server_cpu_us_per_submit": round(aicc["cpu_us"]),
                  "naive_server_cpu_us_per_submit": round(naive["cpu_us"]),
                  "load_average_1m": round(os.getloadavg()[0], 2),
                  "metrics": not args.no_metrics, "connections": args.connections, "duration_s": args.seconds,
                  **server.describe(), "smoke": args.smoke,
                  "target": {"submits_per_s": 1500, "p99_ms": 50}}
        print(json.dumps(result))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
