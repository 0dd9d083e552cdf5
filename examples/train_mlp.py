"""Data-parallel training of a small MLP (numpy), one shard per gang worker.

Each step every worker computes the gradient of the mean squared error on its
shard; the driver averages them (an all-reduce by hand) and updates the
weights. Prints the loss as it goes. ``--steps`` and ``--step-seconds`` make it
last as long as a demo needs.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from aicc_gang import Worker, describe, gang_map, on_stop, workers


def make_data(seed: int, n: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 8))
    y = np.sin(x[:, :1]) + 0.5 * x[:, 1:2] ** 2 - x[:, 2:3] + 0.05 * rng.normal(size=(n, 1))
    return x, y


def grad(worker: Worker, params: list[np.ndarray], seed: int) -> tuple[float, list[np.ndarray]]:
    x, y = make_data(seed)
    x, y = x[worker.index::worker.count], y[worker.index::worker.count]  # this worker's shard
    w1, b1, w2, b2 = params
    h = np.tanh(x @ w1 + b1)
    out = h @ w2 + b2
    err = out - y
    loss = float(np.mean(err**2))
    d_out = 2 * err / len(x)
    d_h = (d_out @ w2.T) * (1 - h**2)
    return loss, [x.T @ d_h, d_h.sum(0), h.T @ d_out, d_out.sum(0)]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--lr", type=float, default=0.1)
    ap.add_argument("--hidden", type=int, default=32)
    ap.add_argument("--step-seconds", type=float, default=0.0, help="sleep per step (a longer demo)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    print(f"train_mlp: {describe()}; {len(workers())} workers", flush=True)
    rng = np.random.default_rng(args.seed)
    params = [rng.normal(scale=0.3, size=(8, args.hidden)), np.zeros(args.hidden),
              rng.normal(scale=0.3, size=(args.hidden, 1)), np.zeros(1)]
    step = 0
    on_stop(lambda: print(f"train_mlp: stopped at step {step}; a checkpoint would be saved here", flush=True))
    first = last = 0.0
    for step in range(1, args.steps + 1):
        results = gang_map(grad, params, args.seed)
        loss = float(np.mean([r[0] for r in results]))
        grads = [np.mean([r[1][i] for r in results], axis=0) for i in range(4)]
        params = [p - args.lr * g for p, g in zip(params, grads, strict=True)]
        first = first or loss
        last = loss
        print(f"step {step:3d} loss {loss:.4f}", flush=True)
        if args.step_seconds:
            time.sleep(args.step_seconds)
    print(f"train_mlp: done, loss {first:.4f} -> {last:.4f}", flush=True)


if __name__ == "__main__":
    main()
