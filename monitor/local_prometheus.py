"""A local Prometheus with the shipped rules, scraping a given aicc: for ``make run`` and tests.

    proc = start_prometheus("127.0.0.1:8080", port=9090, data_dir=Path("run/prometheus"))
    ...
    stop(proc)

Needs the ``prometheus`` binary (Debian: ``apt-get install prometheus``);
``prometheus_binary()`` says whether it is there. Nothing is downloaded.
"""

from __future__ import annotations

import shutil
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

RULES_DIR = Path(__file__).parent / "rules"
#: The scrape job name the alert rules expect for the service.
JOB = "aicc"


def prometheus_binary() -> str | None:
    return shutil.which("prometheus")


def rule_files() -> list[Path]:
    return sorted(RULES_DIR.glob("*.yaml"))


def write_config(
    path: Path,
    target: str,
    *,
    scrape_interval: str = "5s",
    evaluation_interval: str | None = None,
    metrics_path: str = "/metrics",
    extra_jobs: Mapping[str, Sequence[str]] | None = None,
    rules: Sequence[Path] | None = None,
) -> Path:
    """Write a prometheus.yml scraping ``target`` (host:port) as job "aicc", with the rules.

    ``extra_jobs``: more jobs by name (e.g. a DCGM exporter), each a list of host:port.
    """
    jobs: list[dict[str, Any]] = [{"job_name": JOB, "metrics_path": metrics_path,
                                   "static_configs": [{"targets": [target]}]}]
    for name, targets in (extra_jobs or {}).items():
        jobs.append({"job_name": name, "static_configs": [{"targets": list(targets)}]})
    config = {
        "global": {"scrape_interval": scrape_interval,
                   "evaluation_interval": evaluation_interval or scrape_interval},
        "rule_files": [str(p.resolve()) for p in (rules if rules is not None else rule_files())],
        "scrape_configs": jobs,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def start_prometheus(
    target: str,
    port: int,
    data_dir: Path,
    *,
    scrape_interval: str = "5s",
    evaluation_interval: str | None = None,
    extra_jobs: Mapping[str, Sequence[str]] | None = None,
    host: str = "127.0.0.1",
    log: Path | None = None,
    wait_s: float = 30.0,
) -> subprocess.Popen[bytes]:
    """Start Prometheus on host:port scraping ``target``; returns once it is ready.

    Its config, data and log (unless ``log`` is given) go in ``data_dir``.
    Raises FileNotFoundError without the binary, RuntimeError if it does not get ready.
    """
    binary = prometheus_binary()
    if binary is None:
        raise FileNotFoundError("prometheus is not installed (Debian/Ubuntu: apt-get install prometheus)")
    data_dir.mkdir(parents=True, exist_ok=True)
    config = write_config(data_dir / "prometheus.yml", target, scrape_interval=scrape_interval,
                          evaluation_interval=evaluation_interval, extra_jobs=extra_jobs)
    log_path = log or data_dir / "prometheus.log"
    with open(log_path, "ab") as out:
        proc = subprocess.Popen(
            [binary, f"--config.file={config}", f"--storage.tsdb.path={data_dir / 'tsdb'}",
             f"--web.listen-address={host}:{port}", "--storage.tsdb.retention.time=2d",
             "--web.enable-lifecycle"],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    url = f"http://{host}:{port}"
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"prometheus exited with {proc.returncode}; see {log_path}")
        try:
            with urllib.request.urlopen(f"{url}/-/ready", timeout=1) as r:
                if r.status == 200:
                    return proc
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    stop(proc)
    raise RuntimeError(f"prometheus did not get ready on {url} in {wait_s:.0f}s; see {log_path}")


def maybe_start(target: str, port: int, data_dir: Path,
                **options: Any) -> tuple[subprocess.Popen[bytes] | None, str]:
    """For ``make run``: start it if the binary is there; always a line to print.

    Returns (the process or None, a line saying where to look or why it did not start).
    """
    if prometheus_binary() is None:
        return None, ("Prometheus: not installed, not started (Debian/Ubuntu: apt-get install "
                      "prometheus); the metrics are at http://" + target + "/metrics")
    try:
        proc = start_prometheus(target, port, data_dir, **options)
    except (OSError, RuntimeError) as exc:
        return None, f"Prometheus: did not start: {exc}"
    host = options.get("host", "127.0.0.1")
    return proc, (f"Prometheus: http://{host}:{port} (scraping {target} with the aicc rules; "
                  f"alerts at http://{host}:{port}/alerts)")


def stop(proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
