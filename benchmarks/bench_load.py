"""Sustained mixed load on a real ``aicc serve``: 60 s, 16 connections, 20 tenants, wrk.

The service runs as users run it (``aicc serve --executor sleep``, SQLite, the
scheduling loop placing and finishing what is submitted). Five wrk processes run
at once, one per route, with the 16 connections split between them (submit 4,
get 4, list 3, usage 3, cancel 2); each request of each connection goes out
with the next of the 20 tenants' tokens, to that tenant's own jobs. wrk's
per-process latency percentiles give each route's p50/p99; the overall p99 is
the worst route's (wrk's percentiles cannot be merged exactly). An error is a
socket error, a timeout or any status >= 400.

    python benchmarks/bench_load.py [--duration 60] [--connections 16] [--tenants 20]

Needs wrk (apt-get install wrk). The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import httpx
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from benchmarks.serving import Served

ADMIN = "bench-load-admin-" + os.urandom(16).hex()
#: Connections per route, out of 16; scaled when --connections differs.
SPLIT = {"submit": 4, "get": 4, "list": 3, "usage": 3, "cancel": 2}
GET_JOBS, CANCEL_JOBS = 5, 20  # made per tenant before the run

LUA = r"""
-- One route per wrk process; every request takes the next tenant's token.
local route = "usage"
local tokens = %(tokens)s
local get_ids = %(get_ids)s
local cancel_ids = %(cancel_ids)s
local body = '{"name":"load","kind":"batch","workers":1,"resources":{"accelerators":1,' ..
             '"accelerator_types":["a800"],"cpus":1,"memory":"1Gi"},"runtime_env":{"sleep_s":%(sleep_s)s}}'
local n = 0

function init(args)
  route = args[1] or route
  n = math.random(0, #tokens - 1)
end

function request()
  n = n + 1
  local t = (n %% #tokens) + 1
  local h = {["Authorization"] = "Bearer " .. tokens[t]}
  if route == "submit" then
    h["Content-Type"] = "application/json"
    return wrk.format("POST", "/v1/jobs", h, body)
  elseif route == "list" then
    return wrk.format("GET", "/v1/jobs?limit=20", h)
  elseif route == "get" then
    local ids = get_ids[t]
    return wrk.format("GET", "/v1/jobs/" .. ids[(n %% #ids) + 1], h)
  elseif route == "cancel" then
    local ids = cancel_ids[t]
    return wrk.format("POST", "/v1/jobs/" .. ids[(n %% #ids) + 1] .. "/cancel", h)
  end
  return wrk.format("GET", "/v1/usage", h)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"route":"%%s","requests":%%d,"duration_us":%%d,"connect":%%d,"read":%%d,"write":%%d,' ..
    '"status":%%d,"timeout":%%d,"p50_us":%%d,"p90_us":%%d,"p99_us":%%d,"max_us":%%d,"mean_us":%%.1f}\n',
    route, summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
end
"""


def lua_list(values: list[Any]) -> str:
    return "{" + ", ".join(lua_value(v) for v in values) + "}"


def lua_value(v: Any) -> str:
    return lua_list(v) if isinstance(v, list) else json.dumps(v)


def write_center(path: Path, tenants: int) -> list[str]:
    """64 nodes x 8 a800 (512 devices); each tenant guaranteed 20 devices, limit 100."""
    names = [f"tenant-{i:02d}" for i in range(tenants)]
    path.write_text(yaml.safe_dump({
        "name": "bench-load",
        "accelerators": [{"name": "a800", "vendor_resource": "nvidia.com/gpu", "ray_resource": "GPU",
                          "memory": "80Gi", "tflops": {"fp16": 312}}],
        "pools": [{"name": "a800", "accelerator": "a800", "racks": 8, "nodes_per_rack": 8,
                   "devices_per_node": 8, "cpus_per_node": 128, "memory_per_node": "1Ti"}],
        "priority_classes": {"high": 300, "normal": 200, "low": 100},
        "tenants": [{"name": n, "guaranteed": f"{20 * 0.312:.3f}P", "limit": f"{100 * 0.312:.3f}P"}
                    for n in names],
    }))
    return names


def prepare(base: str, tenants: list[str]) -> tuple[list[str], list[list[str]], list[list[str]]]:
    """A token per tenant, and jobs of its own to get and to cancel."""
    admin = {"Authorization": f"Bearer {ADMIN}"}
    tokens, gets, cancels = [], [], []
    with httpx.Client(base_url=base, timeout=30) as c:
        for t in tenants:
            r = c.post(f"/v1/admin/tenants/{t}/tokens", headers=admin, json={"name": "bench"})
            r.raise_for_status()
            token = r.json()["token"]
            tokens.append(token)
            ids = []
            for i in range(GET_JOBS + CANCEL_JOBS):
                r = c.post("/v1/jobs", headers={"Authorization": f"Bearer {token}"},
                           json={"name": f"seed-{i}", "kind": "batch",
                                 "resources": {"accelerators": 1, "accelerator_types": ["a800"]},
                                 "runtime_env": {"sleep_s": 3600}})
                r.raise_for_status()
                ids.append(r.json()["id"])
            gets.append(ids[:GET_JOBS])
            cancels.append(ids[GET_JOBS:])
    return tokens, gets, cancels


def split(connections: int) -> dict[str, int]:
    total = sum(SPLIT.values())
    out = {r: max(1, round(c * connections / total)) for r, c in SPLIT.items()}
    out["submit"] += connections - sum(out.values())
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=int, default=60, help="seconds of load")
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--tenants", type=int, default=20)
    ap.add_argument("--sleep-s", type=float, default=2.0, help="how long each submitted job runs")
    ap.add_argument("--smoke", action="store_true", help="2 s, 3 tenants: that it runs")
    args = ap.parse_args()
    if args.smoke:
        args.duration, args.tenants, args.connections = 2, 3, len(SPLIT)
    wrk = shutil.which("wrk")
    if wrk is None:
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    data = Path(tempfile.mkdtemp(prefix="aicc-bench-load-"))
    tenants = write_center(data / "center.yaml", args.tenants)
    server = Served(data, admin_token=ADMIN, center=data / "center.yaml", executor="sleep").wait_ready()
    base = server.url
    try:
        tokens, gets, cancels = prepare(base, tenants)
        script = data / "mixed.lua"
        script.write_text(LUA % {"tokens": lua_list(tokens), "get_ids": lua_list(gets),
                                 "cancel_ids": lua_list(cancels), "sleep_s": args.sleep_s})
        conns = split(args.connections)
        procs = {route: subprocess.Popen(
            [wrk, "-t1", f"-c{c}", f"-d{args.duration}s", "--timeout", "10s", "-s", str(script), base,
             "--", route], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            for route, c in conns.items()}
        results: dict[str, dict[str, Any]] = {}
        for route, p in procs.items():
            out, _ = p.communicate(timeout=args.duration + 60)
            line = next((x for x in reversed(out.splitlines()) if x.startswith("{")), None)
            if p.returncode != 0 or line is None:
                raise SystemExit(f"wrk ({route}) failed:\n{out}")
            results[route] = json.loads(line)
        with httpx.Client(base_url=base, timeout=30, headers={"Authorization": f"Bearer {ADMIN}"}) as c:
            ready = c.get("/readyz").status_code
            usage = c.get("/v1/admin/usage").json()["items"]
    finally:
        server.stop()
    log = server.log.read_text(errors="replace")
    server_errors = log.count("Traceback") + log.count("scheduling step failed")
    shutil.rmtree(data, ignore_errors=True)

    total = sum(r["requests"] for r in results.values())
    seconds = max(r["duration_us"] for r in results.values()) / 1e6
    errors = sum(r[k] for r in results.values() for k in ("connect", "read", "write", "status", "timeout"))
    print(f"{'route':8} {'conns':>5} {'requests':>9} {'req/s':>8} {'p50 ms':>8} {'p90 ms':>8} "
          f"{'p99 ms':>8} {'max ms':>8} {'errors':>6}")
    routes = {}
    for route, r in results.items():
        e = sum(r[k] for k in ("connect", "read", "write", "status", "timeout"))
        rps = r["requests"] / (r["duration_us"] / 1e6)
        routes[route] = {"connections": conns[route], "requests": r["requests"], "requests_per_s": round(rps, 1),
                         "p50_ms": round(r["p50_us"] / 1000, 2), "p99_ms": round(r["p99_us"] / 1000, 2),
                         "errors": e}
        print(f"{route:8} {conns[route]:>5} {r['requests']:>9} {rps:>8.1f} {r['p50_us'] / 1000:>8.2f} "
              f"{r['p90_us'] / 1000:>8.2f} {r['p99_us'] / 1000:>8.2f} {r['max_us'] / 1000:>8.2f} {e:>6}")
    running = sum(u["running_jobs"] for u in usage)
    print(f"total {total} requests in {seconds:.1f} s = {total / seconds:.1f} req/s; errors {errors}; "
          f"server errors in its log {server_errors}; /readyz {ready}; jobs running now {running}")
    print(json.dumps({
        "benchmark": "load", "duration_s": round(seconds, 1), "connections": args.connections,
        "tenants": args.tenants, "requests": total, "errors": errors + server_errors + (ready != 200),
        "requests_per_s": round(total / seconds, 1),
        "p50_ms": round(max(r["p50_us"] for r in results.values()) / 1000, 2),
        "p99_ms": round(max(r["p99_us"] for r in results.values()) / 1000, 2),
        "routes": routes, "jobs_running_at_end": running,
        **server.describe(), "smoke": args.smoke,
    }))


if __name__ == "__main__":
    main()
