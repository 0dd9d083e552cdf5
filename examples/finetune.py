"""Fine-tune a "pretrained" classifier on a new task: the body is frozen, only a new head learns.

The pretrained body is a fixed random feature map (seeded, like downloaded
weights); the new task is a labelled set it was not trained on. Each gang
worker computes the head's gradient on its shard of the labels; the driver
averages them. Prints accuracy before and after.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from aicc_gang import Worker, describe, gang_map, on_stop, workers


def body(x: np.ndarray) -> np.ndarray:
    w = np.random.default_rng(1234).normal(size=(16, 64)) / 4  # the frozen pretrained layer
    return np.maximum(x @ w, 0.0)


def task(n: int = 3000) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    x = rng.normal(size=(n, 16))
    y = ((x[:, 0] * x[:, 1] + x[:, 2]) > 0).astype(float)
    return x, y


def head_grad(worker: Worker, w: np.ndarray) -> tuple[float, np.ndarray, int]:
    x, y = task()
    x, y = x[worker.index::worker.count], y[worker.index::worker.count]
    f = body(x)
    p = 1 / (1 + np.exp(-(f @ w)))
    loss = float(-np.mean(y * np.log(p + 1e-9) + (1 - y) * np.log(1 - p + 1e-9)))
    return loss, f.T @ (p - y) / len(y), len(y)


def accuracy(w: np.ndarray) -> float:
    x, y = task()
    return float(np.mean(((body(x) @ w) > 0) == (y > 0.5)))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--lr", type=float, default=0.5)
    ap.add_argument("--step-seconds", type=float, default=0.0)
    args = ap.parse_args()
    print(f"finetune: {describe()}; {len(workers())} workers", flush=True)
    w = np.zeros(64)
    on_stop(lambda: print("finetune: stopped; the adapter so far would be saved here", flush=True))
    before = accuracy(w)
    for epoch in range(1, args.epochs + 1):
        results = gang_map(head_grad, w)
        total = sum(r[2] for r in results)
        g = sum(r[1] * r[2] for r in results) / total
        w = w - args.lr * g
        if epoch % 10 == 0 or epoch == 1:
            loss = sum(r[0] * r[2] for r in results) / total
            print(f"epoch {epoch:3d} loss {loss:.4f}", flush=True)
        if args.step_seconds:
            time.sleep(args.step_seconds)
    print(f"finetune: done, accuracy {before:.3f} -> {accuracy(w):.3f}", flush=True)


if __name__ == "__main__":
    main()
