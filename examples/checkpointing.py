"""A training loop that checkpoints, resumes, and tells aicc each time it checkpointed.

A job that reports its checkpoints is a cheap preemption victim: aicc stops
the jobs that lose the least work (device-seconds since their last checkpoint,
or since their start, plus the restart cost) first. This one saves its state
every ``--every`` steps (and when it is stopped: SIGTERM starts the grace
period), resumes from the last save on its next attempt, and after each save
calls ``POST $AICC_URL/v1/jobs/$AICC_JOB_ID/checkpoint`` with its own
credential ``$AICC_JOB_TOKEN`` (valid only while this attempt runs). Every
``--poll-s`` it asks ``GET .../checkpoint`` whether it is being preempted (with
``aicc serve --preemption-notice S`` a victim is told S seconds before SIGTERM)
and saves at once if so. An isolated tenant's job has no network: it reports by
touching ``$AICC_CHECKPOINT_FILE`` instead. Outside aicc it only saves.
"""

from __future__ import annotations

import argparse
import os
import pickle
import signal
import time
import urllib.request
from pathlib import Path

import numpy as np


def _call(method: str) -> str | None:
    """``method /v1/jobs/$AICC_JOB_ID/checkpoint`` with the job's credential; None outside aicc."""
    token, url, job = (os.environ.get(k) for k in ("AICC_JOB_TOKEN", "AICC_URL", "AICC_JOB_ID"))
    if not (token and url and job):
        return None
    req = urllib.request.Request(f"{url}/v1/jobs/{job}/checkpoint", method=method,
                                 headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return str(r.read().decode())
    except OSError as exc:  # never let talking to aicc stop the training
        return f"failed: {exc}"


def report_checkpoint() -> str:
    """Tell aicc a checkpoint was taken now; what it answered (or why not). An isolated
    tenant's job has no network: it touches ``$AICC_CHECKPOINT_FILE``, which aicc watches."""
    marker = os.environ.get("AICC_CHECKPOINT_FILE")
    if marker:
        Path(marker).touch()
        return f"reported (touched {marker})"
    return _call("POST") or "not under aicc: not reported"


def stop_requested() -> bool:
    """Whether aicc asks this job to checkpoint now: it is being preempted."""
    answer = _call("GET")
    return bool(answer) and '"stop_requested":true' in answer.replace(" ", "")


def save(path: Path, state: dict) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(pickle.dumps(state))
    tmp.replace(path)  # atomic: a stop mid-write leaves the last good checkpoint
    print(f"checkpoint at step {state['step']}: {report_checkpoint()}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--every", type=int, default=20, help="checkpoint every so many steps")
    ap.add_argument("--step-seconds", type=float, default=0.1)
    ap.add_argument("--poll-s", type=float, default=5.0, help="ask aicc this often whether to checkpoint now")
    ap.add_argument("--dir", default=os.environ.get("AICC_CHECKPOINT_DIR", "/tmp/aicc-checkpoints"))
    args = ap.parse_args()
    path = Path(args.dir) / f"{os.environ.get('AICC_JOB_ID', 'local')}.ckpt"
    path.parent.mkdir(parents=True, exist_ok=True)
    state = pickle.loads(path.read_bytes()) if path.exists() else {"step": 0, "w": np.zeros(8)}
    print(f"checkpointing: attempt {os.environ.get('AICC_ATTEMPT', '-')}, resuming at step {state['step']}",
          flush=True)
    stopping = False

    def on_term(_signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True  # preempted or cancelled: save within the grace period, then leave

    signal.signal(signal.SIGTERM, on_term)
    rng = np.random.default_rng(state["step"])
    asked_at, noticed = time.monotonic(), False
    while state["step"] < args.steps and not stopping:
        if not noticed and time.monotonic() - asked_at >= args.poll_s:
            asked_at = time.monotonic()
            if stop_requested():  # preempted, with notice: save before SIGTERM comes
                noticed = True
                save(path, state)
        state["w"] = state["w"] - 0.01 * (state["w"] - rng.normal(size=8))  # one "training" step
        state["step"] += 1
        time.sleep(args.step_seconds)
        if state["step"] % args.every == 0:
            save(path, state)
    save(path, state)
    print(f"checkpointing: {'stopped' if stopping else 'done'} at step {state['step']}", flush=True)


if __name__ == "__main__":
    main()
