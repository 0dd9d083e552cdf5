"""The ``aicc-driver`` container's program: run the job's entrypoint once as its cluster's
Ray job, then exit 0 if it succeeded, 1 if not; aicc reads that exit code from the head
pod's status.

Given as source to ``python -c`` in the Ray image (which has Ray, not aicc), reading the
entrypoint, submission id and runtime env from its environment: the entrypoint reaches
Ray verbatim, with no shell quoting on the way. It waits for its head's dashboard, submits
(a driver restarted after submitting follows the job it finds instead of starting it
again), waits for the end and prints the job's output to the container's log. Ray's job
client authenticates with ``RAY_AUTH_TOKEN`` from the environment (``RAY_AUTH_MODE=token``),
which the cluster's Secret gives the container; Ray answers a second submission of one id
"... already exists".
"""

from __future__ import annotations

import json

DASHBOARD = "http://127.0.0.1:8265"

SCRIPT = """\
import json, os, sys, time
from ray.job_submission import JobStatus, JobSubmissionClient

while True:
    try:
        client = JobSubmissionClient(os.environ.get("AICC_DASHBOARD", "@DASHBOARD@"))
        client.list_jobs()
        break
    except Exception:
        time.sleep(1)
job = os.environ["AICC_JOB_ID"]
try:
    client.submit_job(entrypoint=os.environ["AICC_ENTRYPOINT"], submission_id=job,
                      runtime_env=json.loads(os.environ.get("AICC_RUNTIME_ENV") or "{}"))
except Exception as exc:
    if "already exists" not in str(exc):
        raise
ended = {JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.STOPPED}
while (status := client.get_job_status(job)) not in ended:
    time.sleep(2)
print(client.get_job_logs(job), end="", flush=True)
print(f"aicc-driver: job {job} {status}", file=sys.stderr)
sys.exit(0 if status == JobStatus.SUCCEEDED else 1)
""".replace("@DASHBOARD@", DASHBOARD)


def command() -> list[str]:
    return ["python", "-c", SCRIPT]


def environment(job_id: str, entrypoint: str, env_vars: dict[str, str]) -> list[dict[str, str]]:
    """What the program reads: no secret (those come from the cluster's Secret)."""
    return [{"name": "AICC_JOB_ID", "value": job_id},
            {"name": "AICC_ENTRYPOINT", "value": entrypoint},
            {"name": "AICC_RUNTIME_ENV", "value": json.dumps({"env_vars": env_vars}, sort_keys=True)}]
