"""Batch inference: score a dataset with a fixed model, one slice of the batches per gang worker.

Prints per-worker throughput and a summary of the predictions (what an
offline scoring job would write to a table).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from aicc_gang import Worker, describe, gang_map, on_stop, workers


def model() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(42)
    return rng.normal(size=(32, 16)) / 5, rng.normal(size=(16, 1)) / 4


def score(worker: Worker, batches: int, batch_size: int) -> dict[str, float]:
    w1, w2 = model()
    began = time.perf_counter()
    n = 0
    total = 0.0
    positives = 0
    for b in range(worker.index, batches, worker.count):
        x = np.random.default_rng(b).normal(size=(batch_size, 32))
        p = 1 / (1 + np.exp(-(np.tanh(x @ w1) @ w2)))
        n += len(p)
        total += float(p.sum())
        positives += int((p > 0.5).sum())
    seconds = time.perf_counter() - began
    return {"worker": worker.index, "node": worker.node, "rows": n, "sum": total, "positives": positives,
            "rows_per_s": n / seconds if seconds else 0.0}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--batches", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=2048)
    args = ap.parse_args()
    print(f"batch_inference: {describe()}; {len(workers())} workers", flush=True)
    on_stop(lambda: print("batch_inference: stopped; finished batches are kept", flush=True))
    results = gang_map(score, args.batches, args.batch_size)
    for r in results:
        print(f"worker {r['worker']} on {r['node']}: {r['rows']} rows, {r['rows_per_s']:.0f} rows/s", flush=True)
    rows = sum(r["rows"] for r in results)
    print(f"batch_inference: done, {rows} rows scored, mean score {sum(r['sum'] for r in results) / rows:.4f}, "
          f"{sum(r['positives'] for r in results)} positive", flush=True)


if __name__ == "__main__":
    main()
