"""A running job's own credential: it may report its checkpoints, and nothing else.

The executor puts it in the job's environment (``AICC_JOB_TOKEN``, beside
``AICC_JOB_ID`` and ``AICC_URL``). It reads ``aiccjob.<job>.<stamp>.<mac>``:
an HMAC of the job id and of when this attempt was admitted, under a secret
kept in the database (every replica and every restart shares it), so it is
checked without a lookup, and it is short-lived: it names one attempt, and is
refused once that attempt no longer holds devices.
"""

from __future__ import annotations

import hashlib
import hmac

PREFIX = "aiccjob."


def mint(secret: bytes, job_id: str, admitted_at: float) -> str:
    stamp = f"{round(admitted_at * 1000)}"
    return f"{PREFIX}{job_id}.{stamp}.{_mac(secret, job_id, stamp)}"


def read(secret: bytes, token: str) -> tuple[str, float] | None:
    """(job id, admitted at) of a well-formed token with a good MAC, else None."""
    if not token.startswith(PREFIX):
        return None
    job_id, _, rest = token[len(PREFIX):].rpartition(".")
    job_id, _, stamp = job_id.rpartition(".")
    mac = rest
    if not job_id or not stamp.isdigit() or not hmac.compare_digest(mac, _mac(secret, job_id, stamp)):
        return None
    return job_id, int(stamp) / 1000


def same_attempt(a: float | None, b: float) -> bool:
    return a is not None and round(a * 1000) == round(b * 1000)


def _mac(secret: bytes, job_id: str, stamp: str) -> str:
    return hmac.new(secret, f"{job_id}\0{stamp}".encode(), hashlib.sha256).hexdigest()[:32]
