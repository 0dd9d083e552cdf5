"""How long a Prometheus scrape of aicc takes on the 610P center with a long queue.

The scrape reads the engine under the service's lock (a copy of its containers) and
builds the families outside it; both are timed. Prints, last, one JSON line.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import threading
import time

from monitor import Monitor
from scheduler.centerfile import load_center
from scheduler.cli.demo import demo_jobs
from scheduler.core import Policy
from scheduler.engine import Engine, ManualClock
from scheduler.executors.sleep import SleepExecutor
from scheduler.store.memory import MemoryStore


class TimedLock:
    """The service's lock, timing how long a scrape holds it."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.held: list[float] = []
        self._t = 0.0

    def __enter__(self) -> None:
        self.lock.acquire()
        self._t = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        self.held.append(time.perf_counter() - self._t)
        self.lock.release()


def main(jobs: int = 100_000, scrapes: int = 5) -> dict[str, object]:
    cfg = load_center()
    clock = ManualClock(0.0)
    lock = TimedLock()
    monitor = Monitor()
    engine = Engine(cfg.center, MemoryStore(cfg.tenants), SleepExecutor(clock), clock,
                    Policy(priority_classes=cfg.priority_classes), observers=[monitor.observer])
    monitor.attach(engine, lock=lock)  # type: ignore[arg-type]
    random.seed(1)
    for spec in demo_jobs(sorted(cfg.tenants), jobs, seed=1):
        engine.submit(spec)
    engine.step()
    monitor.exposition()  # warm: the decision's pending rows are built once
    times, sizes = [], []
    for _ in range(scrapes):
        t = time.perf_counter()
        body, _ = monitor.exposition()
        times.append(time.perf_counter() - t)
        sizes.append(len(body))
    held = sorted(lock.held[1:])
    return {"bench": "monitor_scrape", "jobs": jobs, "running": len(engine.holding),
            "scrape_s_median": round(statistics.median(times), 4),
            "lock_held_s_median": round(statistics.median(held), 5),
            "exposition_bytes": sizes[-1]}


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=100_000, help="jobs submitted (most wait)")
    ap.add_argument("--smoke", action="store_true", help="1,000 jobs, two scrapes: that it runs")
    args = ap.parse_args()
    figures = main(1_000, 2) if args.smoke else main(args.jobs)
    print(json.dumps({**figures, "executor": "sleep", "store": "memory", "smoke": args.smoke}))
