"""A tenant's job that looks for what it must not reach, and prints what it found (one JSON line).

Run by test_job_isolation.py as a job's entrypoint:
``python probe_job.py MODE DATA_DIR SHARED_GCS_PORT SHARED_DASHBOARD_PORT SEARCH_ROOT``.
It reports raw findings (environment values, file contents, other processes' environments,
what Ray answered); the test looks for the secrets in them. MODE ``attack`` also tries to
kill every process it can see that is not its own, and to stop every Ray job it can list.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import sys
from pathlib import Path


def try_read(path: Path) -> str:
    try:
        return path.read_bytes()[:4096].decode(errors="replace")
    except OSError as exc:
        return f"<{type(exc).__name__}>"


def reachable(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def main() -> None:
    mode, data_dir, gcs_port, dash_port, search_root = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]), \
        int(sys.argv[4]), Path(sys.argv[5])
    out: dict[str, object] = {"uid": os.getuid(), "env": dict(os.environ)}
    out["data_dir_listing"] = sorted(os.listdir(data_dir)) if data_dir.is_dir() else "<absent>"
    out["files"] = {str(p): try_read(data_dir / p) for p in ("admin-token", "aicc.db")}
    try:
        (data_dir / "pwned").write_text("x")
        out["wrote_data_dir"] = True
    except OSError as exc:
        out["wrote_data_dir"] = type(exc).__name__
    # Other jobs' files and logs, wherever this process can look (not Python's own files; not
    # its own output): those that hold anything like a secret.
    found: dict[str, str] = {}
    own_logs = {os.environ.get("AICC_LOG_FILE", ""), str(Path.cwd().parent / "job.log")}  # shared, isolated
    for root in (search_root, Path("/tmp"), Path("/root"), Path("/home"), Path("/var/tmp")):
        for dirpath, dirs, files in os.walk(root, onerror=lambda _e: None):
            dirs[:] = [d for d in dirs if d not in ("site-packages", ".venv", "lib") and not d.startswith("python3")]
            for name in files:
                p = Path(dirpath) / name
                text = try_read(p)
                if str(p) not in own_logs and any(w in text for w in ("secret", "password", "token")):
                    found[str(p)] = text
    out["files_found"] = found
    # Other processes: their environments and command lines.
    procs: dict[str, dict[str, str]] = {}
    me = os.getpid()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != me:
            procs[entry.name] = {"cmdline": try_read(entry / "cmdline").replace("\0", " "),
                                 "environ": try_read(entry / "environ").replace("\0", "\n")}
    out["procs"] = procs
    # The center's Ray cluster.
    out["shared_gcs_reachable"] = reachable(gcs_port)
    out["shared_dashboard_reachable"] = reachable(dash_port)
    jobs: object = "<unreachable>"
    if out["shared_dashboard_reachable"]:
        try:
            from ray.job_submission import JobSubmissionClient

            client = JobSubmissionClient(f"http://127.0.0.1:{dash_port}")
            listed = client.list_jobs()
            jobs = [j.submission_id for j in listed]
        except Exception as exc:
            jobs = f"<{type(exc).__name__}: {exc}>"[:300]
    out["shared_jobs"] = jobs
    # Its own Ray (isolated: the instance aicc started for this job alone).
    if os.environ.get("RAY_ADDRESS", "").startswith("127.0.0.1:") and mode != "shared":
        import ray

        ray.init(log_to_driver=False)
        out["own_ray_resources"] = ray.cluster_resources()
        out["own_ray_nodes"] = len(ray.nodes())
        ray.shutdown()
    print("PROBE " + json.dumps(out, default=str), flush=True)
    if mode == "attack":  # last: it may end this job's own sandbox too
        parents, pid = {me}, me
        while pid > 1:  # its own ancestors (its shell, aicc's runner) are spared: it reports, then ends
            pid = int(try_read(Path(f"/proc/{pid}/stat")).rsplit(")", 1)[1].split()[1])
            parents.add(pid)
        killed = []
        for pid in procs:
            if int(pid) not in parents:
                with contextlib.suppress(OSError):
                    os.kill(int(pid), signal.SIGKILL)
                    killed.append(pid)
        print("KILLED " + json.dumps(killed), flush=True)


if __name__ == "__main__":
    main()
